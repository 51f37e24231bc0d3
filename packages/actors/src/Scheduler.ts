import { type Broker, connect, type ConnectOptions } from "@postage/transport";
import { ActorError } from "./errors.js";
import { InspectionHub, type InspectionListener } from "./inspection/InspectionHub.js";
import { InspectionPublisher, type InspectionPublishingOptions } from "./inspection/InspectionPublisher.js";
import type { MessageProcessor } from "./MessageProcessor.js";
import type { ActorHost } from "./processor/ActorHost.js";
import { openMetricsEndpoint, type MetricsEndpoint, type SchedulerMetricsOptions } from "./metrics/metricsEndpoint.js";
import type { MetricsServer } from "./metrics/MetricsServer.js";
import type { PostageMetrics } from "./metrics/PostageMetrics.js";
import { replaceProcess } from "./replaceProcess.js";

/** Turns that may start from microtasks before the scheduler waits for the event loop. */
const MAX_MICROTASK_TURNS = 16;

/** Options of a {@link Scheduler}. */
export interface SchedulerOptions {
  /** The broker the actors use. @default connect(connection) — from POSTAGE_URL and friends; closed by the scheduler */
  broker?: Broker;
  /** Connection options when no broker is given. */
  connection?: ConnectOptions;
  /** Drain gracefully on SIGINT/SIGTERM while {@link Scheduler.run} runs. @default true */
  handleSignals?: boolean;
  /**
   * How long a turn may run before yielding to the event loop, in ms. Within a turn every ready
   * actor gets one delivery per round. @default 4
   */
  turnBudgetMs?: number;
  /**
   * What a `restart` command does to the process once every actor drained.
   * `"exec"`: run the same program with the same arguments again, as a child this process waits
   * on and forwards signals to, exiting with its code (see `replaceProcess`: the new run has its
   * own pid, hence a new `{pid}@{host}` address); a function: called instead (tests, custom
   * supervisors). @default "exec"
   */
  onProcessRestart?: "exec" | (() => void | Promise<void>);
  /** Where errors nobody else sees are logged (once each). @default console.error */
  log?: (line: string) => void;
  /**
   * Publish inspection events to the `postage.inspect` exchange for `postage inspect` to show.
   * @default true when the environment has POSTAGE_INSPECT=1, else false
   */
  inspect?: boolean | InspectionPublishingOptions;
  /** How often actors re-announce themselves to inspectors, in ms. @default 2_000 */
  inspectionHeartbeatMs?: number;
  /**
   * Prometheus metrics of the actors (see {@link SchedulerMetricsOptions}): `true`, or options with
   * the `port` to serve `GET /metrics` on. Off, they cost nothing.
   * @default on, served on POSTAGE_METRICS_PORT, when that is set; else off
   */
  metrics?: boolean | SchedulerMetricsOptions;
}

/** Why {@link Scheduler.run} returned. */
export interface RunResult {
  /** `stopped`: every actor stopped; `shutdown`: asked to (signal or {@link Scheduler.shutdown}); `restart`: a restart command. */
  reason: "stopped" | "shutdown" | "restart";
  /** Actors that ended failed (restart budget spent). */
  failed: MessageProcessor[];
}

/**
 * Runs many actors in one process (the seed's `MicroScheduler`). It interleaves them cooperatively
 * and fairly: each turn gives every actor that has work one delivery, round after round, and
 * yields to the event loop between turns, so a flooded actor cannot starve a quiet one.
 * {@link run} resolves when every actor has stopped (the program then goes on, as in the seed), or
 * after a graceful shutdown (SIGINT/SIGTERM): handlers in progress finish and are acked, prefetched
 * messages not yet started go back to their queues.
 *
 * @example
 * const scheduler = new Scheduler();
 * scheduler.add(new EchoReceiver());
 * await scheduler.run();
 */
