import { type ExchangeDefinition, Fingerprint, type FingerprintDict } from "@postage/core";
import {
  type Broker,
  type Consumer,
  type ConsumerCounters,
  createConsumer,
  createProducer,
  type ExchangeQueueKeys,
  type HandlerOutcome,
  type Incoming,
  type Producer,
  type QueueRef,
} from "@postage/transport";
import { type Actor, type AnyActorLogic, type AnyActorRef, createActor, fromCallback, fromPromise, type Observer, type Subscription } from "xstate";
import { ActorError } from "./errors.js";
import { DuplicateFilter } from "./DuplicateFilter.js";
import type { HandlerDefinition, ProcessorHandle } from "./handlers/HandlerDefinition.js";
import { messageHandler } from "./handlers/HandlerDefinition.js";
import { type HandlersOutcome, runHandlers } from "./handlers/runHandlers.js";
import type { InspectionHub } from "./inspection/InspectionHub.js";
import type { BehaviourView, MessageCounters } from "./inspection/InspectionEvent.js";
import { processorGraph } from "./inspection/machineGraph.js";
import { type DrainInput, type GroupChange, processorMachine, type ProcessorMachine, type StartInput } from "./machine/processorMachine.js";
import type { ActorHost } from "./processor/ActorHost.js";
import { DeliveryRunner } from "./processor/DeliveryRunner.js";
import { HandlerRegistry } from "./processor/HandlerRegistry.js";
import { Intake } from "./processor/Intake.js";
import type { MessageProcessorOptions, ProcessorCounters } from "./processor/MessageProcessorOptions.js";
import { type ProcessorSnapshot, type ProcessorState, topState, type WaitOptions, waitForState } from "./processor/processorState.js";
import { ActorTelemetry } from "./telemetry/ActorTelemetry.js";

export type { ActorHost } from "./processor/ActorHost.js";
export type { MessageProcessorOptions, ProcessorCounters } from "./processor/MessageProcessorOptions.js";
export type { ProcessorSnapshot, ProcessorState, WaitOptions } from "./processor/processorState.js";

/**
 * A component that handles messages (the seed's `MessageProcessor`): an XState actor whose mailbox
 * is fed by AMQP queues. It handles one delivery at a time, in order, and acks it once every
 * handler for it has finished; the prefetch bounds the mailbox. A handler that throws does not
 * stop the actor: the message is dead-lettered with the reason, the error is logged once and
 * counted. A message no handler wants is acked and counted as unhandled.
 *
 * The actor *is* its lifecycle machine ({@link processorMachine}): deliveries reach handlers only
 * while it is `running`, group changes are states, a consumer that dies sends `fail`. Observe it
 * with {@link subscribe}, {@link getSnapshot} and {@link whenState}.
 *
 * Run it with a {@link Scheduler}. Default handlers: `quit` (stop consuming, drain, stop) and
 * `restart` (by default replace the process with a new run of the same program, as the seed;
 * with parameters `{ mode: "actor" }` restart only this actor in place).
 *
 * Extension points for subclasses: {@link dispatch} (what handling one decoded delivery means),
 * {@link behaviourLogic} (a child actor living as long as the machine, e.g. a component's own
 * state machine) and {@link behaviour} (that child, to send it events and read its snapshot).
 *
 * @example
 * const receiver = new MessageProcessor({
 *   fingerprint: { name: "echo_receive", type: "controller" },
 *   bindings: [[echoExchange, [["echo-queue", "echo-rk"]]]],
 *   handlers: [messageHandler("command", "echo", (content) => console.log(content.parameters))],
 * });
 * const scheduler = new Scheduler({ broker });
 * scheduler.add(receiver);
 * await receiver.whenState("running", { timeout: 10_000 });
 * await scheduler.run(); // until quit
 */
export class MessageProcessor implements ProcessorHandle {
  /** The fingerprint (dictionary form) stamped on what this processor sends. */
  readonly fingerprint: FingerprintDict;
  /** This actor's unique id (its fingerprint's instance id). */
  readonly id: string;
  /** `processor`, or `application` for a {@link GenericApplication}. */
  readonly actorType: string = "processor";
  /** Counters of messages handled. */
  readonly counters: ProcessorCounters = {
    received: 0,
    handled: 0,
    rejected: 0,
    unhandled: 0,
    invalid: 0,
    sent: 0,
    duplicates: 0,
    handlerErrors: 0,
    timedOut: 0,
    givenBack: 0,
  };

