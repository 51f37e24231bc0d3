import type { ExchangeDefinition } from "@postage/core";
import type {
  BindingSpec,
  BrokerDriver,
  Delivery,
  DeliveryHandler,
  DriverConsumer,
  DriverConsumerOptions,
  DriverPublisher,
  DriverReplyChannel,
  MessageProperties,
  ReplyChannelEvents,
  ReplyChannelOptions,
  PublishOptions,
  QueueSpec,
} from "../driver/BrokerDriver.js";
import { FATAL_SETUP_CODES } from "../driver/fatalSetupCodes.js";
import { TransportError } from "../errors.js";
import { memoryError } from "./errors.js";
import { REPLY_TO, type MemoryBroker, type QueueDeclareResult } from "./MemoryBroker.js";
import type { MemoryQueue, QueueConsumer } from "./MemoryQueue.js";
import { browseMemoryQueue } from "./browseMemoryQueue.js";
import type { BrowseOptions, BrowseResult, BrowseVisitor } from "../driver/QueueBrowser.js";

/** Options of a {@link MemoryDriver}. */
export interface MemoryDriverOptions {
  /**
   * Receives failures of user code the broker cannot hand back to a caller: a delivery handler
   * that throws, rejects or resolves to something that is not a disposition (the delivery is then
   * rejected, i.e. dead-lettered), an `onReply` callback that throws, and a consumer cancelled by
   * the deletion of its queue (`BROKER_ERROR`, broker code `CANCEL_FORCED`) or refused when it
   * declares the queue again (as the RabbitMQ driver reports them).
   * @default reports through `process.emitWarning`
   */
  onError?: (error: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

function reportAsWarning(error: unknown): void {
  process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: "POSTAGE_MEMORY_HANDLER" });
}

/**
 * A connection to a {@link MemoryBroker}, implementing {@link BrokerDriver} with RabbitMQ 3.10's
 * semantics. Several drivers on one broker behave like several processes on one RabbitMQ:
 * exclusive queues belong to the driver that declared them and are deleted when it closes.
 *
 * Never reconnects (there is nothing to lose). After {@link close} every operation rejects with
 * a `CLOSED` {@link TransportError}.
 *
 * @example
 * const driver = memoryDriver("memory://tests");
 * const consumer = driver.createConsumer({ queue: { name: "jobs" } }, (d) => "ack");
 * await consumer.ready;
 * await driver.createPublisher({ confirm: true }).publish("", "jobs", body, {});
 */
export class MemoryDriver implements BrokerDriver {
  /** `memory://<broker name>`. */
  readonly displayUrl: string;
  /** @internal */
  readonly onError: (error: unknown) => void;
  private closing: Promise<void> | undefined;
  private readonly publishers = new Set<MemoryPublisher>();
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly replyChannels = new Set<MemoryReplyChannel>();

  constructor(
    /** The broker state this driver connects to. */
    readonly broker: MemoryBroker,
    options: MemoryDriverOptions = {},
  ) {
    this.displayUrl = `memory://${broker.name}`;
    this.onError = options.onError ?? reportAsWarning;
  }

  /** Whether {@link close} or {@link abort} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  async declareExchange(exchange: ExchangeDefinition): Promise<void> {
    this.assertOpen();
    this.broker.declareExchange(exchange);
  }

  async deleteExchange(name: string): Promise<void> {
    this.assertOpen();
    this.broker.deleteExchange(name);
  }

  async declareQueue(queue: QueueSpec): Promise<QueueDeclareResult> {
    this.assertOpen();
    return this.broker.declareQueue(queue, this);
  }

  async deleteQueue(name: string): Promise<void> {
    this.assertOpen();
    this.broker.deleteQueue(name, this);
  }

  async bindQueue(binding: BindingSpec): Promise<void> {
    this.assertOpen();
    this.broker.bindQueue(binding, this);
  }

  async unbindQueue(binding: BindingSpec): Promise<void> {
    this.assertOpen();
    this.broker.unbindQueue(binding, this);
  }

  async browseQueue(queue: string, visit: BrowseVisitor, options?: BrowseOptions): Promise<BrowseResult> {
    this.assertOpen();
    return browseMemoryQueue(this.broker.queueForConsumer(queue, this), this.onError, visit, options);
  }

  /** A publisher; `confirm` changes nothing here (every publish is settled when it returns). */
  createPublisher(_options: { confirm: boolean }): DriverPublisher {
    const publisher = new MemoryPublisher(this);
    if (this.closed) void publisher.close(); // deliberate: closing a fresh publisher is synchronous
    else this.publishers.add(publisher);
    return publisher;
  }

