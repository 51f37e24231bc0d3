import { describe, expect, it } from "vitest";
import { runConcurrently, timeCalls } from "./runConcurrently.js";

describe("runConcurrently", () => {
  it("runs every index once and never more than the limit at a time", async () => {
    const seen: number[] = [];
    let running = 0;
    let peak = 0;
    await runConcurrently(50, 4, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      seen.push(i);
      running--;
    });
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(peak).toBe(4);
  });

  it("rejects with the first error and stops starting tasks", async () => {
    let started = 0;
    const run = runConcurrently(100, 2, async (i) => {
      started++;
      await new Promise((r) => setImmediate(r));
      if (i === 3) throw new Error("boom");
    });
    await expect(run).rejects.toThrow("boom");
    expect(started).toBeLessThan(100);
  });
});

describe("timeCalls", () => {
  it("records one latency per call", async () => {
    const result = await timeCalls(10, 3, () => new Promise((r) => setImmediate(r)));
    expect(result.count).toBe(10);
    expect(result.latenciesMs).toHaveLength(10);
    expect(result.latenciesMs.every((ms) => ms >= 0)).toBe(true);
  });
});
