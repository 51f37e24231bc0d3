import type { DeliveryTrace, HandlerOutcome, Incoming } from "@postage/transport";
import { statePath } from "../inspection/machineGraph.js";
import type { ActorMetrics, PostageMetrics, MeteredActor, ProcessedOutcome } from "../metrics/PostageMetrics.js";

/** The counters the outcome of a delivery is told apart by (a processor's). @internal */
export interface OutcomeCounters {
  readonly unhandled: number;
  readonly duplicates: number;
}

/** Machine states entered by a restart: each entry counts in `postage_actor_restarts_total`. */
const RESTART_STATES = new Set(["restarting", "recovering"]);

/**
 * One actor's traces and metrics: wraps the handling of each delivery (the handlers run in the
 * delivery's trace; its outcome and duration are counted) and records the lifecycle machine's
 * transitions as events on the span of the delivery being handled. With no OpenTelemetry SDK and
 * metrics off, {@link wraps} is false and the actor handles deliveries without it. @internal
 */
export class ActorTelemetry {
  /** The actor's metrics, also the observer of its consumer and producer (undefined: metrics off). */
  readonly metrics: ActorMetrics | undefined;
  /** The trace of the delivery being handled, for transition events. */
  private current: DeliveryTrace | undefined;
  /** The machine's state path at the last snapshot (`running.joining`). */
  private state = "";

  constructor(
    actor: MeteredActor,
    postage: PostageMetrics | undefined,
    private readonly counters: OutcomeCounters,
  ) {
    this.metrics = postage?.track(actor);
  }

  /** Whether handling `incoming` goes through {@link handle} (it is traced, or metrics are on). */
  wraps(incoming: Incoming): boolean {
    return this.metrics !== undefined || incoming.trace !== undefined;
  }

  /**
   * Runs `handle` (the actor's handling of one delivery) inside the delivery's trace, with a
   * `settle` that counts the outcome and the handlers' duration before settling.
   */
  handle<R>(incoming: Incoming, settle: (outcome: HandlerOutcome) => void, handle: (settle: (outcome: HandlerOutcome) => void) => R): R {
    const trace = incoming.trace;
    const metrics = this.metrics;
    const started = metrics === undefined ? 0 : performance.now();
    const { unhandled, duplicates } = this.counters;
    let settled = false;
    const counted = (outcome: HandlerOutcome): void => {
      if (!settled) {
        settled = true;
        if (this.current === trace) this.current = undefined;
        const kind = metrics === undefined ? undefined : this.outcomeOf(outcome, unhandled, duplicates);
        if (kind !== undefined) metrics?.processed(kind, kind === "unhandled" || kind === "duplicate" ? undefined : (performance.now() - started) / 1000);
      }
      settle(outcome);
    };
    if (trace === undefined) return handle(counted);
    this.current = trace;
    return trace.run(() => handle(counted));
  }

  /** A snapshot of the actor's machine, caused by `event`: a change of state is a {@link transition}. */
  observe(value: unknown, event: string): void {
    const state = statePath(value);
    if (state === this.state) return;
    const from = this.state;
    this.state = state;
    this.transition(from, state, event);
  }

  /** A transition of the actor's machine: an event on the span of the delivery being handled; restarts counted. */
  transition(from: string, to: string, event: string): void {
    this.current?.event("postage.actor.transition", { "postage.actor.from": from, "postage.actor.to": to, "postage.actor.event": event });
    const top = (path: string): string => path.split(".", 1)[0] ?? "";
    if (RESTART_STATES.has(top(to)) && !RESTART_STATES.has(top(from))) this.metrics?.restarted();
  }

  /** What `postage_messages_processed_total` counts a settlement as; a requeue (a drain) is not processed. */
  private outcomeOf(outcome: HandlerOutcome, unhandled: number, duplicates: number): ProcessedOutcome | undefined {
    if (outcome === "requeue") return undefined;
    if (outcome === "reject") return "rejected";
    if (typeof outcome === "object") {
      if (outcome.code === "HANDLER_ERROR") return "failed";
      if (outcome.code === "HANDLER_TIMEOUT") return "timeout";
      return "rejected";
    }
    if (this.counters.duplicates !== duplicates) return "duplicate";
    if (this.counters.unhandled !== unhandled) return "unhandled";
    return "handled";
  }
}
