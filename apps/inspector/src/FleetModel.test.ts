import { describe, expect, it } from "vitest";
import type { ActorAnnouncedEvent, ActorMessageEvent, MachineGraph } from "@postage/actors";
import { FleetModel } from "./FleetModel.js";

const machine: MachineGraph = {
  id: "generic-application",
  initial: "starting",
  states: ["starting", "running", "stopping", "stopped"],
  finalStates: ["stopped"],
  transitions: [
    { from: "starting", to: "running", event: "started" },
    { from: "running", to: "stopping", event: "quit" },
    { from: "stopping", to: "stopped", event: "drained" },
  ],
};

function announce(actorId: string, overrides: Partial<ActorAnnouncedEvent> = {}): ActorAnnouncedEvent {
  return {
    kind: "actor",
    actorId,
    at: 0,
    fingerprint: { name: `app-${actorId}`, type: "application", pid: "42", host: "box", user: "me", vhost: "/", instance: actorId },
    actorType: "application",
    machine,
    state: "running",
    groups: [],
    bindings: [["generic-application-exchange", `q-${actorId}`, `app-${actorId}`]],
    counters: { received: 1, handled: 1, rejected: 0, unhandled: 0, invalid: 0, sent: 0 },
    heartbeatMs: 1000,
    ...overrides,
  };
}

