import type { Delivery, DeliveryHandler, Disposition, MessageProperties } from "../driver/BrokerDriver.js";
import type { TransportError } from "../errors.js";
import { memoryError } from "./errors.js";

/** A message sitting in (or delivered from) one queue. @internal */
export interface QueuedMessage {
  readonly body: Uint8Array;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  redelivered: boolean;
  /** Failed deliveries so far (quorum queues report it as `x-delivery-count`). */
  deliveryCount: number;
  /** Epoch ms after which the message is dead (0: never). */
  expiresAt: number;
  /** Position in the queue's publish order; returned messages go back to their place. */
  seq: number;
}

/** Why a message is dead-lettered, as RabbitMQ writes it in `x-death`. @internal */
export type DeadLetterReason = "rejected" | "expired" | "delivery_limit";

/** What a queue needs from its broker. @internal */
export interface QueueHost {
  deadLetter(queue: MemoryQueue, message: QueuedMessage, reason: DeadLetterReason): void;
  removeQueue(queue: MemoryQueue): void;
}

/** One consumer attached to a queue. @internal */
export interface QueueConsumer {
  readonly handler: DeliveryHandler;
  /** Most unsettled deliveries at once (Infinity for an unlimited prefetch). */
  readonly prefetch: number;
  /**
   * Consumes without acks: a delivery leaves the queue when it is handed over, its disposition is
   * ignored and a dropped consumer gives nothing back. `prefetch` still bounds what the handler
   * holds (the flow control the RabbitMQ driver does with cancel and consume). @default false
   */
  readonly noAck?: boolean;
  /** Told when a consumer without acks comes to hold `prefetch` deliveries: where RabbitMQ's driver pauses it. */
  readonly onFull?: () => void;
  readonly exclusive: boolean;
  /** Deliveries handed to the handler and not settled yet. */
  readonly unsettled: Set<QueuedMessage>;
  /** Reports handler failures (thrown errors, invalid dispositions). */
  readonly onError: (error: unknown) => void;
  /** False once cancelled: it gets nothing new. */
  active: boolean;
  /** Called once `unsettled` becomes empty after cancellation. */
  idle: (() => void) | undefined;
  /** Given to each delivery ({@link Delivery.signal}); aborted by the consumer's owner when it is cancelled or dropped. */
  readonly signal?: AbortSignal;
  /** Called when the queue is deleted under the consumer (RabbitMQ's basic.cancel from the server). */
  readonly onCancel?: () => void;
}

/** Deliveries made in one go before yielding to the event loop, so a busy queue cannot starve I/O. */
const DRAIN_BATCH = 4096;

/** Queue arguments a redeclaration must repeat exactly (the ones RabbitMQ checks). */
const CHECKED_ARGUMENTS = [
  "x-message-ttl", "x-expires", "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-length",
  "x-max-length-bytes", "x-max-priority", "x-overflow", "x-delivery-limit", "x-queue-type", "x-single-active-consumer",
] as const;

/**
 * A queue of the in-memory broker: messages in publish order, consumers served round robin
 * within their prefetch, settlement, dead-lettering, TTL and idle expiry.
 *
 * Deliveries happen in a drain scheduled as a microtask (never inside `publish`), so code that
 * publishes and then attaches listeners sees the same thing it would with RabbitMQ.
 * @internal
 */
export class MemoryQueue {
  readonly quorum: boolean;
  readonly deliveryLimit: number | undefined;
  readonly deadLetterExchange: string | undefined;
  readonly deadLetterRoutingKey: string | undefined;
  readonly messageTtl: number | undefined;
  readonly expires: number | undefined;
  readonly consumers: QueueConsumer[] = [];
  hadConsumer = false;
  deleted = false;

  private items: Array<QueuedMessage | undefined> = [];
  private head = 0;
  private nextSeq = 0;
  private rr = 0;
  private drainScheduled = false;
  private draining = false;
  private ttlTimer: NodeJS.Timeout | undefined;
  private ttlDue = 0;
  private expiresTimer: NodeJS.Timeout | undefined;
  private readonly drainTask = (): void => this.drain();

