import {
  decodeMessage,
  defineExchange,
  jsonEncoder,
  type Encoder,
  type ExchangeDefinition,
  type Fingerprint,
  type FingerprintDict,
  type Message,
  type MessageBody,
} from "@postage/core";
import type { Broker } from "./Broker.js";
import type { Delivery, Disposition, DriverConsumer, DriverPublisher, QueueSpec } from "./driver/BrokerDriver.js";
import { declareDeadLetterQueue, deadLetterQueueArguments, DEFAULT_DEAD_LETTER_EXCHANGE, type DeadLetterQueueLimits } from "./deadLetterQueue.js";
import { TransportError } from "./errors.js";
import { failurePolicy, NO_POLICY, type FailurePolicy, routeFailure } from "./failureRoute.js";
import { newReplier, type Replier } from "./reply.js";
import { ProcessSpan, type DeliveryTrace } from "./telemetry/DeliveryTrace.js";
import type { TransportObserver } from "./telemetry/TransportObserver.js";

/** A queue to consume, with its declaration flags. */
export interface QueueOptions {
  /** `""` asks the broker for a private, server-named queue (exclusive and auto-delete unless said otherwise). */
  name: string;
  /** @default false (as Python Postage declares queues) */
  durable?: boolean;
  /** @default true for `""`, else false */
  exclusive?: boolean;
  /** @default true for `""`, else false */
  autoDelete?: boolean;
  /** `x-` arguments (`x-queue-type`, `x-delivery-limit`, `x-dead-letter-exchange`, ...). */
  arguments?: Record<string, unknown>;
}

/** A queue by name (declared with the defaults of {@link QueueOptions}) or with its options. */
export type QueueRef = string | QueueOptions;

/** Queue/key couples bound to one exchange. */
export type QueueKeys = ReadonlyArray<readonly [queue: QueueRef, routingKey: string]>;

/**
 * What a consumer listens to, as Python Postage's `eqk`: for each exchange, the queues bound to it
 * and their routing keys. Entries naming the same queue share it (so `""` everywhere in one
 * consumer means one private queue bound with every key given).
 */
export type ExchangeQueueKeys = ReadonlyArray<readonly [exchange: ExchangeDefinition, queues: QueueKeys]>;

/** A handler's refusal of a message, with the reason put in the dead-letter headers (see {@link reject}). */
export interface Rejection {
  readonly kind: "reject";
  /** Goes to the `x-postage-reason` header. */
  readonly reason: string;
  /** Goes to the `x-postage-error` header. @default "REJECTED" */
  readonly code: string;
}

/**
 * Refuses a message: the consumer dead-letters it with `reason` (and `code`) in its headers, then
 * acks the original.
 * @example
 * createConsumer(broker, options, ({ message }) => (message.name === "echo" ? "ack" : reject(`unexpected ${message.name}`)));
 */
export function reject(reason: string, code = "REJECTED"): Rejection {
  return { kind: "reject", reason, code };
}

/**
 * What a handler decides: `"ack"` (or nothing) when handled; `"reject"` or {@link reject} to
 * dead-letter it; `"requeue"` to put it back (for shutdown only: a message requeued forever loops).
 */
export type HandlerOutcome = Disposition | Rejection | void;

/** A decoded delivery, as a consumer's handler gets it. */
export interface Incoming {
  readonly message: Message;
  /** The wire body (`message.toBody()`). */
  readonly body: MessageBody;
  /** Raw bytes, exchange, routing key and AMQP properties. */
  readonly delivery: Delivery;
  /**
   * Present when the delivery has a `replyTo` (an RPC request): publishes `result` to the caller,
   * echoing its correlation id (none for Python Postage callers, which need none).
   */
  readonly reply?: (result: Message) => Promise<void>;
  /** The delivery's trace (its `process` span) while an OpenTelemetry SDK is registered; else undefined. */
  readonly trace?: DeliveryTrace | undefined;
}

/**
 * Handles one incoming message, synchronously or not. A thrown error dead-letters the message
 * (code `HANDLER_ERROR`). TypeScript 7 widens a bare literal returned from an `async` handler
 * (`return "ack"`) to `string`: annotate the handler (`async (incoming): Promise<HandlerOutcome> => ...`).
 */
export type MessageHandler = (incoming: Incoming) => HandlerOutcome | Promise<HandlerOutcome>;

