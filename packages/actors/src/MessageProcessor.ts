import { type CollectFingerprintOptions, ExceptionResult, type ExchangeDefinition, Fingerprint, type FingerprintDict, type Message } from "@postage/core";
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
  type ProducerOptions,
  type QueueRef,
  reject,
} from "@postage/transport";
import { type Actor, type AnyActorLogic, type AnyActorRef, createActor, fromCallback, fromPromise, type Observer, type SnapshotFrom, type Subscription } from "xstate";
import { ActorError } from "./errors.js";
import { DuplicateFilter, type DuplicateSuppressionOptions } from "./DuplicateFilter.js";
import type { HandlerDefinition, ProcessorHandle } from "./handlers/HandlerDefinition.js";
import { messageHandler } from "./handlers/HandlerDefinition.js";
import { type HandlersOutcome, runHandlers } from "./handlers/runHandlers.js";
import type { InspectionHub } from "./inspection/InspectionHub.js";
import type { BehaviourView, MessageCounters } from "./inspection/InspectionEvent.js";
import { processorGraph } from "./inspection/machineGraph.js";
import { Mailbox } from "./Mailbox.js";
import { type DrainInput, type GroupChange, processorMachine, type ProcessorMachine, type StartInput, type SupervisionOptions } from "./machine/processorMachine.js";
import type { PostageMetrics } from "./metrics/PostageMetrics.js";
import { ActorTelemetry } from "./telemetry/ActorTelemetry.js";

/** What runs a processor: the scheduler implements it. @internal */
export interface ActorHost {
  readonly broker: Broker;
  readonly inspection: InspectionHub;
  /** The actor has work it can start now. */
  wake(actor: MessageProcessor): void;
  /** Reports an error nobody else will see (logged once). */
  report(actor: MessageProcessor, error: unknown, what: string): void;
  /** Where the actor's metrics go, when they are on. */
  readonly metrics?: PostageMetrics | undefined;
}

/** Options of a {@link MessageProcessor}. */
export interface MessageProcessorOptions<P extends ProcessorHandle = MessageProcessor> {
  /** The processor's fingerprint, or what to collect it from. @default Fingerprint.collect({ type: "processor" }) */
  fingerprint?: Fingerprint | CollectFingerprintOptions;
  /** Exchanges, queues and routing keys to consume (the seed's `eqk`). @default [] */
  bindings?: ExchangeQueueKeys;
  /** Message handlers (see {@link messageHandler}, {@link rpcHandler}, ...). More can be added with {@link MessageProcessor.handle}. */
  handlers?: readonly HandlerDefinition<P>[];
  /** Deliveries in flight per queue: bounds the mailbox. @default 100 */
  prefetch?: number;
  /**
   * Largest body accepted, in bytes; bigger ones are dead-lettered (`TOO_LARGE`) without being
   * decoded. @default 1 MiB (core's `DEFAULT_MAX_BODY_BYTES`)
   */
  maxBytes?: number;
  /** Options of the processor's own producer (default exchanges, builders). @default {} */
  producer?: Omit<ProducerOptions, "fingerprint">;
  /** Restart limits for failures outside handlers. */
  supervision?: SupervisionOptions;
  /** Ack without handling a message whose id was seen recently (redelivery after a reconnect). @default off */
  duplicates?: DuplicateSuppressionOptions | false;
  /** Handle `quit` and `restart` commands. @default true */
  defaultHandlers?: boolean;
  /**
   * How long the handlers of one delivery may run, in ms. Past it the message is dead-lettered
   * with code `HANDLER_TIMEOUT` (an RPC caller gets an `ExceptionResult` saying so), the actor
   * moves on to the next one, and a drain (quit, restart, SIGTERM) no longer waits for the stuck
   * handler; whatever it does later is ignored (a late reply is not sent).
   * @default undefined (no limit)
   */
  handlerTimeoutMs?: number;
}

