import { jsonEncoder, type Encoder, type Fingerprint, type FingerprintDict, type Message } from "@postage/core";
import type { Broker } from "./Broker.js";
import type { Delivery, DriverPublisher, MessageProperties } from "./driver/BrokerDriver.js";
import { TransportError } from "./errors.js";
import { startSendSpan } from "./telemetry/sendSpan.js";

/** Options of {@link createReplier}. */
export interface ReplierOptions {
  /** Stamped on replies whose fingerprint is empty (Python Postage replies carry `{}`). @default none */
  fingerprint?: Fingerprint | FingerprintDict;
  /** @default jsonEncoder */
  encoder?: Encoder;
  /**
   * Wait for the broker to confirm each reply. Off by default, as Python Postage and raw AMQP RPC
   * servers do: a lost reply shows up at the caller as a timeout, which it retries, and confirming
   * every reply costs the broker about a third more CPU per call. @default false
   */
  confirm?: boolean;
}

/** Answers RPC requests. */
export interface Replier {
  /**
   * Publishes `result` to the requester: on the default exchange, with the request's `replyTo` as
   * routing key, echoing its correlation id when it has one (Python Postage requests have none,
   * and Python clients need no other property). Not mandatory: a requester that went away loses
   * its reply silently, as with any RPC.
   * @throws {TransportError} `NO_REPLY_TO` when the request has no `replyTo`; `CLOSED` after close.
   */
  reply(request: Delivery, result: Message): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a {@link Replier} on a broker (closed with it, with the publishers).
 *
 * @example
 * const replier = createReplier(broker);
 * await replier.reply(incoming.delivery, new SuccessResult(42));
 */
export function createReplier(broker: Broker, options: ReplierOptions = {}): Replier {
  return newReplier(broker, options, true);
}

/**
 * A replier; `register` makes the broker close it with its publishers. Consumers keep theirs
 * unregistered and close it themselves after their handlers drained (handlers may still reply).
 * @internal
 */
export function newReplier(broker: Broker, options: ReplierOptions, register: boolean): Replier {
  const encoder = options.encoder ?? jsonEncoder;
  const fingerprint = options.fingerprint;
  let publisher: DriverPublisher | undefined;
  let closing: Promise<void> | undefined;

  const replier: Replier = {
    async reply(request, result) {
      if (closing !== undefined) throw new TransportError("CLOSED", "the replier is closed");
      const replyTo = request.properties.replyTo;
      if (replyTo === undefined || replyTo === "") {
        throw new TransportError("NO_REPLY_TO", "cannot reply: the request has no reply_to property");
      }
      if (fingerprint !== undefined && Object.keys(result.fingerprint).length === 0) result.stamp(fingerprint);
      const properties: MessageProperties = { contentType: encoder.contentType };
      const correlationId = request.properties.correlationId;
      if (correlationId !== undefined && correlationId !== "") properties.correlationId = correlationId;
      publisher ??= broker.driver.createPublisher({ confirm: options.confirm ?? false });
      const body = encoder.encode(result.toBody());
      const span = startSendSpan("", replyTo, body, properties, undefined, true); // undefined without an OpenTelemetry SDK
      try {
        await publisher.publish("", replyTo, body, span?.properties ?? properties, { mandatory: false });
      } catch (error) {
        span?.fail(error);
        throw error;
      }
      span?.end();
      broker.log(() => `[postage] replied ${result.type}/${result.name} -> ${replyTo} correlation=${correlationId ?? "none"}`);
    },
    close() {
      closing ??= (async () => {
        unregister();
        await publisher?.close();
      })();
      return closing;
    },
  };
  const unregister = register ? broker.own("publisher", replier) : () => undefined;
  return replier;
}