/** Options of {@link createConsumer}. */
export interface ConsumerOptions {
  /** Exchanges, queues and routing keys to consume ("eqk"). More can be added with {@link Consumer.bind}. @default [] */
  bindings?: ExchangeQueueKeys;
  /** Unacknowledged deliveries in flight per queue (with {@link noAck}: deliveries the handler holds). @default 100 */
  prefetch?: number;
  /**
   * Consume without acknowledgements ("at most once"): the broker forgets each message as it
   * sends it, which costs it a fifth to a third less per message. A message the handler holds when
   * the process dies or its connection drops is lost, and nothing is redelivered. Failures still
   * go to the dead-letter exchange as copies (never to a queue's own `x-dead-letter-exchange`,
   * and never retried under an `x-delivery-limit`: the broker has nothing left to reject); with
   * `deadLetterExchange: false` they are dropped. A message given back (`"requeue"`, or unstarted
   * work when an actor drains) is published to its queue again, at the back. The prefetch still
   * bounds what the process holds: past it the consumer stops consuming until half is handled.
   * That pause is a `basic.cancel`, which deletes an auto-delete queue, so: an exclusive queue
   * (a private one, `""`) is declared without auto-delete (its connection's end still deletes
   * it) and the consumer deletes it when it closes; a shared auto-delete queue is consumed with
   * acks, as if `noAck` were not set, and so does a stream queue (RabbitMQ takes no consumer
   * without acks there). A queue with `x-expires` has its lease renewed during a
   * pause (a passive declare three times per period), so it does not expire with its messages.
   * @default false (acked after the handler)
   */
  noAck?: boolean;
  /** @default jsonEncoder */
  encoder?: Encoder;
  /** Bodies over this size are dead-lettered (`TOO_LARGE`). @default 1 MiB (core's default) */
  maxBytes?: number;
  /**
   * Exchange (fanout, durable) that receives undecodable and rejected messages, with the reason
   * in headers. `false`: reject them to the broker instead (dropped, or the queue's own
   * `x-dead-letter-exchange`). A queue with its own `x-dead-letter-exchange` always gets its
   * failures rejected to the broker, and one with an `x-delivery-limit` gets a handler's errors
   * retried up to the limit (see `routeFailure`). @default "postage.dead-letter"
   */
  deadLetterExchange?: string | false;
  /** Durable queue bound to the dead-letter exchange so nothing is lost; `false` for none. @default the exchange's name */
  deadLetterQueue?: string | false;
  /**
   * Bounds of the dead-letter queue when this consumer declares it: past them the oldest dead
   * letters are dropped. @default { maxLength: 100_000, messageTtlMs: 604_800_000 } (7 days)
   */
  deadLetterQueueLimits?: DeadLetterQueueLimits;
  /** Stamped on replies whose fingerprint is empty. @default none (Python Postage replies carry `{}`) */
  fingerprint?: Fingerprint | FingerprintDict;
  /**
   * Told about errors the consumer cannot report to anyone else (a dead-letter publish that
   * failed: the message is then rejected to the broker). @default console.error
   */
  onError?: (error: unknown) => void;
  /** Told about each message dead-lettered, for metrics. @default none */
  observer?: TransportObserver;
  /**
   * Told when one of its queues stopped being consumed for good (see `DriverConsumerOptions.onLost`):
   * the consumer then only looks alive; close it and start again. @default none
   */
  onLost?: (error: TransportError) => void;
}

/** Counters of a consumer. */
export interface ConsumerCounters {
  /** Deliveries received. */
  received: number;
  /** Messages whose handler finished with ack. */
  handled: number;
  /** Messages the handler rejected (or threw on). */
  rejected: number;
  /** Bodies that did not decode into a Postage message. */
  invalid: number;
  /** Messages the handler requeued. */
  requeued: number;
  /** Failed deliveries requeued for another attempt under their queue's `x-delivery-limit`. */
  retried: number;
  /** Messages dead-lettered: copies published to the dead-letter exchange, and rejections to a queue's own `x-dead-letter-exchange`. */
  deadLettered: number;
  /** Times a queue consumed without acks (`noAck`) was paused because the handler held `prefetch` deliveries. */
  paused: number;
}