  createConsumer(options: DriverConsumerOptions, handler: DeliveryHandler): DriverConsumer {
    const consumer = new MemoryConsumer(this, options, handler);
    // On a closed driver the consumer's `ready` has already rejected: nothing to track.
    if (!this.closed) this.consumers.add(consumer);
    return consumer;
  }

  async createReplyChannel(onReply: (delivery: Delivery) => void, events?: ReplyChannelEvents, options?: ReplyChannelOptions): Promise<DriverReplyChannel> {
    this.assertOpen();
    const channel = new MemoryReplyChannel(this, onReply, options?.address ?? "direct-reply-to", events);
    this.replyChannels.add(channel);
    return channel;
  }

  /** True until {@link close}: there is no connection to lose. */
  get connected(): boolean {
    return !this.closed;
  }

  /** Always undefined: there is no connection to lose. */
  readonly reconnectedAt = undefined;

  /** Resolves at once (rejects with `CLOSED` after {@link close}). */
  ready(_options?: { timeout?: number }): Promise<void> {
    return this.closed ? Promise.reject(this.closedError()) : RESOLVED;
  }

  /**
   * Closes publishers and reply channels, then consumers (awaiting their running handlers), then
   * deletes this driver's exclusive queues. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Drops the connection the way a crashed process does: consumers stop at once, their unsettled
   * deliveries go back to their queues (marked redelivered) and dispositions arriving later are
   * ignored; exclusive queues are deleted. For tests of failure handling. Idempotent.
   */
  abort(): void {
    this.closing ??= RESOLVED;
    for (const publisher of this.publishers) void publisher.close(); // deliberate: synchronous underneath
    for (const channel of this.replyChannels) void channel.close(); // deliberate: synchronous underneath
    for (const consumer of this.consumers) consumer.abort();
    this.broker.releaseOwner(this);
  }

  /** @internal */
  publishNow(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options: PublishOptions | undefined): Promise<void> {
    try {
      this.broker.publish(exchange, routingKey, body, properties, options?.mandatory ?? true);
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @internal */
  assertOpen(): void {
    if (this.closing !== undefined) throw this.closedError();
  }

  /** @internal */
  closedError(what = "driver"): TransportError {
    return new TransportError("CLOSED", `the in-memory ${what} for ${this.displayUrl} is closed`);
  }

  /** @internal */
  forget(resource: MemoryPublisher | MemoryConsumer | MemoryReplyChannel): void {
    if (resource instanceof MemoryPublisher) this.publishers.delete(resource);
    else if (resource instanceof MemoryConsumer) this.consumers.delete(resource);
    else this.replyChannels.delete(resource);
  }

  private async shutdown(): Promise<void> {
    await Promise.all([...this.publishers, ...this.replyChannels].map((resource) => resource.close()));
    await Promise.all([...this.consumers].map((consumer) => consumer.close()));
    this.broker.releaseOwner(this);
  }
}

/** A publisher of a {@link MemoryDriver}. @internal */
class MemoryPublisher implements DriverPublisher {
  private closed = false;

  constructor(private readonly driver: MemoryDriver) {}

  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    if (this.closed) return Promise.reject(this.driver.closedError("publisher"));
    if (properties.replyTo === REPLY_TO) {
      // RabbitMQ only accepts this replyTo on a channel consuming from direct reply-to.
      return Promise.reject(memoryError("PRECONDITION_FAILED", "fast reply consumer does not exist (publish with replyTo 'amq.rabbitmq.reply-to' through a reply channel)", { exchange, routingKey }));
    }
    return this.driver.publishNow(exchange, routingKey, body, properties, options);
  }

  close(): Promise<void> {
    this.closed = true;
    this.driver.forget(this);
    return RESOLVED;
  }
}

/** A reply channel of a {@link MemoryDriver}: a direct reply-to pseudo-queue, or a reply queue. @internal */
class MemoryReplyChannel implements DriverReplyChannel {
  replyTo: string;
  private closed = false;
  /** The reply queue's consumer and queue (`queue` address). */
  private fromQueue: { consumer: QueueConsumer; queue: MemoryQueue } | undefined;
  private readonly receive: (delivery: Delivery) => void;