export class Scheduler implements ActorHost {
  readonly inspection: InspectionHub;
  private readonly actors = new Set<MessageProcessor>();
  private runQueue: MessageProcessor[] = [];
  private turnScheduled = false;
  /** A turn is running: actors woken now join its next round instead of scheduling another turn. */
  private inTurn = false;
  /** Turns started from microtasks since the event loop last came round (bounded, see scheduleTurn). */
  private microtaskTurns = 0;
  private loopMarkScheduled = false;
  private readonly ownsBroker: boolean;
  private brokerHandle: Broker | undefined;
  private readonly options: SchedulerOptions;
  private shuttingDown: Promise<void> | undefined;
  private restartRequested = false;
  private closed = false;
  private publisher: InspectionPublisher | undefined;
  private readonly metricsEndpoint: MetricsEndpoint | undefined;
  private unwatchBroker: (() => void) | undefined;

  constructor(options: SchedulerOptions = {}) {
    this.options = options;
    this.metricsEndpoint = openMetricsEndpoint(options.metrics);
    this.metricsEndpoint?.server?.catch((error: unknown) => this.log(`[postage] metrics: ${error instanceof Error ? error.message : String(error)}`));
    this.inspection = new InspectionHub(() => this.announceAll(), options.inspectionHeartbeatMs);
    this.brokerHandle = options.broker;
    this.ownsBroker = options.broker === undefined;
  }

  /** Starts publishing inspection events if the options or POSTAGE_INSPECT ask for it. */
  private startPublishing(): void {
    const setting = this.options.inspect ?? process.env.POSTAGE_INSPECT === "1";
    if (setting === false || this.publisher) return;
    const options = setting === true ? {} : setting;
    this.publisher = new InspectionPublisher(this.broker, this.inspection, options);
  }

  private announceAll(): void {
    for (const actor of this.actors) if (!["stopped", "failed"].includes(actor.state)) actor.announce();
  }

  /** The actors' Prometheus metrics, when on (see {@link SchedulerOptions.metrics}). */
  get metrics(): PostageMetrics | undefined {
    return this.metricsEndpoint?.metrics;
  }

  /**
   * The server of `/metrics`, when a port was given: resolves once it listens (its `url` says
   * where), rejects with `METRICS_SERVER` when the port could not be bound.
   */
  get metricsServer(): Promise<MetricsServer> | undefined {
    return this.metricsEndpoint?.server;
  }

  /** The broker the actors use (connected on first use when none was given). */
  get broker(): Broker {
    this.brokerHandle ??= connect(this.options.connection);
    return this.brokerHandle;
  }

  /** The actors added and not yet removed. */
  get size(): number {
    return this.actors.size;
  }

  /** Every actor added (running or finished). */
  list(): MessageProcessor[] {
    return [...this.actors];
  }

  /**
   * Adds an actor and starts it (it declares its queues and starts consuming).
   * @throws {ActorError} `SCHEDULER_CLOSED` after a shutdown.
   */
  add<A extends MessageProcessor>(actor: A): A {
    if (this.closed || this.shuttingDown) throw new ActorError("SCHEDULER_CLOSED", "the scheduler is shutting down; create a new one");
    this.startPublishing();
    if (this.metricsEndpoint !== undefined) this.unwatchBroker ??= this.metricsEndpoint.metrics.watchBroker(this.broker);
    this.actors.add(actor);
    actor.start(this);
    void actor.whenDone().then(() => this.actorDone(actor)); // whenDone never rejects
    return actor;
  }

  /**
   * Observes the actors: announcements, state transitions and message events (see
   * {@link InspectionEvent}). Returns the function that stops observing. With no observer,
   * inspection costs nothing measurable.
   */
  inspect(listener: InspectionListener): () => void {
    const unsubscribe = this.inspection.subscribe(listener);
    this.announceAll();
    return unsubscribe;
  }