  protected readonly options: MessageProcessorOptions<never>;
  private readonly handlers = new HandlerRegistry<this>();
  private readonly intake = new Intake(this.counters, () => this.host?.wake(this));
  private readonly duplicates: DuplicateFilter | undefined;
  /** Bindings added at run time, re-applied when the actor restarts in place. */
  private readonly runtimeBindings: Array<[ExchangeDefinition, QueueRef, string]> = [];
  private host: ActorHost | undefined;
  /** Handles deliveries once the actor was started on its host. */
  private runner: DeliveryRunner | undefined;
  private lifecycle: Actor<ProcessorMachine> | undefined;
  private consumer: Consumer | undefined;
  private ownProducer: Producer | undefined;
  /** The mailbox item being handled, when it went async. */
  private current: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  private released: Promise<void> | undefined;
  /** @internal Whether the scheduler already has this actor in its run queue. */
  queued = false;
  private finished: Promise<void> | undefined;
  private telemetry: ActorTelemetry | undefined;

  constructor(options: MessageProcessorOptions<never> = {}) {
    this.options = options;
    const fingerprint = options.fingerprint instanceof Fingerprint ? options.fingerprint : Fingerprint.collect({ type: "processor", ...options.fingerprint });
    this.fingerprint = fingerprint.toDict();
    this.id = fingerprint.instance ?? Fingerprint.newInstanceId();
    this.fingerprint.instance = this.id;
    this.duplicates = options.duplicates ? new DuplicateFilter(options.duplicates) : undefined;
    if (options.defaultHandlers ?? true) {
      this.handle(messageHandler<this>("command", "quit", (_content, { processor }) => processor.quit()));
      this.handle(
        messageHandler<this>("command", "restart", (content, { processor }) => {
          const parameters = content.parameters as { mode?: unknown } | undefined;
          processor.restart(parameters?.mode === "actor" ? "actor" : "process");
        }),
      );
    }
    for (const handler of (options.handlers ?? []) as HandlerDefinition<this>[]) this.handle(handler);
  }

  /**
   * Adds a handler; several handlers for one category, type and name all run, in the order added.
   * Message handlers get fire-and-forget messages (category `message`), RPC handlers get RPC
   * requests (category `rpc`).
   */
  handle(handler: HandlerDefinition<this>): this {
    this.handlers.add(handler);
    return this;
  }

  /** The broker this processor runs on. @throws {ActorError} `NOT_RUNNING` before it was added to a scheduler. */
  get broker(): Broker {
    return this.requireHost().broker;
  }

  /** A producer stamped with this processor's fingerprint, to send messages from handlers. */
  get producer(): Producer {
    this.ownProducer ??= createProducer(this.broker, { ...this.options.producer, fingerprint: this.fingerprint, observer: this.telemetry?.metrics });
    return this.ownProducer;
  }

  /** The current top-level state of the actor's machine (`starting`, `running`, `stopped`...); `new` before it was started. */
  get state(): string {
    return this.lifecycle ? topState(this.lifecycle.getSnapshot().value) : "new";
  }

  /** Groups joined: those whose bindings are in place at the broker (meaningful for applications). */
  get groups(): readonly string[] {
    return this.actor.getSnapshot().context.groups;
  }

  /** The last failure outside a handler, if any. */
  get lastError(): string | undefined {
    return this.actor.getSnapshot().context.lastError;
  }

  /** Whether the machine asked for the process to be replaced (a `restart` command). */
  get restartProcessRequested(): boolean {
    return this.actor.getSnapshot().context.restartProcess;
  }

  /** The queues consumed and what they are bound with, for inspection. */
  get bindings(): Array<[exchange: string, queue: string, key: string]> {
    const list: Array<[string, string, string]> = [];
    for (const [exchange, queues] of this.allBindings(this.groups)) {
      for (const [queue, routingKey] of queues) list.push([exchange.name, typeof queue === "string" ? queue : queue.name, routingKey]);
    }
    return list;
  }