  constructor(
    private readonly driver: MemoryDriver,
    onReply: (delivery: Delivery) => void,
    address: NonNullable<ReplyChannelOptions["address"]>,
    private readonly events: ReplyChannelEvents = {},
  ) {
    this.receive = (delivery) => {
      // Replies already on their way when the channel closed are dropped, as RabbitMQ does.
      if (this.closed) return;
      try {
        onReply(delivery);
      } catch (error) {
        driver.onError(error);
      }
    };
    this.replyTo = address === "direct-reply-to" ? driver.broker.openReplyTo(this.receive) : this.consumeReplyQueue();
  }

  /** Declares a reply queue and consumes it; returns its name. */
  private consumeReplyQueue(): string {
    const { broker } = this.driver;
    const name = broker.declareQueue({ name: "", exclusive: true, autoDelete: true }, this.driver).queue;
    // No acks on RabbitMQ: settled as soon as handed over, with no prefetch limit.
    const consumer: QueueConsumer = {
      handler: (delivery) => {
        this.receive(delivery);
        return "ack";
      },
      prefetch: Infinity,
      noAck: true,
      exclusive: false,
      unsettled: new Set(),
      onError: this.driver.onError,
      active: true,
      idle: undefined,
      onCancel: () => this.replyQueueDeleted(name),
    };
    const queue = broker.queueForConsumer(name, this.driver);
    queue.addConsumer(consumer);
    this.fromQueue = { consumer, queue };
    return name;
  }

  /** As the RabbitMQ driver does: replies would be lost, so a new queue, and the owner sends its calls again. */
  private replyQueueDeleted(name: string): void {
    if (this.closed) return;
    this.replyTo = this.consumeReplyQueue();
    const error = memoryError("BROKER_ERROR", `the RPC reply queue "${name}" was deleted: its calls are sent again with a new one`, { queue: name, brokerCode: "CANCEL_FORCED" });
    try {
      this.events.onLost?.(error);
    } catch (thrown) {
      this.driver.onError(thrown);
    }
  }

  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    if (this.closed) return Promise.reject(this.driver.closedError("reply channel"));
    // The channel's own address, as the RabbitMQ driver puts it (RabbitMQ rewrites the generic
    // direct reply-to name to the channel's pseudo-queue).
    const props = properties.replyTo === this.replyTo ? properties : { ...properties, replyTo: this.replyTo };
    return this.driver.publishNow(exchange, routingKey, body, props, options);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.fromQueue === undefined) this.driver.broker.closeReplyTo(this.replyTo);
      else this.fromQueue.queue.abortConsumer(this.fromQueue.consumer); // auto-delete: the queue goes with it
      this.driver.forget(this);
    }
    return RESOLVED;
  }
}

/** First retry after a cancel, as rabbitmq-client's `retryLow` (the delay doubles up to {@link RETRY_HIGH_MS}). */
const RETRY_LOW_MS = 250;
/** Longest delay between two retries, as rabbitmq-client's `retryHigh`. */
const RETRY_HIGH_MS = 3_000;

