import type { Actor, SnapshotFrom, Subscription } from "xstate";
import { ActorError } from "../errors.js";
import type { ProcessorMachine } from "../machine/processorMachine.js";

/** The lifecycle machine's snapshot: `value` (the state), `context` (groups, restarts, last error), `status`. */
export type ProcessorSnapshot = SnapshotFrom<ProcessorMachine>;

/** A top-level state of the lifecycle machine. */
export type ProcessorState = "starting" | "running" | "restarting" | "recovering" | "stopping" | "stopped" | "failing" | "failed";

/** Options of a wait such as {@link MessageProcessor.whenState}. */
export interface WaitOptions {
  /** Give up after this many ms (`WAIT_TIMEOUT`). @default no limit */
  timeout?: number;
  /** Give up when this aborts (`WAIT_ABORTED`). */
  signal?: AbortSignal;
}

/** The top-level state of a snapshot value (`"running"` for `{ running: "joining" }`). @internal */
export function topState(value: unknown): string {
  if (typeof value === "string") return value;
  return typeof value === "object" && value !== null ? (Object.keys(value)[0] ?? "") : "";
}

/**
 * Resolves with the snapshot once `actor` (the lifecycle machine of actor `actorId`) is in `state`,
 * at once if it already is (see `MessageProcessor.whenState`).
 * @throws {ActorError} `ACTOR_STOPPED`, `WAIT_TIMEOUT` or `WAIT_ABORTED`. @internal
 */
export function waitForState(actor: Actor<ProcessorMachine>, actorId: string, state: string, options: WaitOptions): Promise<ProcessorSnapshot> {
  return new Promise<ProcessorSnapshot>((resolve, reject) => {
    let subscription: Subscription | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (error: ActorError | undefined, snapshot?: ProcessorSnapshot): void => {
      if (settled) return;
      settled = true;
      subscription?.unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve(snapshot as ProcessorSnapshot);
    };
    const onAbort = (): void => finish(new ActorError("WAIT_ABORTED", `stopped waiting for actor ${actorId} to be ${state}`, { cause: options.signal?.reason }));
    const check = (snapshot: ProcessorSnapshot): void => {
      if (snapshot.matches(state as never)) finish(undefined, snapshot);
      else if (snapshot.status !== "active") {
        const last = snapshot.context.lastError;
        finish(new ActorError("ACTOR_STOPPED", `actor ${actorId} ended ${topState(snapshot.value)} instead of reaching ${state}${last ? `: ${last}` : ""}`));
      }
    };
    if (options.signal?.aborted) return onAbort();
    check(actor.getSnapshot());
    if (settled) return;
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.timeout !== undefined) {
      const now = (): string => topState(actor.getSnapshot().value);
      timer = setTimeout(() => finish(new ActorError("WAIT_TIMEOUT", `actor ${actorId} was not ${state} within ${options.timeout} ms (it is ${now()})`)), options.timeout);
    }
    subscription = actor.subscribe({ next: check, error: (error: unknown) => finish(new ActorError("ACTOR_STOPPED", `actor ${actorId}'s machine failed`, { cause: error })) });
  });
}
