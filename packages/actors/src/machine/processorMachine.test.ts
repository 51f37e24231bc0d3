import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, waitFor } from "xstate";
import { machineGraph } from "../inspection/machineGraph.js";
import { type GroupChange, processorMachine, type ProcessorMachineInput } from "./processorMachine.js";

interface Life {
  start?: () => Promise<void>;
  drain?: () => Promise<void>;
  bind?: (group: string) => Promise<void>;
}

/** The machine with recording I/O: `calls` lists what it asked for, in order. */
function machineWith(overrides: Life = {}, input: ProcessorMachineInput = {}) {
  const calls: string[] = [];
  const machine = processorMachine.provide({
    actors: {
      start: fromPromise(async () => {
        calls.push("start");
        await overrides.start?.();
      }),
      drain: fromPromise(async () => {
        calls.push("drain");
        await overrides.drain?.();
      }),
      intake: fromCallback(() => {
        calls.push("intake open");
        return () => calls.push("intake closed");
      }),
      joinGroup: fromPromise<void, GroupChange>(async ({ input: change }) => {
        calls.push(`bind ${change.group}`);
        await overrides.bind?.(change.group);
      }),
      leaveGroup: fromPromise<void, GroupChange>(async ({ input: change }) => {
        calls.push(`unbind ${change.group}`);
      }),
    },
  });
  return { calls, actor: createActor(machine, { input }).start() };
}

describe("processorMachine", () => {
  it("starts, runs and stops on quit after draining", async () => {
    const { calls, actor } = machineWith();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "quit" });
    await waitFor(actor, (s) => s.matches("stopped"));
    expect(calls).toEqual(["start", "intake open", "intake closed", "drain"]);
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("restarts in place: drains and starts again", async () => {
    const { calls, actor } = machineWith();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "restart", mode: "actor" });
    await waitFor(actor, (s) => s.matches("running") && calls.length === 6);
    expect(calls).toEqual(["start", "intake open", "intake closed", "drain", "start", "intake open"]);
  });

  it("stops and flags a process restart", async () => {
    const { actor } = machineWith();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "restart", mode: "process" });
    const snapshot = await waitFor(actor, (s) => s.matches("stopped"));
    expect(snapshot.context.restartProcess).toBe(true);
  });

  it("joins and leaves through bind and unbind, one change at a time: the groups change once the broker did", async () => {
    let releaseBind!: () => void;
    const bound = new Promise<void>((resolve) => (releaseBind = resolve));
    const { calls, actor } = machineWith({ bind: async (group) => (group === "b" ? bound : undefined) }, { groups: ["a"] });
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "join_group", group: "b" });
    actor.send({ type: "join_group", group: "b" });
    actor.send({ type: "leave_group", group: "a" });
    expect(actor.getSnapshot().matches({ running: "joining" })).toBe(true);
    expect(actor.getSnapshot().context.groups).toEqual(["a"]);
    releaseBind();
    await waitFor(actor, (s) => s.matches({ running: "settled" }) && s.context.groupChanges.length === 0);
    expect(actor.getSnapshot().context.groups).toEqual(["b"]);
    expect(calls.filter((call) => call.startsWith("bind") || call.startsWith("unbind"))).toEqual(["bind b", "unbind a"]);
  });

  it("keeps joins asked while starting until it runs", async () => {
    let releaseStart!: () => void;
    const started = new Promise<void>((resolve) => (releaseStart = resolve));
    const { calls, actor } = machineWith({ start: () => started });
    actor.send({ type: "join_group", group: "late" });
    expect(actor.getSnapshot().context.groups).toEqual([]);
    releaseStart();
    await waitFor(actor, (s) => s.context.groups.includes("late"));
    expect(calls).toContain("bind late");
  });

  it("honours quit in every state but the final ones", async () => {
    for (const [state, reach] of [
      ["starting", () => undefined],
      ["restarting", (actor: ReturnType<typeof machineWith>["actor"]) => actor.send({ type: "restart", mode: "actor" })],
      ["recovering", (actor: ReturnType<typeof machineWith>["actor"]) => actor.send({ type: "fail", error: "consumer lost" })],
    ] as const) {
      let releaseStart!: () => void;
      let releaseDrain!: () => void;
      const gateStart = new Promise<void>((resolve) => (releaseStart = resolve));
      const gateDrain = new Promise<void>((resolve) => (releaseDrain = resolve));
      let first = true;
      const { actor } = machineWith(
        {
          start: async () => {
            if (state === "starting") await gateStart;
          },
          drain: async () => {
            if (state === "restarting" && first) {
              first = false;
              await gateDrain;
            }
          },
        },
        { supervision: { backoffMs: 60_000, maxBackoffMs: 60_000 } },
      );
      if (state !== "starting") await waitFor(actor, (s) => s.matches("running"));
      reach(actor);
      expect(actor.getSnapshot().value).toBe(state);
      actor.send({ type: "quit" });
      releaseStart();
      releaseDrain();
      const snapshot = await waitFor(actor, (s) => s.status === "done", { timeout: 5_000 });
      expect([state, snapshot.value]).toEqual([state, "stopped"]);
    }
  });

  it("restarts at once when asked while starting or recovering", async () => {
    const { calls, actor } = machineWith({}, { supervision: { backoffMs: 60_000, maxBackoffMs: 60_000 } });
    actor.send({ type: "restart", mode: "actor" });
    await waitFor(actor, (s) => s.matches("running") && calls.filter((c) => c === "start").length === 2);
    actor.send({ type: "fail", error: "consumer lost" });
    expect(actor.getSnapshot().value).toBe("recovering");
    actor.send({ type: "restart", mode: "actor" });
    await waitFor(actor, (s) => s.matches("running") && calls.filter((c) => c === "start").length === 3);
  });

  it("restarts a failing actor with backoff, then stays failed once the budget is spent", async () => {
    let starts = 0;
    const { actor } = machineWith(
      {
        start: async () => {
          starts += 1;
          throw new Error("queue declare refused");
        },
      },
      { supervision: { maxRestarts: 2, backoffMs: 1, maxBackoffMs: 2 } },
    );
    const snapshot = await waitFor(actor, (s) => s.matches("failed"), { timeout: 5_000 });
    expect(starts).toBe(3);
    expect(snapshot.context.lastError).toContain("queue declare refused");
  });

  it("is drawn as a graph of its states and transitions", () => {
    const graph = machineGraph(processorMachine);
    expect(graph.initial).toBe("starting");
    expect(graph.states).toEqual(["starting", "running", "running.settled", "running.joining", "running.leaving", "restarting", "recovering", "stopping", "failing", "stopped", "failed"]);
    expect(graph.finalStates).toEqual(["stopped", "failed"]);
    expect(graph.transitions).toContainEqual({ from: "running", to: "stopping", event: "quit" });
    expect(graph.transitions).toContainEqual({ from: "starting", to: "running", event: "done" });
    expect(graph.transitions).toContainEqual({ from: "recovering", to: "failing", event: "always" });
    expect(graph.transitions).toContainEqual({ from: "restarting", to: "stopping", event: "quit" });
  });
});