/**
 * A consumer of a {@link MemoryDriver}. When its queue is deleted under it (RabbitMQ: basic.cancel
 * from the server) it does what the RabbitMQ driver does: reports the cancel, declares the queue
 * again, waits for the deliveries it holds (they keep their signal: the channel is still open),
 * binds and consumes again; refused for good, it tells `onLost` once and keeps retrying.
 * @internal
 */
class MemoryConsumer implements DriverConsumer {
  queue: string;
  readonly ready: Promise<void>;
  private entry: QueueConsumer | undefined;
  private target: MemoryQueue | undefined;
  private closing: Promise<void> | undefined;
  /** Aborted when the consumer is closed or dropped: see {@link Delivery.signal}. */
  private readonly given = new AbortController();
  /** The bindings to declare again after a cancel: the options' and those added at run time. */
  private readonly bindings: Array<{ exchange: string; routingKey: string }>;
  /** Set while cancelled by the broker and not consuming again yet. */
  private resume: { timer: NodeJS.Timeout | undefined; attempt: number; lostTold: boolean; waiters: Array<{ resolve: () => void; reject: (error: TransportError) => void }> } | undefined;

  constructor(
    private readonly driver: MemoryDriver,
    private readonly options: DriverConsumerOptions,
    private readonly handler: DeliveryHandler,
  ) {
    this.queue = options.queue.name;
    this.bindings = [...(options.bindings ?? [])];
    this.ready = this.start();
    // Deliberate: a failed start is reported through `ready`; this only keeps it from being an
    // unhandled rejection when the caller closes the consumer without awaiting `ready`.
    this.ready.catch(() => undefined);
  }

  /** Resolves once consuming: after {@link ready}, at once unless the broker cancelled it and it has not resumed yet. */
  async consuming(): Promise<string> {
    await this.ready;
    if (this.closing !== undefined) throw this.driver.closedError("consumer");
    const resume = this.resume;
    if (resume !== undefined) await new Promise<void>((resolve, reject) => resume.waiters.push({ resolve, reject }));
    return this.queue;
  }

  async bind(exchange: string, routingKey: string): Promise<void> {
    await this.consuming();
    this.driver.assertOpen();
    this.driver.broker.bindQueue({ exchange, queue: this.queue, routingKey }, this.driver);
    if (!this.bindings.some((b) => b.exchange === exchange && b.routingKey === routingKey)) this.bindings.push({ exchange, routingKey });
  }

  async unbind(exchange: string, routingKey: string): Promise<void> {
    await this.consuming();
    this.driver.assertOpen();
    const index = this.bindings.findIndex((b) => b.exchange === exchange && b.routingKey === routingKey);
    if (index !== -1) this.bindings.splice(index, 1);
    this.driver.broker.unbindQueue({ exchange, queue: this.queue, routingKey }, this.driver);
  }

  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  /** Stops at once and hands unsettled deliveries back to the queue. */
  abort(): void {
    this.closing ??= RESOLVED;
    this.endResume(this.driver.closedError("consumer"));
    if (this.entry !== undefined && this.target !== undefined) this.target.abortConsumer(this.entry);
    this.given.abort(this.driver.closedError("consumer"));
    this.driver.forget(this);
  }

  // Runs synchronously (no await inside): the consumer is attached when createConsumer returns.
  private async start(): Promise<void> {
    this.driver.assertOpen();
    this.setUp();
  }