  /** The lifecycle machine's current snapshot (state value, context, status). */
  getSnapshot(): ProcessorSnapshot {
    return this.actor.getSnapshot();
  }

  /**
   * Observes the lifecycle machine: `observer` gets each new snapshot (state changes, group
   * changes, failures; never one per delivery). Returns the subscription; `unsubscribe()` ends it.
   *
   * @example
   * const subscription = processor.subscribe((snapshot) => console.log(snapshot.value));
   */
  subscribe(observer: Observer<ProcessorSnapshot> | ((snapshot: ProcessorSnapshot) => void)): Subscription {
    return typeof observer === "function" ? this.actor.subscribe(observer) : this.actor.subscribe(observer);
  }

  /**
   * Resolves with the snapshot once the machine is in `state` (a top-level state such as
   * `"running"`, or a nested one such as `"running.joining"`), at once if it already is.
   * @throws {ActorError} `ACTOR_STOPPED` when the actor reached a final state instead (the message
   * carries its last error), `WAIT_TIMEOUT` after `timeout` ms, `WAIT_ABORTED` when `signal` aborts.
   *
   * @example
   * scheduler.add(receiver);
   * await receiver.whenState("running", { timeout: 10_000 });
   */
  whenState(state: ProcessorState | `${ProcessorState}.${string}`, options: WaitOptions = {}): Promise<ProcessorSnapshot> {
    return waitForState(this.actor, this.id, state, options);
  }

  /** Stops the actor: stops consuming, gives back what waits, finishes the handler in progress, then `stopped`. Honoured in every state but the final ones. */
  quit(): void {
    this.sendToMachine({ type: "quit" });
  }

  /**
   * Restarts. `"process"` (the default, as the seed): the actor stops and the scheduler replaces the
   * process with a new run of the same program once everything drained. `"actor"`: only this actor
   * re-creates its consumer and bindings, in place.
   */
  restart(mode: "actor" | "process" = "process"): void {
    this.sendToMachine({ type: "restart", mode });
  }

  /**
   * Runs `callback` after `ms` milliseconds, in turn with the actor's messages (the seed's
   * `add_timeout`). Cancelled when the actor stops. Returns a function that cancels it.
   */
  addTimeout(ms: number, callback: () => unknown): () => void {
    return this.intake.addTimeout(ms, callback);
  }

  /** Binds a queue at run time; the binding is kept across reconnects and in-place restarts. */
  async bind(exchange: ExchangeDefinition, queue: QueueRef, routingKey: string): Promise<void> {
    this.runtimeBindings.push([exchange, queue, routingKey]);
    await this.consumer?.bind(exchange, queue, routingKey);
    this.announce();
  }

  /** Removes a binding made at run time (or at construction). */
  async unbind(exchange: ExchangeDefinition, queue: string, routingKey: string): Promise<void> {
    const index = this.runtimeBindings.findIndex(([e, q, k]) => e.name === exchange.name && (typeof q === "string" ? q : q.name) === queue && k === routingKey);
    if (index >= 0) this.runtimeBindings.splice(index, 1);
    await this.consumer?.unbind(exchange, queue, routingKey);
    this.announce();
  }

  /** Resolves when the actor reached a final state (stopped or failed). Never rejects. */
  whenDone(): Promise<void> {
    if (!this.finished) throw new ActorError("NOT_RUNNING", `actor ${this.id} was never started`);
    return this.finished;
  }

  // ---- for subclasses -------------------------------------------------------------------------

  /** The bindings to consume, given the groups joined: those given at construction (subclasses add their own). */
  protected baseBindings(_groups: readonly string[]): ExchangeQueueKeys {
    return this.options.bindings ?? [];
  }

  /** The consumer while the actor consumes (undefined while starting, restarting or stopped). */
  protected get currentConsumer(): Consumer | undefined {
    return this.consumer;
  }

