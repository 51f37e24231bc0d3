import { randomBytes } from "node:crypto";
import type { ExchangeDefinition, ExchangeType } from "@postage/core";
import type { BindingSpec, Delivery, MessageProperties, QueueSpec } from "../driver/BrokerDriver.js";
import type { TransportError } from "../errors.js";
import { memoryError } from "./errors.js";
import { MemoryExchange } from "./MemoryExchange.js";
import { describeQueue, MemoryQueue, type DeadLetterReason, type QueuedMessage, type QueueHost } from "./MemoryQueue.js";

/** Prefix of direct reply-to pseudo-queue names. */
export const REPLY_TO_PREFIX = "amq.rabbitmq.reply-to.";
/** What a client puts in `replyTo` to ask for direct reply-to (rewritten to the full name). */
export const REPLY_TO = "amq.rabbitmq.reply-to";

const EXCHANGE_TYPES: ReadonlySet<string> = new Set<ExchangeType>(["direct", "fanout", "topic", "headers"]);
const BUILT_IN_EXCHANGES: ReadonlyArray<[string, ExchangeType]> = [
  ["amq.direct", "direct"],
  ["amq.fanout", "fanout"],
  ["amq.topic", "topic"],
  ["amq.headers", "headers"],
  ["amq.match", "headers"],
];

/** Receives what is published to one direct reply-to name. @internal */
export type ReplyReceiver = (delivery: Delivery) => void;

/** Result of declaring a queue. */
export interface QueueDeclareResult {
  queue: string;
  messageCount: number;
  consumerCount: number;
}

/**
 * The state of one in-memory broker (one "vhost"): exchanges, queues, bindings and direct
 * reply-to channels, with RabbitMQ 3.10's routing and declaration rules. Several
 * {@link MemoryDriver}s (connections) can share one broker, e.g. to play two processes in a test.
 *
 * Methods throw a {@link TransportError}; drivers turn that into rejected promises. `owner`
 * arguments identify the connection (exclusive queues belong to one).
 *
 * Not a substitute for RabbitMQ: nothing is persisted (`durable` is only checked for
 * equivalence), and there are no limits (`x-max-length` is accepted and ignored).
 */
export class MemoryBroker implements QueueHost {
  private readonly exchanges = new Map<string, MemoryExchange>();
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly replies = new Map<string, ReplyReceiver>();

  /** @param name The broker's name (the host of a `memory://name` URL). */
  constructor(readonly name = "default") {
    for (const [exchange, type] of BUILT_IN_EXCHANGES) this.exchanges.set(exchange, new MemoryExchange(exchange, type, true, false, undefined));
  }

  /** Names of the exchanges that exist, the built-in `amq.*` ones included (the default exchange is not listed). */
  exchangeNames(): string[] {
    return [...this.exchanges.keys()];
  }

  /** Names of the queues that exist. */
  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** Messages waiting in a queue and its consumer count, or undefined when it does not exist. */
  inspectQueue(name: string): { messageCount: number; consumerCount: number } | undefined {
    const queue = this.queues.get(name);
    return queue === undefined ? undefined : { messageCount: queue.messageCount, consumerCount: queue.consumers.length };
  }

  /**
   * Declares an exchange, or checks it with `passive`.
   * @throws TransportError EXCHANGE_NOT_FOUND (passive, missing), PRECONDITION_FAILED (differs),
   * ACCESS_REFUSED (default exchange, new `amq.*` name), BROKER_ERROR (unknown type).
   */
  declareExchange(def: ExchangeDefinition): void {
    if (def.name === "") throw defaultExchangeRefused();
    if (def.passive) {
      this.exchange(def.name);
      return;
    }
    if (!EXCHANGE_TYPES.has(def.type)) throw memoryError("BROKER_ERROR", `unknown exchange type '${String(def.type)}'`, { brokerCode: "COMMAND_INVALID", exchange: def.name });
    const existing = this.exchanges.get(def.name);
    if (existing === undefined) {
      if (def.name.startsWith("amq.")) throw memoryError("ACCESS_REFUSED", `exchange name '${def.name}' contains reserved prefix 'amq.*'`, { exchange: def.name });
      this.exchanges.set(def.name, new MemoryExchange(def.name, def.type, def.durable, def.autoDelete, def.arguments));
      return;
    }
    const check = (what: string, received: unknown, current: unknown): void => {
      if (received !== current) {
        throw memoryError("PRECONDITION_FAILED", `inequivalent arg '${what}' for exchange '${def.name}' in vhost '/': received '${String(received)}' but current is '${String(current)}'`, { exchange: def.name },
        );
      }
    };
    check("type", def.type, existing.type);
    check("durable", def.durable, existing.durable);
    check("auto_delete", def.autoDelete, existing.autoDelete);
    check("alternate-exchange", def.arguments?.["alternate-exchange"], existing.args?.["alternate-exchange"]);
  }

