import { describe, expect, it } from "vitest";
import { createActor, waitFor } from "xstate";
import { machineGraph } from "../inspection/machineGraph.js";
import { processorMachine, type ProcessorLifecycle } from "./processorMachine.js";

function lifecycle(overrides: Partial<ProcessorLifecycle> = {}): ProcessorLifecycle & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    start: async () => {
      calls.push("start");
      await overrides.start?.();
    },
    drain: async () => {
      calls.push("drain");
      await overrides.drain?.();
    },
  };
}

describe("processorMachine", () => {
  it("starts, runs and stops on quit after draining", async () => {
    const life = lifecycle();
    const actor = createActor(processorMachine, { input: { lifecycle: life } }).start();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "quit" });
    await waitFor(actor, (s) => s.matches("stopped"));
    expect(life.calls).toEqual(["start", "drain"]);
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("restarts in place: drains and starts again", async () => {
    const life = lifecycle();
    const actor = createActor(processorMachine, { input: { lifecycle: life } }).start();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "restart", mode: "actor" });
    await waitFor(actor, (s) => s.matches("running") && life.calls.length === 3);
    expect(life.calls).toEqual(["start", "drain", "start"]);
  });

  it("stops and flags a process restart", async () => {
    const actor = createActor(processorMachine, { input: { lifecycle: lifecycle() } }).start();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "restart", mode: "process" });
    const snapshot = await waitFor(actor, (s) => s.matches("stopped"));
    expect(snapshot.context.restartProcess).toBe(true);
  });

  it("keeps the groups joined and left", async () => {
    const actor = createActor(processorMachine, { input: { lifecycle: lifecycle(), groups: ["a"] } }).start();
    actor.send({ type: "join_group", group: "b" });
    actor.send({ type: "join_group", group: "b" });
    actor.send({ type: "leave_group", group: "a" });
    expect(actor.getSnapshot().context.groups).toEqual(["b"]);
  });

  it("restarts a failing actor with backoff, then stays failed once the budget is spent", async () => {
    let starts = 0;
    const life = lifecycle({
      start: async () => {
        starts += 1;
        throw new Error("queue declare refused");
      },
    });
    const actor = createActor(processorMachine, {
      input: { lifecycle: life, supervision: { maxRestarts: 2, backoffMs: 1, maxBackoffMs: 2 } },
    }).start();
    const snapshot = await waitFor(actor, (s) => s.matches("failed"), { timeout: 5_000 });
    expect(starts).toBe(3);
    expect(snapshot.context.lastError).toContain("queue declare refused");
  });

  it("is drawn as a graph of its states and transitions", () => {
    const graph = machineGraph(processorMachine);
    expect(graph.initial).toBe("starting");
    expect(graph.states).toEqual(["starting", "running", "restarting", "recovering", "stopping", "stopped", "failed"]);
    expect(graph.finalStates).toEqual(["stopped", "failed"]);
    expect(graph.transitions).toContainEqual({ from: "running", to: "stopping", event: "quit" });
    expect(graph.transitions).toContainEqual({ from: "starting", to: "running", event: "done" });
    expect(graph.transitions).toContainEqual({ from: "recovering", to: "failed", event: "always" });
  });
});