/** A running consumer (Python Postage's `GenericConsumer`). */
export interface Consumer {
  /** Names of the queues consumed (server-named ones once {@link ready} resolved). */
  readonly queues: readonly string[];
  readonly counters: Readonly<ConsumerCounters>;
  /** Resolves when every queue is declared, bound and consumed; rejects with the first failure. */
  ready(): Promise<void>;
  /**
   * Binds `queue` to `exchange` with `routingKey` now (declaring the exchange). A queue not yet
   * consumed is declared and consumed too. The binding is re-declared after each reconnect.
   */
  bind(exchange: ExchangeDefinition, queue: QueueRef, routingKey: string): Promise<void>;
  /** Removes a binding (for every consumer of that queue: it is the broker's binding). */
  unbind(exchange: ExchangeDefinition, queue: string, routingKey: string): Promise<void>;
  /** Stops consuming one queue (its in-flight handlers finish first); its bindings stay. */
  removeQueue(queue: string): Promise<void>;
  /**
   * Stops consuming: nothing new reaches the handler, in-flight handlers finish and are settled,
   * then replies and dead-letter publishers close. Idempotent.
   */
  close(): Promise<void>;
}

interface QueueState {
  /** The name as given (`""` for the private queue). */
  readonly given: string;
  readonly consumer: DriverConsumer;
  /** What the broker does with its failed deliveries (nothing, for a consumer without acks). */
  readonly policy: FailurePolicy;
  /** Consumed without acks. */
  readonly noAck: boolean;
  /** An exclusive queue asked for as auto-delete and declared without it (see {@link ConsumerOptions.noAck}): deleted by the consumer when it closes. */
  readonly deleteOnClose: boolean;
}

/** Header names on dead-lettered copies. */
export const DEAD_LETTER_HEADERS = Object.freeze({
  error: "x-postage-error",
  reason: "x-postage-reason",
  exchange: "x-original-exchange",
  routingKey: "x-original-routing-key",
  /** When the copy was made, in epoch milliseconds (RabbitMQ's own dead-lettering records it in `x-death`). */
  time: "x-postage-dead-lettered-at",
});

/** The default dead-letter exchange and queue name (see `DEAD_LETTER_QUEUE` for its arguments). */
export { DEFAULT_DEAD_LETTER_EXCHANGE } from "./deadLetterQueue.js";

function queueSpec(queue: QueueRef): QueueSpec {
  const options: QueueOptions = typeof queue === "string" ? { name: queue } : queue;
  const isPrivate = options.name === "";
  const spec: QueueSpec = {
    name: options.name,
    durable: options.durable ?? false,
    exclusive: options.exclusive ?? isPrivate,
    autoDelete: options.autoDelete ?? isPrivate,
  };
  if (options.arguments !== undefined) spec.arguments = { ...options.arguments };
  return spec;
}

function queueName(queue: QueueRef): string {
  return typeof queue === "string" ? queue : queue.name;
}

/**
 * Creates a consumer (Python Postage's `GenericConsumer`): declares the exchanges and queues of
 * `bindings`, binds them, and calls `handler` with each decoded message. The handler's outcome
 * settles the delivery; the message is acked only after the handler finished.
 *
 * Bodies that do not decode (never thrown: see core's `decodeMessage`) and messages the handler
 * rejects or throws on are dead-lettered by the consumer: a copy of the raw bytes goes to the
 * dead-letter exchange with `x-postage-error` (a code), `x-postage-reason`, `x-original-exchange`
 * and `x-original-routing-key` headers, then the original is acked. Nothing is requeued forever.
 *
 * After a reconnect the driver re-declares queues and every binding, including those added with
 * {@link Consumer.bind}. The consumer is closed with the broker.
 *
 * @example
 * const consumer = createConsumer(broker, { bindings: [[echoExchange, [["echo-queue", "echo-rk"]]]] }, async ({ message, reply }) => {
 *   if (reply) await reply(new SuccessResult(message.content));
 *   return "ack";
 * });
 * await consumer.ready();
 */