  /**
   * Deletes an exchange and its bindings; a missing exchange is fine (as in RabbitMQ 3.10).
   * @throws TransportError ACCESS_REFUSED for the default and built-in exchanges.
   */
  deleteExchange(name: string): void {
    if (name === "") throw defaultExchangeRefused();
    if (BUILT_IN_EXCHANGES.some(([builtIn]) => builtIn === name)) {
      throw memoryError("ACCESS_REFUSED", `deletion of system exchange '${name}' is not allowed`, { exchange: name });
    }
    this.exchanges.delete(name);
  }

  /**
   * Declares a queue (or checks it with `passive`). An empty name creates a server-named
   * `amq.gen-...` queue. `owner` becomes the owner of an exclusive queue.
   * @throws TransportError QUEUE_NOT_FOUND (passive, missing), RESOURCE_LOCKED (exclusive to another
   * connection, or exclusivity differs), PRECONDITION_FAILED (differs, invalid arguments), ACCESS_REFUSED (new `amq.*` name).
   */
  declareQueue(spec: QueueSpec, owner: object): QueueDeclareResult {
    const args = spec.arguments ?? {};
    if (spec.passive) {
      const queue = this.queue(spec.name, owner);
      queue.touch();
      return { queue: queue.name, messageCount: queue.messageCount, consumerCount: queue.consumers.length };
    }
    const durable = spec.durable ?? false;
    const exclusive = spec.exclusive ?? false;
    const autoDelete = spec.autoDelete ?? false;
    let name = spec.name;
    const existing = name === "" ? undefined : this.queues.get(name);
    if (existing !== undefined) {
      if (existing.owner !== (exclusive ? owner : null)) throw locked(name);
      existing.assertEquivalent(durable, autoDelete, args);
      existing.touch();
      return { queue: name, messageCount: existing.messageCount, consumerCount: existing.consumers.length };
    }
    if (name.startsWith("amq.")) throw memoryError("ACCESS_REFUSED", `queue name '${name}' contains reserved prefix 'amq.*'`, { queue: name });
    MemoryQueue.validate(name, durable, exclusive, autoDelete, args);
    if (name === "") {
      do name = `amq.gen-${randomBytes(16).toString("base64url")}`;
      while (this.queues.has(name));
    }
    const queue = new MemoryQueue(this, name, durable, exclusive ? owner : null, autoDelete, { ...args });
    this.queues.set(name, queue);
    queue.touch();
    return { queue: name, messageCount: 0, consumerCount: 0 };
  }

  /**
   * Deletes a queue, its messages and bindings; consumers on it are cancelled (told through
   * `onCancel`, as RabbitMQ sends basic.cancel). A missing queue is fine. Returns the number of messages dropped.
   * @throws TransportError RESOURCE_LOCKED when it is exclusive to another connection.
   */
  deleteQueue(name: string, owner: object): number {
    const queue = this.queues.get(name);
    if (queue === undefined) return 0;
    if (queue.owner !== null && queue.owner !== owner) throw locked(name);
    const count = queue.messageCount;
    const cancelled = [...queue.consumers];
    this.removeQueue(queue);
    for (const consumer of cancelled) consumer.onCancel?.();
    return count;
  }

  /** Drops every message of a queue; returns how many. @throws TransportError QUEUE_NOT_FOUND, RESOURCE_LOCKED. */
  purgeQueue(name: string, owner: object): number {
    return this.queue(name, owner).purge();
  }

  /**
   * Binds a queue to an exchange (idempotent). `arguments` matter for headers exchanges.
   * @throws TransportError EXCHANGE_NOT_FOUND, QUEUE_NOT_FOUND, RESOURCE_LOCKED, ACCESS_REFUSED (default exchange).
   */
  bindQueue(binding: BindingSpec, owner: object): void {
    if (binding.exchange === "") throw defaultExchangeRefused();
    const exchange = this.exchange(binding.exchange);
    const queue = this.queue(binding.queue, owner);
    exchange.bind(queue, binding.routingKey, binding.arguments);
  }