  /** Sends an event to the lifecycle machine (ignored once it reached a final state). */
  protected sendToMachine(event: Parameters<Actor<ProcessorMachine>["send"]>[0]): void {
    const actor = this.lifecycle;
    if (actor === undefined || actor.getSnapshot().status !== "active") return;
    actor.send(event);
  }

  /**
   * Binds what joining `group` needs at the broker: invoked by the machine in `running.joining`,
   * and the group counts as joined only once this resolved. Processors have nothing to bind.
   */
  protected async bindGroup(_group: string): Promise<void> {}

  /** Undoes {@link bindGroup}: invoked in `running.leaving`. */
  protected async unbindGroup(_group: string): Promise<void> {}

  /** Called once after the actor drained for good (not for an in-place restart): release what outlives a consumer. */
  protected async release(): Promise<void> {}

  /**
   * The logic of an optional child actor, started with the lifecycle machine (id `"behaviour"`)
   * and kept for its whole life, in-place restarts included: a component's own state machine
   * (see {@link dispatch} to route deliveries to it). Called once, when the machine is created.
   * @default undefined (no behaviour)
   */
  protected behaviourLogic(): AnyActorLogic | undefined {
    return undefined;
  }

  /** The running behaviour child (see {@link behaviourLogic}): send it events, read or persist its snapshot. */
  protected get behaviour(): AnyActorRef | undefined {
    return (this.lifecycle?.getSnapshot().children as Record<string, AnyActorRef | undefined> | undefined)?.behaviour;
  }

  /** What the inspector shows of the behaviour child, when there is one (announced with the actor). @default undefined */
  protected behaviourView(): BehaviourView | undefined {
    return undefined;
  }

  /** The inspection hub while the actor runs and someone listens: for what subclasses report (behaviour transitions). */
  protected get inspection(): InspectionHub | undefined {
    return this.host?.inspection.active ? this.host.inspection : undefined;
  }

  /** Reports an error nobody else will see (the scheduler logs it once). */
  protected reportError(error: unknown, what: string): void {
    this.host?.report(this, error, what);
  }

  /**
   * Handles one decoded delivery that passed duplicate suppression: by default runs the handlers
   * registered for its category, type and name. Returns `undefined` when nothing wants it (the
   * message is then acked and counted as unhandled). Override to route deliveries elsewhere (a
   * behaviour machine, for example); settling, counting, timeouts and inspection stay with the caller.
   * Stay synchronous when possible: a returned promise costs the delivery a turn.
   */
  protected dispatch(incoming: Incoming): HandlersOutcome | Promise<HandlersOutcome> | undefined {
    const handlers = this.handlers.for(incoming.message);
    if (handlers === undefined) return undefined;
    // An Incoming is a HandlerInput (message, body, delivery, reply): handed over as it is.
    return runHandlers(handlers, this, incoming);
  }

  /** @internal Announces the actor to inspection listeners (on start, after a change of groups or bindings). */
  announce(): void {
    const host = this.host;
    if (!host?.inspection.active || !this.lifecycle) return;
    const behaviour = this.behaviourView();
    host.inspection.emit({
      kind: "actor",
      actorId: this.id,
      at: Date.now(),
      fingerprint: this.fingerprint,
      actorType: this.actorType,
      machine: processorGraph(),
      state: this.state,
      groups: [...this.groups],
      bindings: this.bindings,
      counters: this.countersView(),
      heartbeatMs: host.inspection.heartbeatMs,
      ...(behaviour === undefined ? {} : { behaviour }),
    });
  }

  // ---- used by the scheduler --------------------------------------------------------------------

  /** Groups the actor belongs to when it starts (applications take them from their options). */
  protected initialGroups(): string[] {
    return [];
  }

