import { type CollectFingerprintOptions, type ExchangeDefinition, Fingerprint, type FingerprintDict } from "@postage/core";
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
import { type Actor, createActor } from "xstate";
import { ActorError } from "./errors.js";
import { DuplicateFilter, type DuplicateSuppressionOptions } from "./DuplicateFilter.js";
import type { HandlerDefinition, ProcessorHandle } from "./handlers/HandlerDefinition.js";
import { messageHandler } from "./handlers/HandlerDefinition.js";
import { type HandlersOutcome, runHandlers } from "./handlers/runHandlers.js";
import type { InspectionHub } from "./inspection/InspectionHub.js";
import type { MessageCounters } from "./inspection/InspectionEvent.js";
import { processorGraph, statePath } from "./inspection/machineGraph.js";
import { Mailbox } from "./Mailbox.js";
import { processorMachine, type SupervisionOptions } from "./machine/processorMachine.js";

/** What runs a processor: the scheduler implements it. @internal */
export interface ActorHost {
  readonly broker: Broker;
  readonly inspection: InspectionHub;
  /** The actor has work it can start now. */
  wake(actor: MessageProcessor): void;
  /** Reports an error nobody else will see (logged once). */
  report(actor: MessageProcessor, error: unknown, what: string): void;
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
}

/** Counters a processor keeps (also shown by the inspector). */
export type ProcessorCounters = MessageCounters & { duplicates: number; handlerErrors: number };

type MailboxItem = { kind: "delivery"; incoming: Incoming; settle: (outcome: HandlerOutcome) => void } | { kind: "timer"; run: () => unknown };

const key = (type: string, name: string): string => `${type}\u0000${name}`;