/** Counters a processor keeps (also shown by the inspector). */
export type ProcessorCounters = MessageCounters & {
  duplicates: number;
  handlerErrors: number;
  /** Handlers that did not finish within `handlerTimeoutMs` (their messages dead-lettered). */
  timedOut: number;
  /** Deliveries given back unhandled: their channel died, or the actor drained before starting them. */
  givenBack: number;
};

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

type MailboxItem = { kind: "delivery"; incoming: Incoming; settle: (outcome: HandlerOutcome) => void } | { kind: "timer"; run: () => unknown };

/** Handlers are keyed by category, type and name, as in the seed. */
const key = (category: string, type: string, name: string): string => `${category}\u0000${type}\u0000${name}`;

/** A copy of an RPC delivery whose reply goes out once, whoever calls it first; and that reply function. */
function replyingOnce(incoming: Incoming): { incoming: Incoming; reply: (result: Message) => Promise<void> } {
  const original = incoming.reply as (result: Message) => Promise<void>;
  let replied = false;
  const reply = (result: Message): Promise<void> => {
    if (replied) return Promise.resolve();
    replied = true;
    return original(result);
  };
  return { incoming: { ...incoming, reply }, reply };
}

/** The top-level state of a snapshot value (`"running"` for `{ running: "joining" }`). */
function topState(value: unknown): string {
  if (typeof value === "string") return value;
  return typeof value === "object" && value !== null ? (Object.keys(value)[0] ?? "") : "";
}

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
  private readonly handlers = new Map<string, HandlerDefinition<this>[]>();
  private readonly mailbox = new Mailbox<MailboxItem>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly duplicates: DuplicateFilter | undefined;
  /** Bindings added at run time, re-applied when the actor restarts in place. */
  private readonly runtimeBindings: Array<[ExchangeDefinition, QueueRef, string]> = [];
  /** Signals of the channels deliveries came on: each is watched once, to give back what it brought. */
  private readonly watched = new WeakSet<AbortSignal>();
  private host: ActorHost | undefined;
  private lifecycle: Actor<ProcessorMachine> | undefined;
  private consumer: Consumer | undefined;
  private ownProducer: Producer | undefined;
  /** The machine is `running`: its intake lets the scheduler step this actor. */
  private intakeOpen = false;
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
    const handlerKey = key(handler.rpc ? "rpc" : "message", handler.type, handler.name);
    const list = this.handlers.get(handlerKey);
    if (list) list.push(handler);
    else this.handlers.set(handlerKey, [handler]);
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
      const onAbort = (): void => finish(new ActorError("WAIT_ABORTED", `stopped waiting for actor ${this.id} to be ${state}`, { cause: options.signal?.reason }));
      const check = (snapshot: ProcessorSnapshot): void => {
        if (snapshot.matches(state as never)) finish(undefined, snapshot);
        else if (snapshot.status !== "active") {
          const last = snapshot.context.lastError;
          finish(new ActorError("ACTOR_STOPPED", `actor ${this.id} ended ${topState(snapshot.value)} instead of reaching ${state}${last ? `: ${last}` : ""}`));
        }
      };
      if (options.signal?.aborted) return onAbort();
      check(this.actor.getSnapshot());
      if (settled) return;
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.timeout !== undefined) {
        timer = setTimeout(() => finish(new ActorError("WAIT_TIMEOUT", `actor ${this.id} was not ${state} within ${options.timeout} ms (it is ${this.state})`)), options.timeout);
      }
      subscription = this.actor.subscribe({ next: check, error: (error: unknown) => finish(new ActorError("ACTOR_STOPPED", `actor ${this.id}'s machine failed`, { cause: error })) });
    });
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
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.mailbox.push({ kind: "timer", run: callback });
      if (this.intakeOpen) this.host?.wake(this);
    }, ms);
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
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
    const { message } = incoming;
    const handlers = this.handlers.get(key(message.category, message.type, message.name));
    if (handlers === undefined) return undefined;
    return runHandlers(handlers, this, { message, body: incoming.body, delivery: incoming.delivery, reply: incoming.reply });
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
    return this.mailbox.size;
  }

  /** @internal Whether the actor can start a mailbox item now. */
  get runnable(): boolean {
    return this.intakeOpen && this.current === undefined && this.mailbox.size > 0;
  }

  /** @internal Handles the next mailbox item; returns a promise only when a handler went async. */
  step(): void | Promise<void> {
    const item = this.mailbox.shift();
    if (item === undefined) return;
    if (item.kind === "timer") return this.track(this.runTimer(item.run));
    if (item.incoming.delivery.signal?.aborted) return this.giveBack(item);
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
   */
  protected handleDelivery(incoming: Incoming, settle: (outcome: HandlerOutcome) => void): void | Promise<void> {
    const host = this.requireHost();
    this.counters.received += 1;
    if (host.inspection.active) this.emitMessage("received", incoming);
    if (this.duplicates?.seen(incoming.delivery.properties.messageId)) {
      this.counters.duplicates += 1;
      settle("ack");
      return;
    }
    // With a handler timeout, an RPC caller gets one reply: the handlers', or the timeout's.
    const once = this.options.handlerTimeoutMs !== undefined && incoming.reply !== undefined ? replyingOnce(incoming) : undefined;
    const outcome = this.dispatch(once?.incoming ?? incoming);
    if (outcome === undefined) {
      this.counters.unhandled += 1;
      settle("ack");
      return;
    }
    if (outcome instanceof Promise) return this.whenHandled(incoming, outcome, settle, once?.reply);
    this.settle(incoming, outcome, settle);
  }

  private whenHandled(
    incoming: Incoming,
    outcome: Promise<HandlersOutcome>,
    settle: (outcome: HandlerOutcome) => void,
    reply?: (result: Message) => Promise<void>,
  ): Promise<void> {
    const limit = this.options.handlerTimeoutMs;
    if (limit === undefined) return outcome.then((result) => this.settle(incoming, result, settle));
    return new Promise<void>((resolve, fail) => {
      const timer = setTimeout(() => {
        timedOut = true;
        const reason = `the handlers of ${incoming.message.type} "${incoming.message.name}" did not finish within ${limit} ms`;
        this.counters.timedOut += 1;
        this.counters.rejected += 1;
        this.host?.report(this, new ActorError("HANDLER_TIMEOUT", reason), "handler timed out; message dead-lettered");
        if (this.host?.inspection.active) this.emitMessage("rejected", incoming, reason);
        // A queue with an x-delivery-limit retries it: the redelivery is not a duplicate.
        this.duplicates?.forget(incoming.delivery.properties.messageId);
        settle(reject(reason, "HANDLER_TIMEOUT"));
        // The caller would otherwise wait for its own timeout, then retry into the same stuck handler.
        reply?.(ExceptionResult.fromError(new ActorError("HANDLER_TIMEOUT", reason))).catch((error: unknown) => this.host?.report(this, error, "replying HANDLER_TIMEOUT failed"));
        resolve();
      }, limit);
      let timedOut = false;
      outcome.then(
        (result) => {
          if (timedOut) return;
          clearTimeout(timer);
          this.settle(incoming, result, settle);
          resolve();
        },
        (error: unknown) => {
          if (timedOut) return;
          clearTimeout(timer);
          fail(error);
        },
      );
    });
  }

  private settle(incoming: Incoming, outcome: HandlersOutcome, settle: (outcome: HandlerOutcome) => void): void {
    for (const error of outcome.failures) {
      this.counters.handlerErrors += 1;
      this.host?.report(this, error, `handler for ${incoming.message.type} "${incoming.message.name}" failed; message dead-lettered`);
    }
    if (outcome.rejectReason !== undefined) {
      this.counters.rejected += 1;
      if (this.host?.inspection.active) this.emitMessage("rejected", incoming, outcome.rejectReason);
      // A handler error on a queue with an x-delivery-limit is retried: the redelivery is not a duplicate.
      if (outcome.failures.length > 0) this.duplicates?.forget(incoming.delivery.properties.messageId);
      settle(reject(outcome.rejectReason, outcome.failures.length > 0 ? "HANDLER_ERROR" : "REJECTED"));
      return;
    }
    this.counters.handled += 1;
    if (this.host?.inspection.active) this.emitMessage("acked", incoming);
    settle("ack");
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
          this.openIntake();
          return () => {
            this.intakeOpen = false;
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

  private openIntake(): void {
    this.intakeOpen = true;
    if (this.mailbox.size > 0) this.host?.wake(this);
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

  /** What the consumer calls with each delivery: into the mailbox, handled once the actor is running and idle. */
  private enqueue(incoming: Incoming): HandlerOutcome | Promise<HandlerOutcome> {
    const signal = incoming.delivery.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.counters.givenBack += 1;
        return "requeue";
      }
      if (!this.watched.has(signal)) this.watch(signal);
    }
    // A driver without signals: what arrives once the drain began goes back at once.
    if (this.draining !== undefined) {
      this.counters.givenBack += 1;
      return "requeue";
    }
    return new Promise<HandlerOutcome>((settle) => {
      this.mailbox.push({ kind: "delivery", incoming, settle });
      if (this.intakeOpen) this.host?.wake(this);
    });
  }

  /** Once `signal` aborts (channel dead, consumer cancelled), what it brought and is not started yet goes back unhandled. */
  private watch(signal: AbortSignal): void {
    this.watched.add(signal);
    signal.addEventListener(
      "abort",
      () => {
        for (const item of this.mailbox.removeWhere((entry) => entry.kind === "delivery" && entry.incoming.delivery.signal === signal)) this.giveBack(item);
      },
      { once: true },
    );
  }

  private giveBack(item: MailboxItem): void {
    if (item.kind !== "delivery") return;
    this.counters.givenBack += 1;
    item.settle("requeue");
  }

  private startConsuming(groups: readonly string[]): Promise<void> {
    const host = this.requireHost();
    this.draining = undefined;
    const run = (async () => {
      const consumer = createConsumer(
        host.broker,
        {
          bindings: [...this.allBindings(groups)],
          prefetch: this.options.prefetch ?? 100,
          ...(this.options.maxBytes === undefined ? {} : { maxBytes: this.options.maxBytes }),
          fingerprint: this.fingerprint,
          onError: (error) => host.report(this, error, "consumer error"),
          observer: this.telemetry?.metrics,
          // A consumer that cannot consume again is a failure of the actor: supervision restarts it.
          onLost: (error) => {
            if (this.consumer === consumer) this.sendToMachine({ type: "fail", error: `consumer lost: ${error.message}` });
          },
        },
        (incoming) => this.enqueue(incoming),
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
    this.intakeOpen = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.mailbox.removeWhere((item) => item.kind === "timer");
    // A start still in flight (quit or restart while starting) has a consumer to close too.
    await this.starting?.catch(() => undefined);
    const consumer = this.consumer;
    if (consumer !== undefined) {
      const closed = consumer.close();
      // Deliveries carrying no signal (a driver that cannot tell) are given back once the cancel is out.
      await Promise.resolve();
      for (const item of this.mailbox.removeWhere((entry) => entry.kind === "delivery" && entry.incoming.delivery.signal === undefined)) this.giveBack(item);
      await closed;
    }
    for (const item of this.mailbox.takeAll()) this.giveBack(item);
    await this.current;
    this.consumer = undefined;
  }

  private emitMessage(direction: "received" | "acked" | "rejected", incoming: Incoming, reason?: string): void {
    const { message, delivery } = incoming;
    this.host?.inspection.emit({
      kind: "message",
      actorId: this.id,
      at: Date.now(),
      direction,
      messageType: message.type,
      name: message.name,
      category: message.category,
      exchange: delivery.exchange,
      routingKey: delivery.routingKey,
      ...(delivery.properties.messageId ? { messageId: delivery.properties.messageId } : {}),
      ...(reason ? { reason } : {}),
    });
  }
}