  /** @internal Starts the actor on a host (the scheduler). */
  start(host: ActorHost): void {
    if (this.host) throw new ActorError("NOT_RUNNING", `actor ${this.id} was already started`);
    this.host = host;
    this.telemetry = new ActorTelemetry(this, host.metrics, this.counters);
    this.runner = new DeliveryRunner(this, host, this.counters, this.duplicates, this.options.handlerTimeoutMs, (incoming) => this.dispatch(incoming));
    const machine = this.actor;
    // From nothing: the first transition reported is the start itself ("" -> starting, event xstate.init).
    let previous = "";
    let groups = machine.getSnapshot().context.groups;
    this.finished = new Promise((resolve) => {
      machine.subscribe({
        next: (snapshot) => {
          this.telemetry?.observe(snapshot.value, this.lastEvent);
          const state = topState(snapshot.value);
          if (state !== previous && host.inspection.active) host.inspection.emit({ kind: "transition", actorId: this.id, at: Date.now(), event: this.lastEvent, from: previous, to: state });
          previous = state;
          if (snapshot.context.groups !== groups) {
            groups = snapshot.context.groups;
            this.announce();
          }
          if (snapshot.status === "done") resolve();
        },
        error: (error) => {
          host.report(this, error, "lifecycle machine failed");
          resolve();
        },
      });
    });
    machine.start();
    this.announce();
  }

  /** @internal Deliveries and timers waiting in the mailbox (for metrics). */
  get mailboxDepth(): number {
    return this.intake.size;
  }

  /** @internal Whether the actor can start a mailbox item now. */
  get runnable(): boolean {
    return this.intake.open && this.current === undefined && this.intake.size > 0;
  }

  /** @internal Handles the next mailbox item; returns a promise only when a handler went async. */
  step(): void | Promise<void> {
    const item = this.intake.next();
    if (item === undefined) return;
    if (item.kind === "timer") return this.track(this.runTimer(item.run));
    if (item.incoming.delivery.signal?.aborted) return this.intake.giveBack(item);
    const { incoming, settle } = item;
    // Traced or metered: the handlers run in the delivery's trace and the outcome is counted.
    if (this.telemetry?.wraps(incoming)) return this.track(this.telemetry.handle(incoming, settle, (counted) => this.handleDelivery(incoming, counted)));
    return this.track(this.handleDelivery(incoming, settle));
  }

  /** Counters including the consumer's (invalid bodies never reach the mailbox). */
  countersView(): MessageCounters {
    const consumer: Partial<ConsumerCounters> = this.consumer?.counters ?? {};
    const { received, handled, rejected, unhandled, sent } = this.counters;
    return { received, handled, rejected, unhandled, invalid: consumer.invalid ?? 0, sent: sent + (this.ownProducer?.stats.sent ?? 0) };
  }

  /** @internal Asks the actor to drain and stop (scheduler shutdown). */
  shutdown(): void {
    this.sendToMachine({ type: "shutdown" });
  }

  /** @internal Closes the processor's own producer, if it made one. */
  async closeProducer(): Promise<void> {
    await this.ownProducer?.close();
  }

  // ---- handling one delivery ----------------------------------------------------------------------

  /**
   * Handles one delivery from the mailbox, start to settlement: counts it, suppresses a duplicate,
   * {@link dispatch}es it, applies the handler timeout, and settles it (ack, or dead-letter with
   * the reason). Returns a promise only when the handling went async.
   * @throws {ActorError} `NOT_RUNNING` before the actor was started.
   */
  protected handleDelivery(incoming: Incoming, settle: (outcome: HandlerOutcome) => void): void | Promise<void> {
    if (this.runner === undefined) throw new ActorError("NOT_RUNNING", `actor ${this.id} is not running: add it to a Scheduler first`);
    return this.runner.handle(incoming, settle);
  }

  // ---- internals --------------------------------------------------------------------------------

  /** The lifecycle actor, created on first use (after the subclass constructors ran). */
  private get actor(): Actor<ProcessorMachine> {
    this.lifecycle ??= this.createLifecycle();
    return this.lifecycle;
  }

  /** The type of the last event the machine received, for transition events. */
  private lastEvent = "";

