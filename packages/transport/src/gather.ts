import { decodeMessage, ExceptionResult, ResultMessage, type Encoder } from "@postage/core";
import type { Broker } from "./Broker.js";
import type { Delivery, DriverConsumer, DriverPublisher, MessageProperties } from "./driver/BrokerDriver.js";
import { TransportError } from "./errors.js";
import { publishRoutes } from "./publishRoutes.js";
import type { ExchangeKeys } from "./routing.js";

/** Options of a gather (see `producer.gather`). */
export interface GatherOptions {
  /** How long to collect replies, in milliseconds. @default the producer's RPC timeout (30_000) */
  timeout?: number;
  /** Stop as soon as this many replies arrived. @default no limit (collect until the timeout) */
  limit?: number;
  /** Stops collecting early; the replies gathered so far are returned. */
  signal?: AbortSignal;
}

/** What one gather publishes. @internal */
export interface GatherRequest {
  routes: ExchangeKeys;
  body: Uint8Array;
  properties: MessageProperties;
  mandatory: boolean;
  describe: () => string;
}

/**
 * Publishes one RPC request whose `reply_to` is a private, server-named queue (exclusive,
 * auto-delete) and collects every reply that arrives on it until the timeout, the limit or the
 * abort signal, whichever comes first. Replies are returned in arrival order; a reply that is not
 * a result message becomes an `ExceptionResult("InvalidReply", ...)`. No reply at all is an empty
 * array, not an error. The queue is deleted when collecting ends.
 *
 * Fan-out addresses (a routing key bound to many queues) answer many times: this is how
 * `postage ping` and `postage ps` see every instance. @internal Used through the producer.
 * The timeout counts from the call: when the broker is unreachable, the gather does not wait for it.
 * @throws {TransportError} when the reply queue cannot be declared or the request cannot be published
 * (missing exchange, unroutable with `mandatory`); `TIMEOUT` when it could not be sent within the timeout.
 */
export async function gatherReplies(
  broker: Broker,
  publisher: DriverPublisher,
  request: GatherRequest,
  options: Required<Pick<GatherOptions, "timeout">> & GatherOptions,
  decode: { encoder: Encoder; maxBytes: number | undefined },
): Promise<ResultMessage[]> {
  const replies: ResultMessage[] = [];
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  // Armed first: the timeout counts from the call, also while the broker is unreachable and the
  // reply queue or the publish is still waiting for the connection.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    finish();
  }, options.timeout);
  const onAbort = (): void => finish();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (limit <= 0 || options.signal?.aborted) finish();
  let consumer: DriverConsumer | undefined;
  let unregister = (): void => undefined;
  let sent = false;
  try {
    consumer = broker.driver.createConsumer({ queue: { name: "", exclusive: true, autoDelete: true }, prefetch: 100 }, (delivery) => {
      if (replies.length < limit) replies.push(toResult(delivery, decode));
      if (replies.length >= limit) finish();
      return "ack";
    });
    // Closed with the broker too, should it close while we collect.
    unregister = broker.own("consumer", consumer);
    const replyQueue = consumer;
    const sending = (async () => {
      const replyTo = await replyQueue.consuming();
      const properties: MessageProperties = { ...request.properties, correlationId: request.properties.messageId, replyTo };
      await publishRoutes(broker, publisher, request.routes, request.body, properties, { mandatory: request.mandatory }, request.describe);
      sent = true;
    })();
    // Settles later on its own if we stop first (the consumer closes below); its outcome no longer matters then.
    sending.catch(() => undefined);
    await Promise.race([sending, done]);
    if (!sent && timedOut) {
      throw new TransportError(
        "TIMEOUT",
        `${request.describe()} could not be sent within ${options.timeout} ms: the broker is unreachable or not answering (no reply was collected)`,
      );
    }
    await done;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    // Owned by the broker until closed, so that closing the broker still waits for it.
    const closing = consumer?.close().finally(unregister);
    // While the broker is unreachable the close itself waits for the connection: the caller's
    // timeout is not extended for it.
    if (closing !== undefined && timedOut && !sent) {
      void closing.catch((error: unknown) => broker.log(`[postage] closing the reply queue of a gather failed: ${String(error)}`)); // deliberate: owned by the broker until it settles
    } else {
      await closing;
    }
  }
  return replies.slice(0, limit);
}

function toResult(delivery: Delivery, decode: { encoder: Encoder; maxBytes: number | undefined }): ResultMessage {
  const outcome = decodeMessage(delivery.body, {
    encoder: decode.encoder,
    ...(decode.maxBytes !== undefined ? { maxBytes: decode.maxBytes } : {}),
    ...(delivery.properties.contentType !== undefined ? { contentType: delivery.properties.contentType } : {}),
    ...(delivery.properties.contentEncoding !== undefined ? { contentEncoding: delivery.properties.contentEncoding } : {}),
  });
  if (!outcome.ok) return new ExceptionResult("InvalidReply", `the reply is not a Postage message (${outcome.error.code}): ${outcome.error.reason}`);
  if (!(outcome.message instanceof ResultMessage)) {
    return new ExceptionResult("InvalidReply", `the reply is a ${outcome.message.type} message "${outcome.message.name}", not a result`);
  }
  return outcome.message;
}
