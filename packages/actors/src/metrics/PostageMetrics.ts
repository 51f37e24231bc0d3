import type { FingerprintDict } from "@postage/core";
import type { RpcOutcome, TransportObserver } from "@postage/transport";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** How a delivery that reached an actor ended, as `postage_messages_processed_total` labels it. */
export type ProcessedOutcome = "handled" | "rejected" | "failed" | "unhandled" | "duplicate" | "timeout";

/** What the metrics read from an actor when scraped. @internal */
export interface MeteredActor {
  readonly fingerprint: FingerprintDict;
  readonly actorType: string;
  /** The lifecycle machine's top-level state. */
  readonly state: string;
  /** Deliveries and timers waiting in the mailbox. */
  readonly mailboxDepth: number;
}

/** What the metrics read from a broker when scraped. @internal */
export interface MeteredBroker {
  readonly connected: boolean;
}

/** Options of {@link PostageMetrics}. */
export interface PostageMetricsOptions {
  /** Where the metrics are registered (to serve them with your own HTTP server). @default a new prom-client Registry */
  registry?: Registry;
  /**
   * Also collect prom-client's Node.js process metrics (CPU, memory, event loop lag, GC).
   * @default true with a registry of Postage's own; false in a `registry` given (it may have them already)
   */
  processMetrics?: boolean;
}

/** Seconds: from well under a millisecond (in-memory handlers) to the RPC default timeout. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const ACTOR_LABELS = ["component", "type"] as const;

/**
 * Postage's Prometheus metrics (prom-client), for the actors of one or more schedulers. Labels are
 * of bounded cardinality: the component's name and type (its fingerprint's), an outcome or a
 * reason code; never an instance id, a routing key or a message id. Actors with the same name and
 * type (several instances in one process) add up.
 *
 * @example
 * const metrics = new PostageMetrics();
 * const scheduler = new Scheduler({ metrics: { metrics } });
 * http.createServer(async (_req, res) => res.end(await metrics.registry.metrics()));
 */
export class PostageMetrics {
  readonly registry: Registry;
  private readonly actors = new Set<MeteredActor>();
  private readonly brokers = new Set<MeteredBroker>();
  /** @internal */
  readonly processed: Counter<"component" | "type" | "outcome">;
  /** @internal */
  readonly handlerDuration: Histogram<"component" | "type">;
  /** @internal */
  readonly rpcDuration: Histogram<"component" | "type" | "outcome">;
  /** @internal */
  readonly rpcTimeouts: Counter<"component" | "type">;
  /** @internal */
  readonly restarts: Counter<"component" | "type">;
  /** @internal */
  readonly deadLettered: Counter<"component" | "type" | "reason">;
  /** @internal */
  readonly consumerPauses: Counter<"component" | "type">;

