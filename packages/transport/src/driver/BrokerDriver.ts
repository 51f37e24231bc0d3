import type { ExchangeDefinition } from "@postage/core";
import type { TransportError } from "../errors.js";
import type { BrowseOptions, BrowseResult, BrowseVisitor } from "./QueueBrowser.js";

/**
 * The contract between the broker-agnostic layer (Producer, Consumer, RPC) and a broker
 * implementation. Two drivers implement it: RabbitMQ (on rabbitmq-client) and the in-memory
 * broker. The contract suite runs the same tests against both, so they cannot drift.
 *
 * Everything here works on raw bytes and AMQP properties; decoding into Postage messages
 * happens above this layer.
 */

/** A queue to declare. An empty `name` asks the broker to name it (server-named queue). */
export interface QueueSpec {
  /** Queue name; `""` lets the broker choose one (returned by {@link BrokerDriver.declareQueue}). */
  name: string;
  /** @default false */
  durable?: boolean;
  /** Owned by this connection; deleted when it closes. @default false */
  exclusive?: boolean;
  /** Deleted when its last consumer goes away. @default false */
  autoDelete?: boolean;
  /** Only check that the queue exists. @default false */
  passive?: boolean;
  /** `x-` arguments: `x-expires`, `x-queue-type`, `x-delivery-limit`, `x-dead-letter-exchange`, ... */
  arguments?: Record<string, unknown>;
}

/** A binding of a queue to an exchange with a routing key. */
export interface BindingSpec {
  exchange: string;
  queue: string;
  routingKey: string;
  /** Binding arguments; headers exchanges match on them (`x-match` plus header values). */
  arguments?: Record<string, unknown>;
}

/** The AMQP basic properties Postage uses. */
export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  correlationId?: string;
  replyTo?: string;
  messageId?: string;
  /** Persistent (delivery mode 2) when true. */
  persistent?: boolean;
  expiration?: string;
  timestamp?: number;
  type?: string;
  headers?: Record<string, unknown>;
}

/** One message as a consumer receives it. */
export interface Delivery {
  body: Uint8Array;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  properties: MessageProperties;
  /**
   * Aborted once settling this delivery can no longer do what its handler decides: the channel it
   * came on died (the broker redelivers it elsewhere or later), or its consumer is being closed
   * (the broker has stopped sending to it and takes unsettled deliveries back). A delivery that
   * waits to be handled should be given back unhandled once this is aborted. One signal is shared
   * by every delivery of a channel, so watching it costs nothing per delivery.
   * Absent when the driver cannot tell.
   */
  signal?: AbortSignal;
}

/**
 * What a consumer's handler decides about a delivery:
 * `ack` removes it; `reject` dead-letters it (or drops it when the queue has no dead-letter
 * exchange) and never requeues; `requeue` puts it back (used only for graceful shutdown of
 * prefetched, unstarted work).
 */
export type Disposition = "ack" | "reject" | "requeue";

/** Handles one delivery; the driver settles the delivery with the disposition it resolves to. */
export type DeliveryHandler = (delivery: Delivery) => Disposition | Promise<Disposition>;

/** Options for publishing one message. */
export interface PublishOptions {
  /** Ask the broker to return the message if no queue gets it; the publish then rejects. @default true */
  mandatory?: boolean;
}