  /** Declares the queue, its exchanges and bindings, and attaches to it. @throws TransportError as the broker refuses. */
  private setUp(): void {
    const { broker } = this.driver;
    const { options } = this;
    for (const exchange of options.exchanges ?? []) broker.declareExchange(exchange);
    const { queue } = broker.declareQueue(options.queue, this.driver);
    for (const { exchange, routingKey } of this.bindings) broker.bindQueue({ exchange, queue, routingKey }, this.driver);
    const prefetch = options.prefetch ?? 100;
    const entry: QueueConsumer = {
      handler: this.handler,
      // AMQP's prefetch 0 means "no limit".
      prefetch: prefetch <= 0 ? Infinity : prefetch,
      exclusive: options.exclusiveConsumer ?? false,
      unsettled: new Set(),
      onError: this.driver.onError,
      active: true,
      idle: undefined,
      // Without acks nothing is redelivered: a delivery stays the handler's, whatever happens to the consumer.
      ...(options.noAck === true ? { noAck: true, ...(options.onPause ? { onFull: options.onPause } : {}) } : { signal: this.given.signal }),
      onCancel: () => this.cancelled(entry),
    };
    const target = broker.queueForConsumer(queue, this.driver);
    target.addConsumer(entry);
    this.queue = queue;
    this.entry = entry;
    this.target = target;
  }

  /** The broker cancelled this consumer (its queue was deleted): report it and set up again, as the RabbitMQ driver does. */
  private cancelled(entry: QueueConsumer): void {
    if (this.closing !== undefined || entry !== this.entry || this.resume !== undefined) return;
    this.driver.onError(memoryError("BROKER_ERROR", `consumer of queue '${this.queue}' cancelled by server (the queue was deleted)`, { queue: this.queue, brokerCode: "CANCEL_FORCED" }));
    this.resume = { timer: undefined, attempt: 0, lostTold: false, waiters: [] };
    this.retry();
  }

  private retry(): void {
    const resume = this.resume;
    if (resume === undefined) return;
    const delay = Math.min(RETRY_LOW_MS * 2 ** resume.attempt, RETRY_HIGH_MS);
    resume.attempt += 1;
    resume.timer = setTimeout(() => {
      resume.timer = undefined;
      this.tryResume(resume).catch((error: unknown) => this.driver.onError(error));
    }, delay);
    resume.timer.unref();
  }

  private async tryResume(resume: NonNullable<MemoryConsumer["resume"]>): Promise<void> {
    const { broker } = this.driver;
    try {
      // RabbitMQ's driver checks the queue can be declared while deliveries are still in hand...
      broker.declareQueue(this.options.queue, this.driver);
      // ...and the library sets up again only once they are settled.
      const held = this.entry;
      if (held !== undefined && held.unsettled.size > 0) await new Promise<void>((resolve) => (held.idle = chain(held.idle, resolve)));
      if (this.resume !== resume) return;
      this.setUp();
    } catch (error) {
      if (this.resume !== resume) return;
      // Once, as rabbitmq-client reports only the first failure of a setup it keeps retrying.
      if (resume.attempt === 1) this.driver.onError(error);
      if (!resume.lostTold && error instanceof TransportError && FATAL_SETUP_CODES.has(error.code)) {
        resume.lostTold = true;
        this.options.onLost?.(error);
      }
      this.retry();
      return;
    }
    this.endResume();
  }

  /** Ends a resumption: consuming again (no error) or closed (the waiters get the error). */
  private endResume(error?: TransportError): void {
    const resume = this.resume;
    if (resume === undefined) return;
    this.resume = undefined;
    if (resume.timer !== undefined) clearTimeout(resume.timer);
    for (const waiter of resume.waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }

  private async stop(): Promise<void> {
    await this.ready.catch(() => undefined); // a consumer that never started has nothing to stop
    this.endResume(this.driver.closedError("consumer"));
    const { entry, target } = this;
    if (entry !== undefined && target !== undefined) {
      target.cancelConsumer(entry);
      // Cancelled first, so what the handler's owner gives back now is not delivered to it again.
      this.given.abort(this.driver.closedError("consumer"));
      if (entry.unsettled.size > 0) await new Promise<void>((resolve) => (entry.idle = chain(entry.idle, resolve)));
      target.consumerGone();
    }
    this.driver.forget(this);
  }
}

/** Both callbacks, the earlier first (two parties may wait for one consumer's deliveries to settle). */
function chain(first: (() => void) | undefined, then: () => void): () => void {
  return first === undefined ? then : () => {
    first();
    then();
  };
}
