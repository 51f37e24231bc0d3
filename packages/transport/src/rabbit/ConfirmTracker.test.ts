import { afterEach, describe, expect, it, vi } from "vitest";
import { type AwaitedConfirm, ConfirmTracker } from "./ConfirmTracker.js";

interface Probe extends AwaitedConfirm {
  readonly name: string;
  outcome: string | undefined;
}

function probe(name: string, deadline = Number.POSITIVE_INFINITY): Probe {
  const p: Probe = {
    name,
    deadline,
    outcome: undefined,
    confirmed: () => {
      if (p.outcome !== undefined) throw new Error(`${name} settled twice`);
      p.outcome = "ack";
    },
    failed: (error: Error) => {
      if (p.outcome !== undefined) throw new Error(`${name} settled twice`);
      p.outcome = `fail: ${error.message}`;
    },
  };
  return p;
}

const expired = (): Error => new Error("expired");
const nack = (): Error => new Error("nack");

function track(count: number, tracker = new ConfirmTracker(expired)): { tracker: ConfirmTracker; probes: Probe[] } {
  const probes = Array.from({ length: count }, (_, i) => probe(`p${i + 1}`));
  for (const p of probes) tracker.add(p);
  return { tracker, probes };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("ConfirmTracker", () => {
  it("settles single acks by delivery tag, in any order", () => {
    const { tracker, probes } = track(4);
    tracker.ack(3, false);
    tracker.ack(1, false);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", undefined, "ack", undefined]);
    expect(tracker.size).toBe(2);
    tracker.nack(2, false, nack);
    tracker.ack(4, false);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", "fail: nack", "ack", "ack"]);
    expect(tracker.size).toBe(0);
  });

  it("settles everything up to the tag with one multiple ack, and all with tag 0", () => {
    const { tracker, probes } = track(6);
    tracker.ack(2, false);
    tracker.ack(4, true);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", "ack", "ack", "ack", undefined, undefined]);
    tracker.nack(0, true, nack);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", "ack", "ack", "ack", "fail: nack", "fail: nack"]);
  });

  it("ignores acks for unknown or already settled tags", () => {
    const { tracker, probes } = track(2);
    tracker.ack(1, false);
    tracker.ack(1, false);
    tracker.ack(9, false);
    tracker.ack(0, false);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", undefined]);
    tracker.ack(9, true);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", "ack"]);
  });

  it("keeps counting tags across many publishes (its array is compacted on the way)", () => {
    const tracker = new ConfirmTracker(expired);
    const all: Probe[] = [];
    let tag = 0;
    for (let round = 0; round < 50; round += 1) {
      const batch = Array.from({ length: 97 }, (_, i) => probe(`r${round}-${i}`));
      for (const p of batch) tracker.add(p);
      all.push(...batch);
      tag += batch.length;
      // Single acks that leave one behind in each round: the head cannot move past the first until the end.
      for (let t = tag - batch.length + 1; t <= tag; t += 1) if (t !== tag - 1) tracker.ack(t, false);
    }
    expect(tracker.size).toBe(50);
    expect(all.filter((p) => p.outcome === undefined).map((p) => p.name)).toEqual(Array.from({ length: 50 }, (_, r) => `r${r}-95`));
    tracker.ack(tag, true);
    expect(all.every((p) => p.outcome === "ack")).toBe(true);
    // Tags still line up after the compactions.
    const next = probe("next");
    tracker.add(next);
    tracker.ack(tag + 1, false);
    expect(next.outcome).toBe("ack");
  });

  it("finds the right publish by tag after dropping settled slots from the front", () => {
    const { tracker, probes } = track(3000);
    for (let t = 1; t <= 2000; t += 1) tracker.ack(t, false);
    tracker.ack(2500, false);
    expect(probes[2499]?.outcome).toBe("ack");
    expect(probes.filter((p) => p.outcome === "ack").length).toBe(2001);
    tracker.nack(2600, true, nack);
    expect(probes.slice(2000, 2600).every((p) => p.outcome !== undefined)).toBe(true);
    expect(probes[2600]?.outcome).toBeUndefined();
    expect(probes[2599]?.outcome).toBe("fail: nack");
    tracker.ack(3000, true);
    expect(tracker.size).toBe(0);
  });

  it("take() removes the first waiting publish that matches", () => {
    const { tracker, probes } = track(3);
    const taken = tracker.take((p) => (p as Probe).name === "p2");
    expect(taken).toBe(probes[1]);
    expect(tracker.take(() => false)).toBeUndefined();
    tracker.ack(3, true);
    expect(probes.map((p) => p.outcome)).toEqual(["ack", undefined, "ack"]);
  });

  it("failAll() fails what waits and every later add", () => {
    const { tracker, probes } = track(2);
    tracker.ack(1, false);
    tracker.failAll(() => new Error("channel is closed"));
    const late = probe("late");
    tracker.add(late);
    expect([...probes.map((p) => p.outcome), late.outcome]).toEqual(["ack", "fail: channel is closed", "fail: channel is closed"]);
    expect(tracker.size).toBe(0);
  });

  it("fails publishes past their deadline with one timer, leaving the others waiting", () => {
    vi.useFakeTimers();
    const tracker = new ConfirmTracker(expired);
    const now = Date.now();
    const soon = probe("soon", now + 150);
    const never = probe("never");
    const later = probe("later", now + 10_000);
    tracker.add(soon);
    tracker.add(never);
    tracker.add(later);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(300);
    expect([soon.outcome, never.outcome, later.outcome]).toEqual(["fail: expired", undefined, undefined]);
    // A late ack for the expired one changes nothing.
    tracker.ack(1, false);
    tracker.ack(3, true);
    expect([soon.outcome, never.outcome, later.outcome]).toEqual(["fail: expired", "ack", "ack"]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
