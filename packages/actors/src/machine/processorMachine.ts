import { assign, fromCallback, fromPromise, setup } from "xstate";
import { ActorError } from "../errors.js";

/** Supervision limits: how often a failing actor is restarted before it stays failed. */
export interface SupervisionOptions {
  /** Restarts allowed within {@link windowMs}. @default 5 */
  maxRestarts?: number;
  /** @default 60_000 */
  windowMs?: number;
  /** First backoff before a restart; doubles each time. @default 200 */
  backoffMs?: number;
  /** @default 5_000 */
  maxBackoffMs?: number;
}

/** A change of groups asked for and not applied at the broker yet. */
export interface GroupChange {
  kind: "join" | "leave";
  group: string;
}

/** The machine's context: groups joined (as bound at the broker), changes pending, restart history, the last failure. */
export interface ProcessorMachineContext {
  supervision: Required<SupervisionOptions>;
  /** Groups whose bindings are in place (what the broker has, not what was asked). */
  groups: string[];
  /** Joins and leaves asked for, applied one at a time, in order, while running. */
  groupChanges: GroupChange[];
  /** Times (ms) of recent supervised restarts, within the window. */
  restarts: number[];
  lastError: string | undefined;
  /** Whether the process should be replaced once stopped (a `restart` command in process mode). */
  restartProcess: boolean;
}

/** Events a processor's machine understands. */
export type ProcessorMachineEvent =
  | { type: "quit" }
  | { type: "restart"; mode: "actor" | "process" }
  | { type: "join_group"; group: string }
  | { type: "leave_group"; group: string }
  | { type: "fail"; error: string }
  | { type: "shutdown" };

/** Input of {@link processorMachine}. */
export interface ProcessorMachineInput {
  supervision?: SupervisionOptions;
  groups?: string[];
}

/** What the `start` actor gets: the groups to bind from the start. */
export interface StartInput {
  groups: readonly string[];
}