  constructor(
    private readonly host: QueueHost,
    readonly name: string,
    readonly durable: boolean,
    /** The connection owning an exclusive queue, null when shared. */
    readonly owner: object | null,
    readonly autoDelete: boolean,
    readonly args: Record<string, unknown>,
  ) {
    this.quorum = args["x-queue-type"] === "quorum";
    this.deliveryLimit = this.quorum ? optionalInteger(args, "x-delivery-limit", name, 0) : undefined;
    const dlx = args["x-dead-letter-exchange"];
    this.deadLetterExchange = typeof dlx === "string" ? dlx : undefined;
    const dlrk = args["x-dead-letter-routing-key"];
    this.deadLetterRoutingKey = typeof dlrk === "string" ? dlrk : undefined;
    this.messageTtl = optionalInteger(args, "x-message-ttl", name, 0);
    this.expires = optionalInteger(args, "x-expires", name, 1);
  }

  /**
   * Validates a declaration of a new queue (RabbitMQ refuses these before creating anything).
   * @throws TransportError PRECONDITION_FAILED for invalid arguments or properties.
   */
  static validate(name: string, durable: boolean, exclusive: boolean, autoDelete: boolean, args: Record<string, unknown>): void {
    const type = args["x-queue-type"] ?? "classic";
    if (type !== "classic" && type !== "quorum") {
      throw memoryError("PRECONDITION_FAILED", `invalid arg 'x-queue-type' for ${describeQueue(name)}: the in-memory broker supports 'classic' and 'quorum', not '${String(type)}'`, { queue: name });
    }
    if (type === "quorum") {
      const invalid = !durable ? "non-durable" : exclusive ? "exclusive-owner" : autoDelete ? "auto-delete" : undefined;
      if (invalid !== undefined) throw memoryError("PRECONDITION_FAILED", `invalid property '${invalid}' for ${describeQueue(name)}`, { queue: name });
    }
    if (args["x-dead-letter-routing-key"] !== undefined && args["x-dead-letter-exchange"] === undefined) {
      throw memoryError("PRECONDITION_FAILED", `invalid arg 'x-dead-letter-routing-key' for ${describeQueue(name)}: routing_key_but_no_dlx_defined`, { queue: name });
    }
    for (const key of ["x-dead-letter-exchange", "x-dead-letter-routing-key"]) {
      if (args[key] !== undefined && typeof args[key] !== "string") {
        throw memoryError("PRECONDITION_FAILED", `invalid arg '${key}' for ${describeQueue(name)}: not a string`, { queue: name });
      }
    }
    optionalInteger(args, "x-message-ttl", name, 0);
    optionalInteger(args, "x-expires", name, 1);
    optionalInteger(args, "x-delivery-limit", name, 0);
  }

  /**
   * Checks a redeclaration against this queue.
   * @throws TransportError PRECONDITION_FAILED naming the first property that differs.
   */
  assertEquivalent(durable: boolean, autoDelete: boolean, args: Record<string, unknown>): void {
    if (durable !== this.durable) throw inequivalent("durable", this.name, durable, this.durable);
    if (autoDelete !== this.autoDelete) throw inequivalent("auto_delete", this.name, autoDelete, this.autoDelete);
    for (const key of CHECKED_ARGUMENTS) {
      let received = args[key];
      let current = this.args[key];
      if (key === "x-queue-type") {
        received ??= "classic";
        current ??= "classic";
      }
      if (received !== current) throw inequivalent(key, this.name, received, current);
    }
  }

  /** Messages waiting (not delivered or delivered and returned). */
  get messageCount(): number {
    return this.items.length - this.head;
  }

  /** Adds a message at the tail. */
  enqueue(message: QueuedMessage): void {
    message.seq = this.nextSeq++;
    if (this.messageTtl !== undefined) {
      const due = Date.now() + this.messageTtl;
      if (message.expiresAt === 0 || due < message.expiresAt) message.expiresAt = due;
    }
    this.items.push(message);
    if (this.consumers.length > 0 || message.expiresAt !== 0) this.scheduleDrain();
  }

  /** Attaches a consumer. @throws TransportError ACCESS_REFUSED when an exclusive consumer is in the way. */
  addConsumer(consumer: QueueConsumer): void {
    if (this.consumers.some((c) => c.exclusive) || (consumer.exclusive && this.consumers.length > 0)) {
      throw memoryError("ACCESS_REFUSED", `${describeQueue(this.name)} in exclusive use`, { queue: this.name });
    }
    this.consumers.push(consumer);
    this.hadConsumer = true;
    this.clearExpiresTimer();
    this.scheduleDrain();
  }

  /** Detaches a consumer: it gets nothing new; what it holds can still be settled. */
  cancelConsumer(consumer: QueueConsumer): void {
    consumer.active = false;
    const index = this.consumers.indexOf(consumer);
    if (index < 0) return;
    this.consumers.splice(index, 1);
    if (this.rr > index) this.rr--;
  }