  /**
   * Removes a binding; a binding, queue or exchange that does not exist is fine.
   * @throws TransportError RESOURCE_LOCKED, ACCESS_REFUSED (default exchange).
   */
  unbindQueue(binding: BindingSpec, owner: object): void {
    if (binding.exchange === "") throw defaultExchangeRefused();
    const exchange = this.exchanges.get(binding.exchange);
    const queue = this.queues.get(binding.queue);
    if (exchange === undefined || queue === undefined) return;
    if (queue.owner !== null && queue.owner !== owner) throw locked(queue.name);
    if (exchange.unbind(queue, binding.routingKey, binding.arguments)) this.maybeAutoDeleteExchange(exchange);
  }

  /**
   * Routes one message. The body and properties are copied, so the caller may reuse them.
   * Publishing to a direct reply-to name hands the message to that channel, or drops it when
   * the channel is gone (as RabbitMQ does).
   * @throws TransportError EXCHANGE_NOT_FOUND, UNROUTABLE (`mandatory` and no queue got it),
   * PRECONDITION_FAILED (invalid `expiration`).
   */
  publish(exchangeName: string, routingKey: string, body: Uint8Array, properties: MessageProperties, mandatory: boolean): void {
    let queues: readonly MemoryQueue[] | undefined;
    let single: MemoryQueue | undefined;
    if (exchangeName === "") {
      if (routingKey.startsWith(REPLY_TO_PREFIX)) {
        this.reply(routingKey, body, properties);
        return;
      }
      single = this.queues.get(routingKey);
    } else {
      const exchange = this.exchanges.get(exchangeName);
      if (exchange === undefined) throw exchangeNotFound(exchangeName);
      queues = exchange.route(routingKey, properties.headers);
      if (queues.length === 1) single = queues[0];
    }
    if (single === undefined && (queues === undefined || queues.length === 0)) {
      if (mandatory) {
        throw memoryError("UNROUTABLE", `message to exchange '${exchangeName}' with routing key '${routingKey}' was not routed (mandatory publish)`, { exchange: exchangeName, routingKey });
      }
      return;
    }
    const expiresAt = parseExpiration(properties.expiration);
    const copy = copyProperties(properties);
    const bytes = Buffer.from(body);
    if (single !== undefined) {
      single.enqueue(newMessage(bytes, exchangeName, routingKey, copy, expiresAt));
    } else {
      for (const queue of queues as readonly MemoryQueue[]) queue.enqueue(newMessage(bytes, exchangeName, routingKey, copy, expiresAt));
    }
  }

  /** Opens a direct reply-to pseudo-queue; returns its name. @internal */
  openReplyTo(receiver: ReplyReceiver): string {
    let name: string;
    do name = REPLY_TO_PREFIX + randomBytes(12).toString("base64url");
    while (this.replies.has(name));
    this.replies.set(name, receiver);
    return name;
  }

  /** Closes a direct reply-to pseudo-queue: later replies to it are dropped. @internal */
  closeReplyTo(name: string): void {
    this.replies.delete(name);
  }

  /** Deletes every exclusive queue owned by a closing connection. @internal */
  releaseOwner(owner: object): void {
    for (const queue of [...this.queues.values()]) if (queue.owner === owner) this.removeQueue(queue);
  }

  /** Deletes everything except the built-in exchanges. Drivers stay open; their consumers stop receiving. */
  reset(): void {
    for (const queue of [...this.queues.values()]) this.removeQueue(queue);
    for (const name of [...this.exchanges.keys()]) if (!name.startsWith("amq.")) this.exchanges.delete(name);
    this.replies.clear();
  }

  /** @internal */
  removeQueue(queue: MemoryQueue): void {
    if (this.queues.get(queue.name) !== queue) return;
    this.queues.delete(queue.name);
    queue.destroy();
    for (const exchange of [...this.exchanges.values()]) {
      if (exchange.removeQueue(queue)) this.maybeAutoDeleteExchange(exchange);
    }
  }

  /**
   * Dead-letters a message from `queue` (rejected, expired, over its delivery limit): republishes
   * it to the queue's dead-letter exchange with an `x-death` record, or drops it when the queue has
   * none or the exchange is missing (RabbitMQ drops silently too).
   * @internal
   */
  deadLetter(queue: MemoryQueue, message: QueuedMessage, reason: DeadLetterReason): void {
    const dlxName = queue.deadLetterExchange;
    if (dlxName === undefined) return;
    const routingKey = queue.deadLetterRoutingKey ?? message.routingKey;
    const headers = deathHeaders(message, queue.name, reason);
    const properties: MessageProperties = { ...message.properties, headers };
    if (properties.expiration !== undefined) {
      headers["original-expiration"] = properties.expiration;
      delete properties.expiration;
    }
    let targets: readonly MemoryQueue[];
    if (dlxName === "") {
      const target = this.queues.get(routingKey);
      targets = target === undefined ? [] : [target];
    } else {
      const dlx = this.exchanges.get(dlxName);
      if (dlx === undefined) return;
      targets = dlx.route(routingKey, headers);
    }
    const deaths = headers["x-death"] as DeathRecord[];
    const automaticCycle = deaths.every((d) => d.reason !== "rejected");
    for (const target of targets) {
      // A message dying in a loop without anyone rejecting it would circulate forever: RabbitMQ drops it.
      if (automaticCycle && deaths.some((d) => d.queue === target.name)) continue;
      target.enqueue(newMessage(message.body, dlxName, routingKey, properties, 0));
    }
  }