  private createLifecycle(): Actor<ProcessorMachine> {
    const behaviour = this.behaviourLogic();
    const machine = processorMachine.provide({
      actors: {
        start: fromPromise<void, StartInput>(({ input }) => this.startConsuming(input.groups)),
        drain: fromPromise<void, DrainInput>(({ input }) => this.drain(input.final)),
        intake: fromCallback(() => {
          this.intake.openNow();
          return () => {
            this.intake.open = false;
          };
        }),
        joinGroup: fromPromise<void, GroupChange>(({ input }) => this.bindGroup(input.group)),
        leaveGroup: fromPromise<void, GroupChange>(({ input }) => this.unbindGroup(input.group)),
        ...(behaviour ? { behaviour } : {}),
      },
    });
    const actor: Actor<ProcessorMachine> = createActor(machine, {
      input: { supervision: this.options.supervision, groups: this.initialGroups() },
      inspect: (event) => {
        if (event.type === "@xstate.event" && event.actorRef === actor) this.lastEvent = event.event.type;
      },
    });
    return actor;
  }

  private requireHost(): ActorHost {
    if (!this.host) throw new ActorError("NOT_RUNNING", `actor ${this.id} is not running: add it to a Scheduler first`);
    return this.host;
  }

  private *allBindings(groups: readonly string[]): Iterable<readonly [ExchangeDefinition, ReadonlyArray<readonly [QueueRef, string]>]> {
    yield* this.baseBindings(groups);
    for (const [exchange, queue, routingKey] of this.runtimeBindings) yield [exchange, [[queue, routingKey]]];
  }

  private track(result: void | Promise<void>): void | Promise<void> {
    if (result === undefined) return;
    const running = result.then(undefined, (error: unknown) => this.host?.report(this, error, "delivery failed")).finally(() => {
      this.current = undefined;
      if (this.runnable) this.host?.wake(this);
    });
    this.current = running;
    return running;
  }

  private runTimer(run: () => unknown): void | Promise<void> {
    try {
      const result = run();
      if (result instanceof Promise) return result.then(undefined, (error: unknown) => this.host?.report(this, error, "timer callback failed"));
    } catch (error) {
      this.host?.report(this, error, "timer callback failed");
    }
  }

  private startConsuming(groups: readonly string[]): Promise<void> {
    const host = this.requireHost();
    this.draining = undefined;
    this.intake.refusing = false;
    const run = (async () => {
      const consumer = createConsumer(
        host.broker,
        {
          bindings: [...this.allBindings(groups)],
          prefetch: this.options.prefetch ?? 100,
          noAck: this.options.noAck ?? false,
          ...(this.options.maxBytes === undefined ? {} : { maxBytes: this.options.maxBytes }),
          fingerprint: this.fingerprint,
          onError: (error) => host.report(this, error, "consumer error"),
          observer: this.telemetry?.metrics,
          // A consumer that cannot consume again is a failure of the actor: supervision restarts it.
          onLost: (error) => {
            if (this.consumer === consumer) this.sendToMachine({ type: "fail", error: `consumer lost: ${error.message}` });
          },
        },
        (incoming) => this.intake.receive(incoming),
      );
      this.consumer = consumer;
      try {
        await consumer.ready();
      } catch (error) {
        this.consumer = undefined;
        await consumer.close().catch((closeError: unknown) => host.report(this, closeError, "closing a consumer that failed to start"));
        throw error;
      }
      this.announce();
    })();
    this.starting = run;
    return run;
  }

  /**
   * Drains, in order: the consumer is cancelled (the broker stops sending), the mailbox is given
   * back (its deliveries' signals abort), the handler in progress finishes and is settled, then the
   * consumer closes. Idempotent while under way: `quit` during a restart's drain awaits the same one.
   */
  private drain(final: boolean): Promise<void> {
    this.draining ??= this.drainNow();
    const drained = this.draining;
    if (!final) return drained;
    return drained.then(() => {
      this.released ??= this.release().catch((error: unknown) => this.host?.report(this, error, "releasing after the drain failed"));
      return this.released;
    });
  }

  private async drainNow(): Promise<void> {
    this.intake.closeForDrain();
    // A start still in flight (quit or restart while starting) has a consumer to close too.
    await this.starting?.catch(() => undefined);
    const consumer = this.consumer;
    if (consumer !== undefined) {
      const closed = consumer.close();
      // Deliveries carrying no signal (a driver that cannot tell) are given back once the cancel is out.
      await Promise.resolve();
      this.intake.giveBackUnsignalled();
      await closed;
    }
    this.intake.giveBackAll();
    await this.current;
    this.consumer = undefined;
  }
}