  /** Cancels a consumer and takes back everything it has not settled, as a dropped channel does. */
  abortConsumer(consumer: QueueConsumer): void {
    this.cancelConsumer(consumer);
    const held = [...consumer.unsettled];
    consumer.unsettled.clear();
    // Without acks the broker forgot them when it handed them over: they stay with the consumer.
    if (!this.deleted && consumer.noAck !== true) for (const message of held) this.returnMessage(message);
    consumer.idle?.();
    consumer.idle = undefined;
    this.consumerGone();
  }

  /** After the last consumer left: auto-delete, or start the idle-expiry clock. */
  consumerGone(): void {
    if (this.deleted || this.consumers.length > 0) return;
    if (this.autoDelete && this.hadConsumer) {
      this.host.removeQueue(this);
      return;
    }
    this.touch();
    if (this.messageCount > 0) this.scheduleDrain();
  }

  /** The queue was used (declared): restarts the `x-expires` clock when nobody consumes. */
  touch(): void {
    if (this.expires === undefined || this.consumers.length > 0 || this.deleted) return;
    this.clearExpiresTimer();
    this.expiresTimer = setTimeout(() => {
      this.expiresTimer = undefined;
      if (this.consumers.length === 0 && !this.deleted) this.host.removeQueue(this);
    }, this.expires);
    this.expiresTimer.unref();
  }

  /** Discards all messages; returns how many there were. */
  purge(): number {
    const count = this.messageCount;
    this.items = [];
    this.head = 0;
    return count;
  }

  /** Marks the queue deleted: messages are dropped, consumers detached, timers stopped. */
  destroy(): void {
    this.deleted = true;
    this.purge();
    for (const consumer of this.consumers) consumer.active = false;
    this.consumers.length = 0;
    this.clearExpiresTimer();
    if (this.ttlTimer !== undefined) clearTimeout(this.ttlTimer);
    this.ttlTimer = undefined;
  }

  /** Applies a consumer's disposition of a delivery (ignored when it was already taken back). */
  settle(consumer: QueueConsumer, message: QueuedMessage, disposition: Disposition): void {
    if (!consumer.unsettled.delete(message)) return;
    if (!this.deleted) {
      // Without acks the queue let go of the message when it delivered it: only the window frees.
      if (consumer.noAck !== true && disposition === "requeue") this.returnMessage(message);
      else if (consumer.noAck !== true && disposition !== "ack") {
        if (disposition !== "reject") consumer.onError(new TypeError(`invalid disposition ${JSON.stringify(disposition)} (expected ack, reject or requeue); rejected`));
        this.host.deadLetter(this, message, "rejected");
      }
      if (!this.draining && this.items.length > this.head) this.scheduleDrain();
    }
    if (consumer.unsettled.size === 0 && consumer.idle !== undefined) {
      const idle = consumer.idle;
      consumer.idle = undefined;
      idle();
    }
  }