  private reply(routingKey: string, body: Uint8Array, properties: MessageProperties): void {
    const receiver = this.replies.get(routingKey);
    if (receiver === undefined) return;
    const delivery: Delivery = { body: Buffer.from(body), exchange: "", routingKey, redelivered: false, properties: copyProperties(properties) };
    queueMicrotask(() => receiver(delivery));
  }

  private exchange(name: string): MemoryExchange {
    const exchange = this.exchanges.get(name);
    if (exchange === undefined) throw exchangeNotFound(name);
    return exchange;
  }

  private queue(name: string, owner: object): MemoryQueue {
    const queue = this.queues.get(name);
    if (queue === undefined) throw memoryError("QUEUE_NOT_FOUND", `no ${describeQueue(name)}`, { queue: name });
    if (queue.owner !== null && queue.owner !== owner) throw locked(name);
    return queue;
  }

  /** Looks a queue up for consuming. @internal */
  queueForConsumer(name: string, owner: object): MemoryQueue {
    return this.queue(name, owner);
  }

  private maybeAutoDeleteExchange(exchange: MemoryExchange): void {
    if (exchange.autoDelete && exchange.hadBindings && exchange.bindings.length === 0 && this.exchanges.get(exchange.name) === exchange) {
      this.exchanges.delete(exchange.name);
    }
  }
}

/** One entry of the `x-death` header. */
interface DeathRecord {
  count: number;
  reason: DeadLetterReason;
  queue: string;
  time: Date;
  exchange: string;
  "routing-keys": string[];
  "original-expiration"?: string;
}

function deathHeaders(message: QueuedMessage, queue: string, reason: DeadLetterReason): Record<string, unknown> {
  const headers: Record<string, unknown> = { ...message.properties.headers };
  const previous = Array.isArray(headers["x-death"]) ? (headers["x-death"] as DeathRecord[]) : [];
  const index = previous.findIndex((d) => d.queue === queue && d.reason === reason);
  const deaths = [...previous];
  let record: DeathRecord;
  if (index >= 0) {
    const [old] = deaths.splice(index, 1) as [DeathRecord];
    record = { ...old, count: old.count + 1, time: new Date() };
  } else {
    record = { count: 1, reason, queue, time: new Date(), exchange: message.exchange, "routing-keys": [message.routingKey] };
    if (message.properties.expiration !== undefined) record["original-expiration"] = message.properties.expiration;
  }
  deaths.unshift(record);
  headers["x-death"] = deaths;
  headers["x-first-death-reason"] ??= reason;
  headers["x-first-death-queue"] ??= queue;
  headers["x-first-death-exchange"] ??= message.exchange;
  return headers;
}

function newMessage(body: Uint8Array, exchange: string, routingKey: string, properties: MessageProperties, expiresAt: number): QueuedMessage {
  return { body, exchange, routingKey, properties, redelivered: false, deliveryCount: 0, expiresAt, seq: 0 };
}

function copyProperties(properties: MessageProperties): MessageProperties {
  const copy = { ...properties };
  if (properties.headers !== undefined) copy.headers = { ...properties.headers };
  return copy;
}

function parseExpiration(expiration: string | undefined): number {
  if (expiration === undefined) return 0;
  if (!/^\d+$/.test(expiration)) throw memoryError("PRECONDITION_FAILED", `invalid expiration '${expiration}': no_integer`);
  return Date.now() + Number(expiration);
}

function exchangeNotFound(name: string): TransportError {
  return memoryError("EXCHANGE_NOT_FOUND", `no exchange '${name}' in vhost '/'`, { exchange: name });
}

function defaultExchangeRefused(): TransportError {
  return memoryError("ACCESS_REFUSED", "operation not permitted on the default exchange", { exchange: "" });
}

function locked(name: string): TransportError {
  return memoryError("RESOURCE_LOCKED", `cannot obtain exclusive access to locked ${describeQueue(name)}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`, { queue: name },
  );
}