export function createConsumer(broker: Broker, options: ConsumerOptions, handler: MessageHandler): Consumer {
  broker.assertOpen();
  const encoder = options.encoder ?? jsonEncoder;
  const prefetch = options.prefetch ?? 100;
  const noAck = options.noAck ?? false;
  const deadLetterExchange = options.deadLetterExchange ?? DEFAULT_DEAD_LETTER_EXCHANGE;
  const deadLetterQueue = deadLetterExchange === false ? false : (options.deadLetterQueue ?? deadLetterExchange);
  const deadLetterArguments = deadLetterQueue === false ? {} : deadLetterQueueArguments(options.deadLetterQueueLimits);
  const onError = options.onError ?? ((error: unknown) => console.error("[postage] consumer error:", error));
  const counters: ConsumerCounters = { received: 0, handled: 0, rejected: 0, invalid: 0, requeued: 0, retried: 0, deadLettered: 0, paused: 0 };
  const queues = new Map<string, QueueState>();
  let closing: Promise<void> | undefined;
  let replier: Replier | undefined;
  /** Publishes dead-letter copies, and messages given back by a consumer without acks. */
  let ownPublisher: DriverPublisher | undefined;
  let deadLetterReady: Promise<void> | undefined;

  const assertOpen = (): void => {
    if (closing !== undefined) throw new TransportError("CLOSED", "the consumer is closed");
  };

  const prepareDeadLetter = (exchange: string): Promise<void> => {
    if (deadLetterReady === undefined) {
      const ready = (async () => {
        await broker.declareExchange(defineExchange({ name: exchange, type: "fanout", durable: true }));
        if (deadLetterQueue !== false) {
          await declareDeadLetterQueue(broker, deadLetterQueue, deadLetterArguments, onError);
          await broker.driver.bindQueue({ exchange, queue: deadLetterQueue, routingKey: "" });
        }
      })();
      deadLetterReady = ready;
      ready.catch(() => {
        // The failing delivery reports it; the next one tries again.
        if (deadLetterReady === ready) deadLetterReady = undefined;
      });
    }
    return deadLetterReady;
  };

  /**
   * Settles a failed delivery: retried under its queue's delivery limit, rejected to its queue's own
   * dead-letter exchange, or copied to the consumer's (see `routeFailure`). Resolves to the
   * disposition of the original.
   */
  const deadLetter = async (delivery: Delivery, code: string, reason: string, queue: QueueState, traced?: ProcessSpan): Promise<Disposition> => {
    const { policy } = queue;
    const route = routeFailure(policy, delivery, code === "HANDLER_ERROR" || code === "HANDLER_TIMEOUT");
    traced?.refused(code, reason);
    if (route === "retry") {
      counters.retried += 1;
      broker.log(() => `[postage] retrying ${code}: ${reason} (x-delivery-count ${String(delivery.properties.headers?.["x-delivery-count"] ?? 0)} of ${String(policy.deliveryLimit)})`);
      return "requeue";
    }
    broker.log(() => `[postage] dead-letter ${code}: ${reason} (from ${delivery.exchange || "(default)"}/${delivery.routingKey})`);
    options.observer?.deadLettered?.(code);
    if (route === "reject") {
      counters.deadLettered += 1;
      return "reject";
    }
    if (deadLetterExchange === false) return "reject";
    try {
      await prepareDeadLetter(deadLetterExchange);
      ownPublisher ??= broker.driver.createPublisher({ confirm: true });
      const headers: Record<string, unknown> = {
        ...delivery.properties.headers,
        [DEAD_LETTER_HEADERS.error]: code,
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.exchange]: delivery.exchange,
        [DEAD_LETTER_HEADERS.routingKey]: delivery.routingKey,
        [DEAD_LETTER_HEADERS.time]: Date.now(),
      };
      await ownPublisher.publish(deadLetterExchange, delivery.routingKey, delivery.body, { ...delivery.properties, persistent: true, headers }, { mandatory: false });
      counters.deadLettered += 1;
      return "ack";
    } catch (error) {
      const instead = queue.noAck ? "it is lost (consumed without acks)" : "rejecting it to the broker instead";
      onError(new TransportError("PUBLISH_FAILED", `could not dead-letter a message (${code}: ${reason}); ${instead}`, { cause: error, exchange: deadLetterExchange }));
      return "reject";
    }
  };

  // Not an async function: decide() is the one async layer per delivery (this is the hot path).
  const onDelivery = (delivery: Delivery, queue: QueueState): Promise<Disposition> => {
    try {
      return receive(delivery, queue);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  const receive = (delivery: Delivery, queue: QueueState): Promise<Disposition> => {
    counters.received += 1;
    const properties = delivery.properties;
    const outcome = decodeMessage(delivery.body, { encoder, maxBytes: options.maxBytes, contentType: properties.contentType, contentEncoding: properties.contentEncoding });
    if (!outcome.ok) {
      counters.invalid += 1;
      return deadLetter(delivery, outcome.error.code, outcome.error.reason, queue);
    }
    const { message, body } = outcome;
    if (broker.debug) broker.log(`[postage] received ${message.type}/${message.name} from ${delivery.exchange || "(default)"}/${delivery.routingKey} id=${properties.messageId ?? "-"}`);
    const replyTo = properties.replyTo;
    const traced = ProcessSpan.start(delivery, message); // undefined while no OpenTelemetry SDK is registered
    const incoming: Incoming =
      replyTo !== undefined && replyTo !== ""
        ? {
            message,
            body,
            delivery,
            reply: (result: Message) => {
              const replies = (replier ??= createRepliesFor());
              // In the delivery's trace wherever the handler runs (an actor's turn has a context of its own).
              return traced === undefined ? replies.reply(delivery, result) : traced.run(() => replies.reply(delivery, result));
            },
            trace: traced,
          }
        : { message, body, delivery, trace: traced };
    return traced === undefined ? decide(incoming, queue, undefined) : traced.around(() => decide(incoming, queue, traced));
  };

  /**
   * Runs the handler on a decoded delivery and turns its outcome into the delivery's disposition.
   * Not an async function: a handler's promise is chained once (no extra promise and turn per delivery).
   */
  const decide = (incoming: Incoming, queue: QueueState, traced: ProcessSpan | undefined): Promise<Disposition> => {
    const failed = (error: unknown): Promise<Disposition> => {
      counters.rejected += 1;
      return deadLetter(incoming.delivery, "HANDLER_ERROR", error instanceof Error ? `${error.name}: ${error.message}` : String(error), queue, traced);
    };
    let decision: HandlerOutcome | PromiseLike<HandlerOutcome>;
    try {
      decision = handler(incoming);
    } catch (error) {
      return failed(error);
    }
    if (isThenable(decision)) return Promise.resolve(decision).then((settled) => dispose(incoming.delivery, settled, queue, traced), failed);
    return Promise.resolve(dispose(incoming.delivery, decision, queue, traced));
  };

  /** The disposition a handler's decision comes to (dead-lettering first when it refused the message). */
  const dispose = (delivery: Delivery, decision: HandlerOutcome, queue: QueueState, traced: ProcessSpan | undefined): Disposition | Promise<Disposition> => {
    if (decision === undefined || decision === "ack") {
      counters.handled += 1;
      return "ack";
    }
    if (decision === "requeue") {
      counters.requeued += 1;
      return queue.noAck ? publishBack(delivery, queue) : "requeue";
    }
    counters.rejected += 1;
    if (decision === "reject") return deadLetter(delivery, "REJECTED", "rejected by the handler", queue, traced);
    return deadLetter(delivery, decision.code, decision.reason, queue, traced);
  };

  /** Gives back a message consumed without acks: the broker kept no copy to requeue, so it is published to its queue again. */
  const publishBack = async (delivery: Delivery, queue: QueueState): Promise<Disposition> => {
    const name = safeQueueName(queue.consumer) ?? queue.given;
    try {
      ownPublisher ??= broker.driver.createPublisher({ confirm: true });
      await ownPublisher.publish("", name, delivery.body, delivery.properties, { mandatory: true });
    } catch (error) {
      onError(new TransportError("PUBLISH_FAILED", `could not give a message consumed without acks back to queue "${name}": it is lost`, { cause: error, queue: name }));
    }
    return "ack";
  };

  const createRepliesFor = (): Replier => {
    return newReplier(broker, { encoder, ...(options.fingerprint !== undefined ? { fingerprint: options.fingerprint } : {}) }, false);
  };

  const startQueue = (queue: QueueRef, exchanges: ExchangeDefinition[], bindings: Array<{ exchange: string; routingKey: string }>): QueueState => {
    const asked = queueSpec(queue);
    // Flow control without acks cancels the subscription while the handler is full, and a cancel
    // deletes an auto-delete queue: an exclusive one (deleted with its connection anyway) is
    // declared without auto-delete and deleted on close; a shared one keeps its acks.
    // A stream queue takes no consumer without acks (RabbitMQ requires a prefetch there).
    const stream = asked.arguments?.["x-queue-type"] === "stream";
    const unacked = noAck && !stream && (asked.autoDelete !== true || asked.exclusive === true);
    const deleteOnClose = unacked && asked.autoDelete === true;
    const spec = deleteOnClose ? { ...asked, autoDelete: false } : asked;
    // Without acks the broker has nothing left to dead-letter or retry: failures are always copied.
    const policy = unacked ? NO_POLICY : failurePolicy(spec.arguments);
    const onLost = options.onLost;
    let state: QueueState | undefined; // set before any delivery: drivers never call the handler from createConsumer
    const onPause = (): void => {
      counters.paused += 1;
      options.observer?.consumerPaused?.();
    };
    const consumer = broker.driver.createConsumer(
      { queue: spec, exchanges, bindings, prefetch, noAck: unacked, ...(unacked ? { onPause } : {}), ...(onLost ? { onLost } : {}) },
      (delivery) => onDelivery(delivery, state as QueueState),
    );
    state = { given: queueName(queue), consumer, policy, noAck: unacked, deleteOnClose };
    queues.set(state.given, state);
    return state;
  };

  /** Stops consuming a queue (its handlers finish first), and deletes it if it was declared auto-delete and is not. */
  const closeQueue = async (state: QueueState): Promise<void> => {
    const name = safeQueueName(state.consumer);
    await state.consumer.close();
    if (state.deleteOnClose && name !== undefined) await broker.driver.deleteQueue(name);
  };

  const find = (name: string): QueueState | undefined => {
    const byGiven = queues.get(name);
    if (byGiven !== undefined) return byGiven;
    for (const state of queues.values()) if (safeQueueName(state.consumer) === name) return state;
    return undefined;
  };

  // Group the eqk by queue: one driver consumer per queue, with all its exchanges and keys.
  const plan = new Map<string, { queue: QueueRef; exchanges: Map<string, ExchangeDefinition>; bindings: Array<{ exchange: string; routingKey: string }> }>();
  for (const [exchange, queueKeys] of options.bindings ?? []) {
    for (const [queue, routingKey] of queueKeys) {
      const name = queueName(queue);
      let entry = plan.get(name);
      if (entry === undefined) {
        entry = { queue, exchanges: new Map(), bindings: [] };
        plan.set(name, entry);
      }
      entry.exchanges.set(exchange.name, exchange);
      entry.bindings.push({ exchange: exchange.name, routingKey });
    }
  }
  for (const entry of plan.values()) startQueue(entry.queue, [...entry.exchanges.values()], entry.bindings);

  const consumer: Consumer = {
    get queues() {
      return [...queues.values()].map((state) => safeQueueName(state.consumer) ?? state.given);
    },
    counters,
    async ready() {
      await Promise.all([...queues.values()].map((state) => state.consumer.ready));
    },
    async bind(exchange, queue, routingKey) {
      assertOpen();
      const existing = find(queueName(queue));
      if (existing === undefined) {
        await startQueue(queue, [exchange], [{ exchange: exchange.name, routingKey }]).consumer.ready;
        return;
      }
      await broker.declareExchange(exchange);
      await existing.consumer.ready;
      await existing.consumer.bind(exchange.name, routingKey);
    },
    async unbind(exchange, queue, routingKey) {
      assertOpen();
      const existing = find(queue);
      if (existing === undefined) {
        await broker.driver.unbindQueue({ exchange: exchange.name, queue, routingKey });
        return;
      }
      await existing.consumer.ready;
      await existing.consumer.unbind(exchange.name, routingKey);
    },
    async removeQueue(queue) {
      assertOpen();
      const existing = find(queue);
      if (existing === undefined) return;
      queues.delete(existing.given);
      await closeQueue(existing);
    },
    close() {
      closing ??= (async () => {
        unregister();
        const errors: unknown[] = [];
        const drained = await Promise.allSettled([...queues.values()].map(closeQueue));
        // Handlers have finished: their replies and dead-letter copies are out; close those publishers now.
        const closed = await Promise.allSettled([replier?.close(), ownPublisher?.close()]);
        for (const result of [...drained, ...closed]) if (result.status === "rejected") errors.push(result.reason);
        if (errors.length > 0) throw errors[0];
      })();
      return closing;
    },
  };
  const unregister = broker.own("consumer", consumer);
  return consumer;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null | undefined)?.then === "function";
}

/** A driver consumer's queue name, or undefined while a server-named queue is not declared yet. */
function safeQueueName(consumer: DriverConsumer): string | undefined {
  try {
    const name = consumer.queue;
    return name === "" ? undefined : name;
  } catch {
    // A driver may throw before the queue is declared: the name is simply not known yet.
    return undefined;
  }
}