  /** Puts a message back in its place (it was delivered before everything behind it). */
  private returnMessage(message: QueuedMessage): void {
    message.redelivered = true;
    if (this.quorum) {
      message.deliveryCount++;
      if (this.deliveryLimit !== undefined && message.deliveryCount > this.deliveryLimit) {
        this.host.deadLetter(this, message, "delivery_limit");
        return;
      }
    }
    let i = this.head;
    while (i < this.items.length && (this.items[i]?.seq ?? 0) < message.seq) i++;
    if (i === this.head && this.head > 0) this.items[--this.head] = message;
    else this.items.splice(i, 0, message);
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.deleted) return;
    this.drainScheduled = true;
    queueMicrotask(this.drainTask);
  }

  private drain(): void {
    this.drainScheduled = false;
    if (this.deleted) return;
    this.draining = true;
    let budget = DRAIN_BATCH;
    try {
      const consumers = this.consumers;
      while (this.head < this.items.length) {
        if (budget-- === 0) {
          // Let I/O and timers run; the rest is delivered on the next turn.
          this.drainScheduled = true;
          setImmediate(this.drainTask);
          return;
        }
        const message = this.items[this.head] as QueuedMessage;
        if (message.expiresAt !== 0 && message.expiresAt < Date.now()) {
          this.shift();
          this.host.deadLetter(this, message, "expired");
          continue;
        }
        // Round robin: the next consumer after the last one served that has room.
        const n = consumers.length;
        let consumer: QueueConsumer | undefined;
        for (let k = 0; k < n; k++) {
          const candidate = consumers[(this.rr + k) % n] as QueueConsumer;
          if (candidate.unsettled.size < candidate.prefetch) {
            consumer = candidate;
            this.rr = (this.rr + k + 1) % n;
            break;
          }
        }
        if (consumer === undefined) break;
        this.shift();
        this.deliver(consumer, message);
        if (this.deleted) return;
      }
      this.armTtlTimer();
    } finally {
      this.draining = false;
    }
  }

  private shift(): void {
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * `basic.get` without auto-ack: hands the head message to `holder` (unsettled until
   * {@link settle}), dead-lettering expired messages on the way; undefined when the queue is empty.
   */
  get(holder: QueueConsumer): { message: QueuedMessage; delivery: Delivery } | undefined {
    while (this.head < this.items.length && !this.deleted) {
      const message = this.items[this.head] as QueuedMessage;
      this.shift();
      if (message.expiresAt !== 0 && message.expiresAt < Date.now()) {
        this.host.deadLetter(this, message, "expired");
        continue;
      }
      holder.unsettled.add(message);
      // RabbitMQ 3.10's quorum queues put x-delivery-count on every basic.get, 0 included.
      return { message, delivery: this.toDelivery(message, true) };
    }
    return undefined;
  }

  private toDelivery(message: QueuedMessage, withCount: boolean): Delivery {
    let properties = message.properties;
    if (this.quorum && (withCount || message.deliveryCount > 0)) {
      properties = { ...properties, headers: { ...properties.headers, "x-delivery-count": message.deliveryCount } };
    }
    return { body: message.body, exchange: message.exchange, routingKey: message.routingKey, redelivered: message.redelivered, properties };
  }

  private deliver(consumer: QueueConsumer, message: QueuedMessage): void {
    consumer.unsettled.add(message);
    if (consumer.noAck === true && consumer.unsettled.size === consumer.prefetch) consumer.onFull?.();
    const delivery = this.toDelivery(message, false);
    if (consumer.signal !== undefined) delivery.signal = consumer.signal;
    let result: Disposition | Promise<Disposition>;
    try {
      result = consumer.handler(delivery);
    } catch (error) {
      consumer.onError(error);
      this.settle(consumer, message, "reject");
      return;
    }
    if (typeof result === "string") {
      this.settle(consumer, message, result);
    } else {
      Promise.resolve(result).then(
        (disposition) => this.settle(consumer, message, disposition),
        (error: unknown) => {
          // A failing handler must not requeue forever: its delivery is dead-lettered.
          consumer.onError(error);
          this.settle(consumer, message, "reject");
        },
      );
    }
  }

  /** One timer for the head's expiry: classic queues expire messages only at the head. */
  private armTtlTimer(): void {
    const head = this.items[this.head];
    if (head === undefined || head.expiresAt === 0) return;
    if (this.ttlTimer !== undefined) {
      if (this.ttlDue <= head.expiresAt) return;
      clearTimeout(this.ttlTimer);
    }
    this.ttlDue = head.expiresAt;
    this.ttlTimer = setTimeout(() => {
      this.ttlTimer = undefined;
      this.scheduleDrain();
    }, Math.max(0, head.expiresAt - Date.now() + 1));
    this.ttlTimer.unref();
  }

  private clearExpiresTimer(): void {
    if (this.expiresTimer !== undefined) clearTimeout(this.expiresTimer);
    this.expiresTimer = undefined;
  }
}

/** `queue 'q' in vhost '/'`, as RabbitMQ names a queue in its errors. */
export function describeQueue(name: string): string {
  return `queue '${name}' in vhost '/'`;
}

function inequivalent(what: string, queue: string, received: unknown, current: unknown): TransportError {
  const show = (v: unknown): string => (v === undefined ? "none" : `'${String(v)}'`);
  return memoryError("PRECONDITION_FAILED", `inequivalent arg '${what}' for ${describeQueue(queue)}: received ${show(received)} but current is ${show(current)}`, { queue },
  );
}

function optionalInteger(args: Record<string, unknown>, key: string, queue: string, min: number): number | undefined {
  const value = args[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw memoryError("PRECONDITION_FAILED", `invalid arg '${key}' for ${describeQueue(queue)}: ${JSON.stringify(value)} is not an integer >= ${min}`, { queue });
  }
  return value;
}