  /**
   * Runs until every actor has stopped or failed, or until a shutdown. Installs SIGINT/SIGTERM
   * handlers meanwhile (unless `handleSignals` is false). Closes the broker if the scheduler opened it.
   */
  async run(): Promise<RunResult> {
    const onSignal = (): void => {
      void this.shutdown(); // shutdown() never rejects: errors are reported
    };
    const handleSignals = this.options.handleSignals ?? true;
    if (handleSignals) {
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
    }
    try {
      await Promise.all([...this.actors].map((actor) => actor.whenDone()));
      while (this.list().some((actor) => !["stopped", "failed"].includes(actor.state))) {
        await Promise.all(this.list().map((actor) => actor.whenDone()));
      }
      await this.shuttingDown;
    } finally {
      if (handleSignals) {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    }
    const failed = this.list().filter((actor) => actor.state === "failed");
    const reason = this.restartRequested ? "restart" : this.shuttingDown ? "shutdown" : "stopped";
    await this.close();
    if (reason === "restart") {
      const onRestart = this.options.onProcessRestart ?? "exec";
      if (onRestart === "exec") await replaceProcess();
      else await onRestart();
    }
    return { reason, failed };
  }

  /** Stops every actor gracefully; resolves once all drained. Never rejects (failures are reported). */
  shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      for (const actor of this.actors) actor.shutdown();
      await Promise.all([...this.actors].map((actor) => actor.whenDone()));
    })();
    return this.shuttingDown;
  }

  /** Shuts down (if running) and closes the broker when the scheduler opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.shutdown();
    this.closed = true;
    await this.publisher?.close();
    for (const actor of this.actors) {
      try {
        await actor.closeProducer();
      } catch (error) {
        this.report(actor, error, "closing its producer failed");
      }
    }
    try {
      if (this.ownsBroker && this.brokerHandle) await this.brokerHandle.close();
    } finally {
      // An open metrics server would keep the process alive: it closes whatever the broker did.
      this.unwatchBroker?.();
      for (const actor of this.actors) this.metricsEndpoint?.metrics.untrack(actor);
      await this.metricsEndpoint?.release();
    }
  }

  /** @internal */
  wake(actor: MessageProcessor): void {
    if (actor.queued) return;
    actor.queued = true;
    this.runQueue.push(actor);
    this.scheduleTurn();
  }

  /**
   * A turn after a quiet spell runs as soon as the current callback ends (a microtask), so a
   * delivery does not wait a whole event-loop iteration; at most {@link MAX_MICROTASK_TURNS} run
   * that way before the scheduler waits for the event loop (setImmediate), so I/O, timers and
   * other work always get their turn too.
   */
  private scheduleTurn(): void {
    if (this.turnScheduled || this.inTurn) return;
    this.turnScheduled = true;
    if (this.microtaskTurns < MAX_MICROTASK_TURNS) {
      this.microtaskTurns += 1;
      queueMicrotask(this.turn);
      if (!this.loopMarkScheduled) {
        this.loopMarkScheduled = true;
        setImmediate(this.loopCameRound);
      }
    } else {
      setImmediate(this.turn);
    }
  }

  private readonly loopCameRound = (): void => {
    this.loopMarkScheduled = false;
    this.microtaskTurns = 0;
  };

  /** @internal */
  report(actor: MessageProcessor, error: unknown, what: string): void {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.log(`[postage] ${actor.fingerprint.name ?? "actor"} (${actor.id}): ${what}: ${detail}`);
  }

  private log(line: string): void {
    (this.options.log ?? ((text: string) => console.error(text)))(line);
  }

  private readonly turn = (): void => {
    this.turnScheduled = false;
    this.inTurn = true;
    const deadline = performance.now() + (this.options.turnBudgetMs ?? 4);
    // Rounds: every actor with work gets one delivery per round, so none can starve another.
    while (this.runQueue.length > 0) {
      const round = this.runQueue;
      this.runQueue = [];
      for (const actor of round) {
        actor.queued = false;
        if (!actor.runnable) continue;
        // Errors inside step() are handled by the actor; a returned promise re-wakes it when done.
        void actor.step();
        if (actor.runnable) this.wake(actor);
      }
      if (performance.now() >= deadline) break;
    }
    this.inTurn = false;
    if (this.runQueue.length > 0 && !this.turnScheduled) {
      // A full turn: the rest waits for the event loop.
      this.turnScheduled = true;
      setImmediate(this.turn);
    }
  };

  private actorDone(actor: MessageProcessor): void {
    if (this.inspection.active) this.inspection.emit({ kind: "stopped", actorId: actor.id, at: Date.now(), state: actor.state });
    if (actor.restartProcessRequested && !this.restartRequested) {
      this.restartRequested = true;
      void this.shutdown();
    }
  }
}