  constructor(options: PostageMetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    const actors = this.actors;
    const brokers = this.brokers;
    this.processed = new Counter({
      name: "postage_messages_processed_total",
      help: "Deliveries an actor finished with, by outcome (handled, rejected, failed, unhandled, duplicate, timeout)",
      labelNames: [...ACTOR_LABELS, "outcome"],
      registers,
    });
    this.handlerDuration = new Histogram({
      name: "postage_handler_duration_seconds",
      help: "Time the handlers of one delivery took, in seconds",
      labelNames: ACTOR_LABELS,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.rpcDuration = new Histogram({
      name: "postage_rpc_client_duration_seconds",
      help: "RPC calls an actor made, from the first publish to the reply (or the last timeout), by outcome",
      labelNames: [...ACTOR_LABELS, "outcome"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.rpcTimeouts = new Counter({
      name: "postage_rpc_client_timeouts_total",
      help: "RPC calls an actor made that got no reply (every attempt timed out)",
      labelNames: ACTOR_LABELS,
      registers,
    });
    this.restarts = new Counter({
      name: "postage_actor_restarts_total",
      help: "Restarts of actors: in place (a restart command) or supervised after a failure",
      labelNames: ACTOR_LABELS,
      registers,
    });
    this.deadLettered = new Counter({
      name: "postage_dead_lettered_total",
      help: "Messages dead-lettered by an actor's consumer, by reason (the x-postage-error code)",
      labelNames: [...ACTOR_LABELS, "reason"],
      registers,
    });
    this.consumerPauses = new Counter({
      name: "postage_consumer_pauses_total",
      help: "Times an actor consuming without acks (noAck) stopped consuming because its mailbox held a full window",
      labelNames: ACTOR_LABELS,
      registers,
    });
    new Gauge({
      name: "postage_mailbox_depth",
      help: "Deliveries and timers waiting in actors' mailboxes",
      labelNames: ACTOR_LABELS,
      registers,
      collect() {
        this.reset();
        for (const actor of actors) this.inc(actorLabels(actor), actor.mailboxDepth);
      },
    });
    new Gauge({
      name: "postage_actors",
      help: "Actors by lifecycle state (starting, running, restarting, recovering, stopping, stopped, failed)",
      labelNames: [...ACTOR_LABELS, "state"],
      registers,
      collect() {
        this.reset();
        for (const actor of actors) this.inc({ ...actorLabels(actor), state: actor.state });
      },
    });
    new Gauge({
      name: "postage_broker_connected",
      help: "1 while every broker connection of the actors is up, 0 while one is down (reconnecting) or closed",
      registers,
      collect() {
        let up = 1;
        for (const broker of brokers) if (!broker.connected) up = 0;
        this.set(up);
      },
    });
    if (options.processMetrics ?? options.registry === undefined) collectDefaultMetrics({ register: registry });
  }

  /** Metrics of one actor; it is read (mailbox depth, state) at each scrape until {@link untrack}. @internal */
  track(actor: MeteredActor): ActorMetrics {
    this.actors.add(actor);
    return new ActorMetrics(this, actorLabels(actor));
  }

  /** Stops reading an actor (its scheduler closed). @internal */
  untrack(actor: object): void {
    this.actors.delete(actor as MeteredActor);
  }

  /** Reports `broker`'s connection state until the returned function is called. @internal */
  watchBroker(broker: MeteredBroker): () => void {
    this.brokers.add(broker);
    return () => {
      this.brokers.delete(broker);
    };
  }
}

function actorLabels(actor: MeteredActor): { component: string; type: string } {
  return { component: actor.fingerprint.name ?? "unnamed", type: actor.fingerprint.type ?? actor.actorType };
}

/**
 * The metrics of one actor, labels bound once (the hot path only increments). Also the observer
 * of the actor's consumer and producer. @internal
 */
export class ActorMetrics implements TransportObserver {
  private readonly outcomes = new Map<ProcessedOutcome, Counter.Internal>();
  private readonly duration: Histogram.Internal<"component" | "type">;

  constructor(
    private readonly metrics: PostageMetrics,
    private readonly labels: { component: string; type: string },
  ) {
    this.duration = metrics.handlerDuration.labels(labels);
    // Series that exist from the start, at 0: an alert on their rate needs no `absent()`.
    for (const outcome of ["handled", "rejected", "failed"] as const) this.counter(outcome);
    metrics.restarts.inc(labels, 0);
    metrics.rpcTimeouts.inc(labels, 0);
  }

  /** A delivery finished; `seconds` is how long its handlers took (none when no handler ran). */
  processed(outcome: ProcessedOutcome, seconds?: number): void {
    this.counter(outcome).inc();
    if (seconds !== undefined) this.duration.observe(seconds);
  }

  restarted(): void {
    this.metrics.restarts.inc(this.labels);
  }

  rpcFinished(seconds: number, outcome: RpcOutcome): void {
    this.metrics.rpcDuration.observe({ ...this.labels, outcome }, seconds);
    if (outcome === "timeout") this.metrics.rpcTimeouts.inc(this.labels);
  }

  deadLettered(code: string): void {
    this.metrics.deadLettered.inc({ ...this.labels, reason: code });
  }

  consumerPaused(): void {
    this.metrics.consumerPauses.inc(this.labels);
  }

  private counter(outcome: ProcessedOutcome): Counter.Internal {
    let counter = this.outcomes.get(outcome);
    if (counter === undefined) {
      counter = this.metrics.processed.labels({ ...this.labels, outcome });
      counter.inc(0);
      this.outcomes.set(outcome, counter);
    }
    return counter;
  }
}