/**
 * A component that handles messages (the seed's `MessageProcessor`): an XState actor whose mailbox
 * is fed by AMQP queues. It handles one delivery at a time, in order, and acks it once every
 * handler for it has finished; the prefetch bounds the mailbox. A handler that throws does not
 * stop the actor: the message is dead-lettered with the reason, the error is logged once and
 * counted. A message no handler wants is acked and counted as unhandled.
 *
 * Run it with a {@link Scheduler}. Default handlers: `quit` (stop consuming, drain, stop) and
 * `restart` (by default replace the process with a new run of the same program, as the seed;
 * with parameters `{ mode: "actor" }` restart only this actor in place).
 *
 * @example
 * const receiver = new MessageProcessor({
 *   fingerprint: { name: "echo_receive", type: "controller" },
 *   bindings: [[echoExchange, [["echo-queue", "echo-rk"]]]],
 *   handlers: [messageHandler("command", "echo", (content) => console.log(content.parameters))],
 * });
 * const scheduler = new Scheduler({ broker });
 * scheduler.add(receiver);
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
  readonly counters: ProcessorCounters = { received: 0, handled: 0, rejected: 0, unhandled: 0, invalid: 0, sent: 0, duplicates: 0, handlerErrors: 0 };

  protected readonly options: MessageProcessorOptions<never>;
  private readonly handlers = new Map<string, HandlerDefinition<this>[]>();
  private readonly mailbox = new Mailbox<MailboxItem>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly duplicates: DuplicateFilter | undefined;
  /** Bindings added at run time, re-applied when the actor restarts in place. */
  private readonly runtimeBindings: Array<[ExchangeDefinition, QueueRef, string]> = [];
  private host: ActorHost | undefined;
  private machine: Actor<typeof processorMachine> | undefined;
  private consumer: Consumer | undefined;
  private ownProducer: Producer | undefined;
  private accepting = false;
  private current: Promise<void> | undefined;
  /** @internal Whether the scheduler already has this actor in its run queue. */
  queued = false;
  private finished: Promise<void> | undefined;

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

  /** Adds a handler; several handlers for one type and name all run, in the order added. */
  handle(handler: HandlerDefinition<this>): this {
    const list = this.handlers.get(key(handler.type, handler.name));
    if (list) list.push(handler);
    else this.handlers.set(key(handler.type, handler.name), [handler]);
    return this;
  }

  /** The broker this processor runs on. @throws {ActorError} `NOT_RUNNING` before it was added to a scheduler. */
  get broker(): Broker {
    return this.requireHost().broker;
  }

  /** A producer stamped with this processor's fingerprint, to send messages from handlers. */
  get producer(): Producer {
    this.ownProducer ??= createProducer(this.broker, { ...this.options.producer, fingerprint: this.fingerprint });
    return this.ownProducer;
  }

  /** The current state of the actor's machine (`starting`, `running`, `stopped`...). */
  get state(): string {
    return this.machine ? statePath(this.machine.getSnapshot().value) : "new";
  }

  /** Groups joined (meaningful for applications). */
  get groups(): readonly string[] {
    return this.machine?.getSnapshot().context.groups ?? [];
  }

  /** The last failure outside a handler, if any. */
  get lastError(): string | undefined {
    return this.machine?.getSnapshot().context.lastError;
  }

  /** Whether the machine asked for the process to be replaced (a `restart` command). */
  get restartProcessRequested(): boolean {
    return this.machine?.getSnapshot().context.restartProcess ?? false;
  }

  /** The queues consumed and what they are bound with, for inspection. */
  get bindings(): Array<[exchange: string, queue: string, key: string]> {
    const list: Array<[string, string, string]> = [];
    for (const [exchange, queues] of this.allBindings()) {
      for (const [queue, routingKey] of queues) list.push([exchange.name, typeof queue === "string" ? queue : queue.name, routingKey]);
    }
    return list;
  }

  /** Stops the actor: acks what it is handling, stops consuming, drains, then `stopped`. */
  quit(): void {
    this.machine?.send({ type: "quit" });
  }

  /**
   * Restarts. `"process"` (the default, as the seed): the actor stops and the scheduler replaces the
   * process with a new run of the same program once everything drained. `"actor"`: only this actor
   * re-creates its consumer and bindings, in place.
   */
  restart(mode: "actor" | "process" = "process"): void {
    this.machine?.send({ type: "restart", mode });
  }

  /**
   * Runs `callback` after `ms` milliseconds, in turn with the actor's messages (the seed's
   * `add_timeout`). Cancelled when the actor stops. Returns a function that cancels it.
   */
  addTimeout(ms: number, callback: () => unknown): () => void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.mailbox.push({ kind: "timer", run: callback });
      this.host?.wake(this);
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

  /** Resolves when the actor reached a final state (stopped or failed). */
  whenDone(): Promise<void> {
    if (!this.finished) throw new ActorError("NOT_RUNNING", `actor ${this.id} was never started`);
    return this.finished;
  }

  // ---- for subclasses -------------------------------------------------------------------------

  /** The bindings to consume: those given at construction (subclasses add their own). */
  protected baseBindings(): ExchangeQueueKeys {
    return this.options.bindings ?? [];
  }

  /** The consumer while the actor consumes (undefined while starting, restarting or stopped). */
  protected get currentConsumer(): Consumer | undefined {
    return this.consumer;
  }

  /** Sends an event to the lifecycle machine. */
  protected sendToMachine(event: Parameters<Actor<typeof processorMachine>["send"]>[0]): void {
    this.machine?.send(event);
  }

  /** @internal Announces the actor to inspection listeners (on start, after a change of groups or bindings). */
  announce(): void {
    const host = this.host;
    if (!host?.inspection.active || !this.machine) return;
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
    });
  }

  // ---- used by the scheduler --------------------------------------------------------------------

  /** Groups the actor belongs to when it starts (applications take them from their options). */
  protected initialGroups(): string[] {
    return [];
  }

  /** @internal Starts the actor on a host (the scheduler). */
  start(host: ActorHost): void {
    if (this.machine) throw new ActorError("NOT_RUNNING", `actor ${this.id} was already started`);
    this.host = host;
    let previous = "";
    const machine = createActor(processorMachine, {
      input: { lifecycle: { start: () => this.startConsuming(), drain: () => this.drain() }, supervision: this.options.supervision, groups: this.initialGroups() },
      inspect: (event) => {
        if (event.type !== "@xstate.snapshot" || event.actorRef !== machine || !host.inspection.active) return;
        const state = statePath((event.snapshot as { value?: unknown }).value);
        if (state !== previous) host.inspection.emit({ kind: "transition", actorId: this.id, at: Date.now(), event: event.event.type, from: previous, to: state });
        previous = state;
      },
    });
    this.machine = machine;
    this.finished = new Promise((resolve) => {
      machine.subscribe({
        next: (snapshot) => {
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

  /** @internal Whether the actor can start a mailbox item now. */
  get runnable(): boolean {
    return this.current === undefined && this.mailbox.size > 0;
  }

  /** @internal Handles the next mailbox item; returns a promise only when a handler went async. */
  step(): void | Promise<void> {
    const item = this.mailbox.shift();
    if (item === undefined) return;
    if (item.kind === "timer") return this.track(this.runTimer(item.run));
    return this.track(this.deliver(item.incoming, item.settle));
  }

  /** Counters including the consumer's (invalid bodies never reach the mailbox). */
  countersView(): MessageCounters {
    const consumer: Partial<ConsumerCounters> = this.consumer?.counters ?? {};
    const { received, handled, rejected, unhandled, sent } = this.counters;
    return { received, handled, rejected, unhandled, invalid: consumer.invalid ?? 0, sent: sent + (this.ownProducer?.stats.sent ?? 0) };
  }

  // ---- internals --------------------------------------------------------------------------------

  private requireHost(): ActorHost {
    if (!this.host) throw new ActorError("NOT_RUNNING", `actor ${this.id} is not running: add it to a Scheduler first`);
    return this.host;
  }

  private *allBindings(): Iterable<readonly [ExchangeDefinition, ReadonlyArray<readonly [QueueRef, string]>]> {
    yield* this.baseBindings();
    for (const [exchange, queue, routingKey] of this.runtimeBindings) yield [exchange, [[queue, routingKey]]];
  }

  /** @internal Asks the actor to drain and stop (scheduler shutdown). */
  shutdown(): void {
    // An actor that already stopped (quit) has nothing to drain; XState would warn about the event.
    if (this.machine?.getSnapshot().status !== "active") return;
    this.machine.send({ type: "shutdown" });
  }

  /** @internal Closes the processor's own producer, if it made one. */
  async closeProducer(): Promise<void> {
    await this.ownProducer?.close();
  }

  private track(result: void | Promise<void>): void | Promise<void> {
    if (result === undefined) return;
    const running = result.then(undefined, (error: unknown) => this.host?.report(this, error, "delivery failed")).finally(() => {
      this.current = undefined;
      if (this.mailbox.size > 0) this.host?.wake(this);
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

  private enqueue(incoming: Incoming): HandlerOutcome | Promise<HandlerOutcome> {
    // A delivery arriving while the actor drains goes back to its queue, for another instance or a later run.
    if (!this.accepting) return "requeue";
    return new Promise<HandlerOutcome>((settle) => {
      this.mailbox.push({ kind: "delivery", incoming, settle });
      this.host?.wake(this);
    });
  }

  private deliver(incoming: Incoming, settle: (outcome: HandlerOutcome) => void): void | Promise<void> {
    const host = this.requireHost();
    const { message, delivery } = incoming;
    this.counters.received += 1;
    if (host.inspection.active) this.emitMessage("received", incoming);
    if (this.duplicates?.seen(delivery.properties.messageId)) {
      this.counters.duplicates += 1;
      settle("ack");
      return;
    }
    const handlers = this.handlers.get(key(message.type, message.name));
    if (handlers === undefined) {
      this.counters.unhandled += 1;
      settle("ack");
      return;
    }
    const outcome = runHandlers(handlers, this, { message, body: incoming.body, delivery, reply: incoming.reply });
    if (outcome instanceof Promise) return outcome.then((result) => this.settle(incoming, result, settle));
    this.settle(incoming, outcome, settle);
  }

  private settle(incoming: Incoming, outcome: HandlersOutcome, settle: (outcome: HandlerOutcome) => void): void {
    for (const error of outcome.failures) {
      this.counters.handlerErrors += 1;
      this.host?.report(this, error, `handler for ${incoming.message.type} "${incoming.message.name}" failed; message dead-lettered`);
    }
    if (outcome.rejectReason !== undefined) {
      this.counters.rejected += 1;
      if (this.host?.inspection.active) this.emitMessage("rejected", incoming, outcome.rejectReason);
      settle(reject(outcome.rejectReason, outcome.failures.length > 0 ? "HANDLER_ERROR" : "REJECTED"));
      return;
    }
    this.counters.handled += 1;
    if (this.host?.inspection.active) this.emitMessage("acked", incoming);
    settle("ack");
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

  private async startConsuming(): Promise<void> {
    const host = this.requireHost();
    const consumer = createConsumer(
      host.broker,
      {
        bindings: [...this.allBindings()],
        prefetch: this.options.prefetch ?? 100,
        ...(this.options.maxBytes === undefined ? {} : { maxBytes: this.options.maxBytes }),
        fingerprint: this.fingerprint,
        onError: (error) => host.report(this, error, "consumer error"),
      },
      (incoming) => this.enqueue(incoming),
    );
    this.consumer = consumer;
    this.accepting = true;
    try {
      await consumer.ready();
    } catch (error) {
      this.accepting = false;
      this.consumer = undefined;
      await consumer.close().catch((closeError: unknown) => host.report(this, closeError, "closing a consumer that failed to start"));
      throw error;
    }
    this.announce();
  }

  private async drain(): Promise<void> {
    this.accepting = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Let a synchronous handler that triggered the drain (e.g. `quit`) finish and be acked first.
    await Promise.resolve();
    for (const item of this.mailbox.takeAll()) if (item.kind === "delivery") item.settle("requeue");
    await this.current;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.close();
  }
}