/** A publishing channel. With confirms on, `publish` resolves when the broker has taken the message. */
export interface DriverPublisher {
  /**
   * Publishes one message. Rejects with a transport error when the exchange is missing, when
   * `mandatory` is set and the message is unroutable, or when the broker refuses it.
   */
  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Options for a consumer. */
export interface DriverConsumerOptions {
  /** The queue to consume (declared before consuming, and again after each reconnect). */
  queue: QueueSpec;
  /** Exchanges to declare before binding. */
  exchanges?: ExchangeDefinition[];
  /** Routing keys to bind the queue with (the queue name is filled in). */
  bindings?: Array<{ exchange: string; routingKey: string }>;
  /** Unacknowledged deliveries in flight (with {@link noAck}: deliveries held by the handler). @default 100 */
  prefetch?: number;
  /**
   * Consume without acknowledgements (AMQP `no-ack`): the broker forgets each message as it sends
   * it, which costs it much less per message, and the handler's disposition is ignored. What the
   * handler holds when the process or its connection dies is lost; nothing is redelivered, so
   * deliveries carry no {@link Delivery.signal}. Flow control replaces the prefetch (which the
   * broker does not apply to such consumers): once the handler holds `prefetch` deliveries the
   * consumer stops consuming, and starts again when half of them are settled; a few more may
   * arrive in between (what the broker had sent already). Prefetch 0 means no limit, as with
   * acks, and no flow control. Each pause is a `basic.cancel`, which deletes an auto-delete
   * queue: give such a consumer no auto-delete queue. @default false
   */
  noAck?: boolean;
  /** Told each time a consumer without acks stops consuming because its handler holds `prefetch` deliveries. @default none */
  onPause?: () => void;
  /** Exclusive consumer on the queue. @default false */
  exclusiveConsumer?: boolean;
  /**
   * Told when the consumer stopped consuming and will not resume by itself: after a reconnect (or
   * a cancel by the broker) its queue could not be declared again for a reason retrying does not
   * change (refused, locked by another connection, declared differently). Its owner should close
   * it and decide (the actors restart with backoff). @default none (the error is only reported)
   */
  onLost?: (error: TransportError) => void;
}

/** A running consumer. */
export interface DriverConsumer {
  /** The queue name (known once {@link ready} resolves; the broker's name for a server-named queue). */
  readonly queue: string;
  /** Resolves once the queue is declared, bound and consuming. */
  readonly ready: Promise<void>;
  /**
   * Resolves with the queue's current name once the consumer is consuming: at once, unless it is
   * (re)connecting. A server-named queue gets a new name after each reconnect, so whoever hands
   * the name out (an RPC `reply_to`) asks here each time. Rejects with the setup error, or `CLOSED`.
   */
  consuming(): Promise<string>;
  /** Adds a binding now; it is re-declared after every reconnect. */
  bind(exchange: string, routingKey: string): Promise<void>;
  /** Removes a binding now and forgets it. */
  unbind(exchange: string, routingKey: string): Promise<void>;
  /**
   * Stops consuming: nothing new reaches the handler, handlers already called are awaited and
   * their dispositions applied, then the consumer is cancelled. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * What a reply channel tells its owner besides the replies themselves: requests on it go without
 * publisher confirms (the reply is the end-to-end confirmation), so a returned request and a lost
 * channel are only known through these.
 */
export interface ReplyChannelEvents {
  /**
   * The broker returned a mandatory request (no queue took it): `properties` are the request's
   * (message id, correlation id), `error` an `UNROUTABLE` {@link TransportError}. Without it, a
   * return is reported through the driver's `onError`. @default none
   */
  onReturned?: (properties: MessageProperties, error: TransportError) => void;
  /**
   * The channel died: the connection dropped (`error` undefined or `CONNECTION_LOST`), the
   * broker closed it (`error` says why, e.g. `EXCHANGE_NOT_FOUND` for a request to an exchange
   * deleted meanwhile), or its reply queue was deleted (`BROKER_ERROR`, broker code
   * `CANCEL_FORCED`). Requests written on it will get no reply (direct reply-to replies are bound
   * to the channel, and a reply queue goes with it); the next publish opens a new channel, with a
   * new reply queue (the memory driver replaces a deleted reply queue at once). @default none
   */
  onLost?: (error: TransportError | undefined) => void;
}

/** Options of {@link BrokerDriver.createReplyChannel}. */
export interface ReplyChannelOptions {
  /**
   * Where replies come back: `direct-reply-to`, RabbitMQ's pseudo-queue (nothing declared), or
   * `queue`, a server-named, exclusive, auto-delete queue the channel declares and consumes
   * without acks each time it opens (a new name after a reconnect). @default "direct-reply-to"
   */
  address?: "direct-reply-to" | "queue";
}

/**
 * A reply channel for RPC: requests published through it carry a `replyTo` that routes replies
 * back to `onReply` (see {@link ReplyChannelOptions.address}).
 */
export interface DriverReplyChannel {
  /**
   * Where replies to requests written now go: `amq.rabbitmq.reply-to`, or the name of the
   * channel's reply queue, which changes when the channel opens again after a loss. The channel
   * puts it on each request itself.
   */
  readonly replyTo: string;
  /**
   * Publishes a request whose replies come back to this channel. No publisher confirms: resolves
   * once the request is written (RabbitMQ) or delivered (memory). A request the broker returns is
   * told through {@link ReplyChannelEvents.onReturned} (the memory driver, which knows at once,
   * rejects with `UNROUTABLE` instead). Rejects with `EXCHANGE_NOT_FOUND`, `CONNECTION_LOST`,
   * `TIMEOUT` (no connection within the publish timeout) or `CLOSED`.
   */
  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** A connection to a broker, shared by everything in a process. */
export interface BrokerDriver {
  /** The broker's address with any password removed, for logs and errors. */
  readonly displayUrl: string;
  /** Declares (or with `passive`, checks) an exchange. Rejects with a clear error when it is missing or differs. */
  declareExchange(exchange: ExchangeDefinition): Promise<void>;
  deleteExchange(name: string): Promise<void>;
  /** Declares a queue; returns its name and counts. */
  declareQueue(queue: QueueSpec): Promise<{ queue: string; messageCount: number; consumerCount: number }>;
  deleteQueue(name: string): Promise<void>;
  bindQueue(binding: BindingSpec): Promise<void>;
  unbindQueue(binding: BindingSpec): Promise<void>;
  /** A publishing channel; publisher confirms when `confirm` is true. */
  createPublisher(options: { confirm: boolean }): DriverPublisher;
  /** Starts consuming; deliveries go to `handler` one by one per the prefetch. */
  createConsumer(options: DriverConsumerOptions, handler: DeliveryHandler): DriverConsumer;
  /**
   * Reads a queue without consuming it (AMQP `basic.get` without auto-ack): takes its messages
   * one by one, in queue order, and hands each to `visit`; what the visitor keeps goes back to
   * its place when the browse ends (or fails), marked redelivered. Quorum queues count each
   * browse as a delivery attempt (`x-delivery-count`, and `x-delivery-limit` applies).
   * @throws {TransportError} QUEUE_NOT_FOUND, and whatever `visit` throws (nothing is removed then
   * but what it acked before).
   */
  browseQueue(queue: string, visit: BrowseVisitor, options?: BrowseOptions): Promise<BrowseResult>;
  /**
   * A reply channel, open (its reply queue declared and consumed) when the promise resolves;
   * `onReply` receives every reply delivered to it. Rejects with a clear error when the broker
   * refuses the channel, the queue (`ACCESS_REFUSED`: no configure permission on `amq.gen-*`
   * names) or the consumer.
   */
  createReplyChannel(onReply: (delivery: Delivery) => void, events?: ReplyChannelEvents, options?: ReplyChannelOptions): Promise<DriverReplyChannel>;
  /** Whether the connection is up now (false while reconnecting and after close); for metrics and RPC retries. */
  readonly connected: boolean;
  /**
   * When the connection last came back after it was lost (`performance.now()` milliseconds);
   * undefined before any loss, and always on the memory broker, which has none. Consumers, here
   * and in other processes, declare their queues and bindings again around then.
   */
  readonly reconnectedAt: number | undefined;
  /**
   * Resolves when connected (or rejects with a clear error: refused login, unreachable host).
   * Given a `timeout`, a refused or lost connection is retried until it (a broker still booting
   * refuses connections); without one, a single broker that refuses fails at once.
   */
  ready(options?: { timeout?: number }): Promise<void>;
  /**
   * The error the driver gave up with (its first connection failed for good, see {@link ready}):
   * it never connects again. A shared connection in that state is replaced by the next `connect()`.
   */
  readonly failure?: TransportError | undefined;
  /** Closes everything; idempotent. */
  close(): Promise<void>;
}
