import { assign, fromPromise, setup } from "xstate";

/**
 * What the lifecycle machine asks of the processor it drives. The machine decides *when*;
 * these functions do the I/O.
 */
export interface ProcessorLifecycle {
  /** Declares queues and bindings and starts consuming. */
  start(): Promise<void>;
  /** Stops consuming: prefetched unstarted messages go back to the queue, the one in progress finishes. */
  drain(): Promise<void>;
}

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

/** The machine's context: groups joined, restart history, the last failure. */
export interface ProcessorMachineContext {
  lifecycle: ProcessorLifecycle;
  supervision: Required<SupervisionOptions>;
  groups: string[];
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
  lifecycle: ProcessorLifecycle;
  supervision?: SupervisionOptions;
  groups?: string[];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The lifecycle of a message processor or application as an XState v5 machine:
 * `starting -> running -> stopping -> stopped`, with `restarting` (in place, or before the process
 * is replaced), `recovering` (a failure outside a handler: restart after a backoff) and `failed`
 * (the restart budget is spent; the actor stays visibly failed).
 */
export const processorMachine = setup({
  types: {
    context: {} as ProcessorMachineContext,
    events: {} as ProcessorMachineEvent,
    input: {} as ProcessorMachineInput,
  },
  actors: {
    start: fromPromise<void, ProcessorLifecycle>(({ input }) => input.start()),
    drain: fromPromise<void, ProcessorLifecycle>(({ input }) => input.drain()),
  },
  guards: {
    restartBudgetSpent: ({ context }) => context.restarts.length > context.supervision.maxRestarts,
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
  },
}).createMachine({
  id: "postage-actor",
  initial: "starting",
  context: ({ input }) => ({
    lifecycle: input.lifecycle,
    supervision: {
      maxRestarts: input.supervision?.maxRestarts ?? 5,
      windowMs: input.supervision?.windowMs ?? 60_000,
      backoffMs: input.supervision?.backoffMs ?? 200,
      maxBackoffMs: input.supervision?.maxBackoffMs ?? 5_000,
    },
    groups: input.groups ?? [],
    restarts: [],
    lastError: undefined,
    restartProcess: false,
  }),
  on: {
    join_group: {
      actions: assign({ groups: ({ context, event }) => (context.groups.includes(event.group) ? context.groups : [...context.groups, event.group]) }),
    },
    leave_group: {
      actions: assign({ groups: ({ context, event }) => context.groups.filter((group) => group !== event.group) }),
    },
  },
  states: {
    starting: {
      invoke: {
        src: "start",
        input: ({ context }) => context.lifecycle,
        onDone: "running",
        onError: { target: "recovering", actions: "recordFailure" },
      },
      on: { shutdown: "stopping", quit: "stopping" },
    },
    running: {
      on: {
        quit: "stopping",
        shutdown: "stopping",
        restart: [
          { guard: ({ event }) => event.mode === "process", target: "stopping", actions: assign({ restartProcess: true }) },
          { target: "restarting" },
        ],
        fail: { target: "recovering", actions: "recordFailure" },
      },
    },
    restarting: {
      invoke: {
        src: "drain",
        input: ({ context }) => context.lifecycle,
        onDone: "starting",
        onError: { target: "recovering", actions: "recordFailure" },
      },
      on: { shutdown: "stopping" },
    },
    recovering: {
      always: { guard: "restartBudgetSpent", target: "failed" },
      after: { backoff: "restarting" },
      on: { shutdown: "stopping", quit: "stopping" },
    },
    stopping: {
      invoke: {
        src: "drain",
        input: ({ context }) => context.lifecycle,
        onDone: "stopped",
        onError: { target: "stopped", actions: "recordFailure" },
      },
    },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
});

/** The processor lifecycle machine's type. */
export type ProcessorMachine = typeof processorMachine;