/** What the `drain` actor gets: whether the actor stops for good (`stopping`) or starts again (`restarting`). */
export interface DrainInput {
  final: boolean;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function notProvided(name: string): never {
  throw new ActorError("NOT_RUNNING", `the lifecycle machine's "${name}" actor was not provided (machine.provide({ actors: { ${name} } }))`);
}

/** The groups once every pending change is applied: what joins and leaves are checked against. */
function effectiveGroups(context: ProcessorMachineContext): Set<string> {
  const groups = new Set(context.groups);
  for (const change of context.groupChanges) {
    if (change.kind === "join") groups.add(change.group);
    else groups.delete(change.group);
  }
  return groups;
}

/** A state applying the first pending group change with `src`; the context follows only once it succeeded. */
function changeGroups<const S extends "joinGroup" | "leaveGroup", const A extends "applyJoin" | "applyLeave">(src: S, apply: A) {
  return {
    invoke: {
      src,
      input: ({ context }: { context: ProcessorMachineContext }) => context.groupChanges[0] as GroupChange,
      onDone: { target: "settled", actions: apply },
      onError: { target: "settled", actions: "dropChange" as const },
    },
  } as const;
}

/**
 * The lifecycle of a message processor or application as an XState v5 machine:
 * `starting -> running -> stopping -> stopped`, with `restarting` (in place, or before the process
 * is replaced), `recovering` (a failure outside a handler, a consumer that died: restart after a
 * backoff) and `failing` / `failed` (the restart budget is spent: what is left is closed, then the
 * actor stays visibly failed).
 *
 * The machine owns intake and membership; the I/O comes in through `machine.provide({ actors })`:
 *
 * | actor | invoked | does |
 * |---|---|---|
 * | `start` | in `starting` | declares queues and bindings (those of `context.groups` included) and consumes |
 * | `intake` | while `running` | lets the scheduler hand the actor its deliveries and timers, one at a time; stopped when the actor leaves `running` |
 * | `joinGroup` / `leaveGroup` | in `running.joining` / `running.leaving` | binds / unbinds one group; `context.groups` changes only once the broker did |
 * | `drain` | in `restarting` and `stopping` | cancels the consumer, gives back the mailbox, awaits the handler in progress, closes |
 * | `behaviour` | for the machine's whole life, id `"behaviour"` | nothing by default: the slot where a component's own machine runs as a child (kept across in-place restarts) |
 *
 * `quit` and `shutdown` are honoured in every state but the final ones; a `restart` in `starting`
 * or `recovering` restarts at once. Joins and leaves asked for while not running wait in
 * `context.groupChanges` and are applied once running.
 */
export const processorMachine = setup({
  types: {
    context: {} as ProcessorMachineContext,
    events: {} as ProcessorMachineEvent,
    input: {} as ProcessorMachineInput,
  },
  actors: {
    start: fromPromise<void, StartInput>(async () => notProvided("start")),
    drain: fromPromise<void, DrainInput>(async () => notProvided("drain")),
    intake: fromCallback(() => notProvided("intake")),
    joinGroup: fromPromise<void, GroupChange>(async () => notProvided("joinGroup")),
    leaveGroup: fromPromise<void, GroupChange>(async () => notProvided("leaveGroup")),
    // No behaviour unless a component provides one.
    behaviour: fromCallback(() => undefined),
  },
  guards: {
    restartBudgetSpent: ({ context }) => context.restarts.length > context.supervision.maxRestarts,
    nextIsJoin: ({ context }) => context.groupChanges[0]?.kind === "join",
    nextIsLeave: ({ context }) => context.groupChanges[0]?.kind === "leave",
    processMode: ({ event }) => event.type === "restart" && event.mode === "process",
  },
  delays: {
    backoff: ({ context }) =>
      Math.min(context.supervision.backoffMs * 2 ** Math.max(0, context.restarts.length - 1), context.supervision.maxBackoffMs),
  },
  actions: {
    recordFailure: assign(({ context, event }) => {
      const now = Date.now();
      const error = event.type === "fail" ? event.error : describe((event as { error?: unknown }).error);
      return {
        lastError: error,
        restarts: [...context.restarts.filter((at) => now - at < context.supervision.windowMs), now],
      };
    }),
    flagProcessRestart: assign({ restartProcess: true }),
    askJoin: assign(({ context, event }) => {
      const group = (event as { group: string }).group;
      return effectiveGroups(context).has(group) ? {} : { groupChanges: [...context.groupChanges, { kind: "join" as const, group }] };
    }),
    askLeave: assign(({ context, event }) => {
      const group = (event as { group: string }).group;
      return effectiveGroups(context).has(group) ? { groupChanges: [...context.groupChanges, { kind: "leave" as const, group }] } : {};
    }),
    applyJoin: assign(({ context }) => {
      const [change, ...rest] = context.groupChanges;
      return { groups: change && !context.groups.includes(change.group) ? [...context.groups, change.group] : context.groups, groupChanges: rest };
    }),
    applyLeave: assign(({ context }) => {
      const [change, ...rest] = context.groupChanges;
      return { groups: context.groups.filter((group) => group !== change?.group), groupChanges: rest };
    }),
    dropChange: assign(({ context, event }) => ({
      groupChanges: context.groupChanges.slice(1),
      lastError: `group change failed: ${describe((event as { error?: unknown }).error)}`,
    })),
  },
}).createMachine({
  id: "postage-actor",
  initial: "starting",
  context: ({ input }) => ({
    supervision: {
      maxRestarts: input.supervision?.maxRestarts ?? 5,
      windowMs: input.supervision?.windowMs ?? 60_000,
      backoffMs: input.supervision?.backoffMs ?? 200,
      maxBackoffMs: input.supervision?.maxBackoffMs ?? 5_000,
    },
    groups: [...(input.groups ?? [])],
    groupChanges: [],
    restarts: [],
    lastError: undefined,
    restartProcess: false,
  }),
  invoke: { id: "behaviour", src: "behaviour" },
  on: {
    join_group: { actions: "askJoin" },
    leave_group: { actions: "askLeave" },
  },
  states: {
    starting: {
      invoke: {
        src: "start",
        input: ({ context }) => ({ groups: context.groups }),
        onDone: "running",
        onError: { target: "recovering", actions: "recordFailure" },
      },
      on: {
        quit: "stopping",
        shutdown: "stopping",
        // The start in flight is awaited by the drain, then the actor starts again.
        restart: [{ guard: "processMode", target: "stopping", actions: "flagProcessRestart" }, { target: "restarting" }],
        fail: { target: "recovering", actions: "recordFailure" },
      },
    },
    running: {
      invoke: { id: "intake", src: "intake" },
      initial: "settled",
      states: {
        settled: {
          always: [
            { guard: "nextIsJoin", target: "joining" },
            { guard: "nextIsLeave", target: "leaving" },
          ],
        },
        joining: changeGroups("joinGroup", "applyJoin"),
        leaving: changeGroups("leaveGroup", "applyLeave"),
      },
      on: {
        quit: "stopping",
        shutdown: "stopping",
        restart: [{ guard: "processMode", target: "stopping", actions: "flagProcessRestart" }, { target: "restarting" }],
        fail: { target: "recovering", actions: "recordFailure" },
      },
    },
    restarting: {
      invoke: {
        src: "drain",
        input: { final: false },
        onDone: "starting",
        onError: { target: "recovering", actions: "recordFailure" },
      },
      on: {
        // The drain under way is the same one (drains are idempotent): stopping awaits it, then stops.
        quit: "stopping",
        shutdown: "stopping",
        restart: { guard: "processMode", target: "stopping", actions: "flagProcessRestart" },
      },
    },
    recovering: {
      always: { guard: "restartBudgetSpent", target: "failing" },
      after: { backoff: "restarting" },
      on: {
        quit: "stopping",
        shutdown: "stopping",
        restart: [{ guard: "processMode", target: "stopping", actions: "flagProcessRestart" }, { target: "restarting" }],
      },
    },
    stopping: {
      invoke: {
        src: "drain",
        input: { final: true },
        onDone: "stopped",
        onError: { target: "stopped", actions: "recordFailure" },
      },
    },
    failing: {
      // The budget is spent: close whatever is left (a consumer that died while running), then stay failed.
      invoke: { src: "drain", input: { final: true }, onDone: "failed", onError: "failed" },
    },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
});

/** The processor lifecycle machine's type. */
export type ProcessorMachine = typeof processorMachine;