function message(actorId: string, routingKey: string, overrides: Partial<ActorMessageEvent> = {}): ActorMessageEvent {
  return {
    kind: "message",
    actorId,
    at: 0,
    direction: "received",
    messageType: "command",
    name: "ping",
    category: "message",
    exchange: "generic-application-exchange",
    routingKey,
    ...overrides,
  };
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe("FleetModel", () => {
  it("builds a component from its announce", () => {
    const fleet = new FleetModel();
    const changes = fleet.apply(announce("a1", { groups: ["blue"] }));
    expect(changes).toHaveLength(1);
    const component = fleet.component("a1");
    expect(component?.fingerprint?.name).toBe("app-a1");
    expect(component?.actorType).toBe("application");
    expect(component?.state).toBe("running");
    expect(component?.status).toBe("live");
    expect(component?.groups).toEqual(["blue"]);
    expect(component?.bindings).toEqual([["generic-application-exchange", "q-a1", "app-a1"]]);
    expect(component?.counters.handled).toBe(1);
    expect(component?.machine?.id).toBe("generic-application");
  });

  it("a later announce replaces groups, bindings and counters", () => {
    const fleet = new FleetModel();
    fleet.apply(announce("a1"));
    fleet.apply(announce("a1", { groups: ["blue", "green"], counters: { received: 9, handled: 7, rejected: 2, unhandled: 0, invalid: 0, sent: 3 } }));
    const component = fleet.component("a1");
    expect(component?.groups).toEqual(["blue", "green"]);
    expect(component?.counters).toMatchObject({ handled: 7, rejected: 2 });
  });

  it("records transitions, keeps only the last N, and follows the state", () => {
    const fleet = new FleetModel({ maxTransitions: 2 });
    fleet.apply(announce("a1", { state: "starting" }));
    fleet.apply({ kind: "transition", actorId: "a1", at: 1, event: "started", from: "starting", to: "running" });
    fleet.apply({ kind: "transition", actorId: "a1", at: 2, event: "join_group", from: "running", to: "running" });
    fleet.apply({ kind: "transition", actorId: "a1", at: 3, event: "quit", from: "running", to: "stopping" });
    const component = fleet.component("a1");
    expect(component?.state).toBe("stopping");
    expect(component?.status).toBe("live");
    expect(component?.transitions.map((t) => t.event)).toEqual(["join_group", "quit"]);
  });

  it("follows a component's behaviour machine apart from its lifecycle", () => {
    const fleet = new FleetModel();
    const order: MachineGraph = { id: "order", initial: "pending", states: ["pending", "paid", "cancelled"], finalStates: ["cancelled"], transitions: [] };
    fleet.apply(announce("a1", { behaviour: { machine: order, state: "pending", active: ["pending"] } }));
    fleet.apply({ kind: "transition", actorId: "a1", at: 1, event: "pay", from: "pending", to: "paid", machine: "behaviour", active: ["paid"] });
    fleet.apply({ kind: "transition", actorId: "a1", at: 2, event: "cancel", from: "paid", to: "cancelled", machine: "behaviour", active: ["cancelled"] });
    const component = fleet.component("a1");
    expect(component?.behaviour).toMatchObject({ state: "cancelled", active: ["cancelled"] });
    expect(component?.behaviour?.transitions.map((t) => [t.event, t.from, t.to])).toEqual([
      ["pay", "pending", "paid"],
      ["cancel", "paid", "cancelled"],
    ]);
    // The behaviour's final state is not the component's end: the lifecycle still runs.
    expect(component?.state).toBe("running");
    expect(component?.status).toBe("live");
    expect(component?.transitions).toEqual([]);
    // A heartbeat announce keeps the behaviour transitions seen so far.
    fleet.apply(announce("a1", { behaviour: { machine: order, state: "cancelled", active: ["cancelled"] } }));
    expect(fleet.component("a1")?.behaviour?.transitions).toHaveLength(2);
  });

  it("marks a component stopped on a stopped event, and keeps it", () => {
    const fleet = new FleetModel();
    fleet.apply(announce("a1"));
    fleet.apply(announce("a2"));
    const [change] = fleet.apply({ kind: "stopped", actorId: "a1", at: 5, state: "stopped" });
    expect(change).toMatchObject({ type: "component", component: { actorId: "a1", status: "stopped", state: "stopped" } });
    expect(fleet.components().map((c) => [c.actorId, c.status])).toEqual([
      ["a1", "stopped"],
      ["a2", "live"],
    ]);
  });

  it("marks a component stopped when it reaches a final state", () => {
    const fleet = new FleetModel();
    fleet.apply(announce("a1"));
    fleet.apply({ kind: "transition", actorId: "a1", at: 1, event: "drained", from: "stopping", to: "stopped" });
    expect(fleet.component("a1")?.status).toBe("stopped");
  });

  it("marks a component vanished after 3 silent heartbeats, and revives it when it speaks again", () => {
    const time = clock();
    const fleet = new FleetModel({ now: time.now });
    fleet.apply(announce("a1", { heartbeatMs: 1000 }));
    fleet.apply(announce("a2", { heartbeatMs: 10_000 }));
    time.advance(3000);
    expect(fleet.tick()).toEqual([]);
    time.advance(1);
    const changes = fleet.tick();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ type: "component", component: { actorId: "a1", status: "vanished", endedAt: time.now() } });
    expect(fleet.component("a2")?.status).toBe("live");
    // Reported once, not on every tick.
    expect(fleet.tick()).toEqual([]);

    fleet.apply(announce("a1"));
    expect(fleet.component("a1")).toMatchObject({ status: "live", endedAt: undefined });
  });

  it("does not mark stopped components vanished", () => {
    const time = clock();
    const fleet = new FleetModel({ now: time.now });
    fleet.apply(announce("a1"));
    fleet.apply({ kind: "stopped", actorId: "a1", at: 0, state: "stopped" });
    time.advance(60_000);
    expect(fleet.tick()).toEqual([]);
    expect(fleet.component("a1")?.status).toBe("stopped");
  });

  it("creates a placeholder for an actor heard of before its announce", () => {
    const fleet = new FleetModel({ defaultHeartbeatMs: 2000 });
    fleet.apply({ kind: "transition", actorId: "x", at: 1, event: "started", from: "starting", to: "running" });
    const component = fleet.component("x");
    expect(component).toMatchObject({ actorId: "x", fingerprint: undefined, state: "running", heartbeatMs: 2000, status: "live" });
  });

  it("keeps a bounded message log, filterable by component and routing key", () => {
    const fleet = new FleetModel({ maxMessages: 3 });
    fleet.apply(announce("a1"));
    fleet.apply(message("a1", "alpha"));
    fleet.apply(message("a2", "beta/rr"));
    fleet.apply(message("a1", "Alpha#blue"));
    fleet.apply(message("a1", "gamma", { direction: "rejected", reason: "no handler" }));
    const all = fleet.messages();
    expect(all.map((m) => m.routingKey)).toEqual(["beta/rr", "Alpha#blue", "gamma"]);
    expect(all.map((m) => m.seq)).toEqual([2, 3, 4]);
    expect(all[2]?.reason).toBe("no handler");
    expect(fleet.messages({ actorId: "a1" }).map((m) => m.routingKey)).toEqual(["Alpha#blue", "gamma"]);
    expect(fleet.messages({ routingKey: "ALPHA" }).map((m) => m.routingKey)).toEqual(["Alpha#blue"]);
    expect(fleet.messages({ limit: 1 }).map((m) => m.routingKey)).toEqual(["gamma"]);
  });

  it("counts message events between announces; the next announce is authoritative", () => {
    const fleet = new FleetModel();
    fleet.apply(announce("a1", { counters: { received: 1, handled: 1, rejected: 0, unhandled: 0, invalid: 0, sent: 0 } }));
    fleet.apply(message("a1", "k", { direction: "received" }));
    fleet.apply(message("a1", "k", { direction: "rejected" }));
    fleet.apply(message("a1", "k", { direction: "received" }));
    fleet.apply(message("a1", "k", { direction: "acked" }));
    fleet.apply(message("a1", "k", { direction: "sent" }));
    expect(fleet.component("a1")?.counters).toEqual({ received: 3, handled: 2, rejected: 1, unhandled: 0, invalid: 0, sent: 1 });
    fleet.apply(announce("a1", { counters: { received: 10, handled: 8, rejected: 2, unhandled: 0, invalid: 0, sent: 4 } }));
    expect(fleet.component("a1")?.counters).toEqual({ received: 10, handled: 8, rejected: 2, unhandled: 0, invalid: 0, sent: 4 });
  });

  it("returns a message change for each message event", () => {
    const fleet = new FleetModel();
    const changes = fleet.apply(message("a1", "k"));
    expect(changes.map((c) => c.type)).toEqual(["component", "message"]);
  });

  it("hands out copies: callers cannot change the model", () => {
    const fleet = new FleetModel();
    fleet.apply(announce("a1", { groups: ["blue"] }));
    const copy = fleet.component("a1");
    copy?.groups.push("red");
    expect(fleet.component("a1")?.groups).toEqual(["blue"]);
  });

  it("forgets the oldest ended components beyond maxEnded", () => {
    const time = clock();
    const fleet = new FleetModel({ now: time.now, maxEnded: 1 });
    fleet.apply(announce("a1"));
    fleet.apply(announce("a2"));
    fleet.apply({ kind: "stopped", actorId: "a1", at: 0, state: "stopped" });
    time.advance(10);
    const changes = fleet.apply({ kind: "stopped", actorId: "a2", at: 0, state: "stopped" });
    expect(changes).toContainEqual({ type: "forgotten", actorId: "a1" });
    expect(fleet.components().map((c) => c.actorId)).toEqual(["a2"]);
  });

  it("snapshot carries components and messages at the model's clock", () => {
    const time = clock(500);
    const fleet = new FleetModel({ now: time.now });
    fleet.apply(announce("b"));
    fleet.apply(announce("a"));
    fleet.apply(message("a", "k"));
    const snapshot = fleet.snapshot();
    expect(snapshot.at).toBe(500);
    expect(snapshot.components.map((c) => c.actorId)).toEqual(["a", "b"]);
    expect(snapshot.messages).toHaveLength(1);
  });
});
