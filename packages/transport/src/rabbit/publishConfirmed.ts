import type { Envelope } from "rabbitmq-client";
import { TransportError, toTransportError } from "../errors.js";
import type { ReturnTracker } from "./ReturnTracker.js";

/** What {@link publishConfirmed} needs from its caller. */
export interface PublishTarget {
  /** Sends once (rabbitmq-client Publisher#send or Channel#basicPublish). */
  send(envelope: Envelope, body: Buffer): Promise<void>;
  /** Publisher confirms are on: the broker's answer (and any return) is known when `send` resolves. */
  confirm: boolean;
  returns: ReturnTracker;
  vhost: string;
  /** Attempts when the channel or connection drops mid-publish. */
  maxAttempts: number;
  isClosed(): boolean;
}

/**
 * Publishes one message, retrying when the channel or the connection was lost before the broker
 * confirmed it (the message may then arrive twice: consumers recognise duplicates by message id),
 * and rejecting with `UNROUTABLE` when a confirmed mandatory message was returned.
 *
 * @throws {TransportError} `EXCHANGE_NOT_FOUND`, `UNROUTABLE`, `PUBLISH_FAILED`, `CONNECTION_LOST`,
 *   `TIMEOUT` (no connection within the acquire timeout), `CLOSED`.
 */
export async function publishConfirmed(target: PublishTarget, envelope: Envelope, body: Buffer): Promise<void> {
  const exchange = envelope.exchange ?? "";
  const routingKey = envelope.routingKey ?? "";
  const context = {
    exchange,
    routingKey,
    vhost: target.vhost,
    operation: `publishing to exchange "${exchange}" with routing key "${routingKey}"`,
  };
  for (let attempt = 1; ; attempt += 1) {
    if (target.isClosed()) throw new TransportError("CLOSED", `cannot publish to exchange "${exchange}": the publisher is closed`, { exchange, routingKey });
    try {
      await target.send(envelope, body);
    } catch (err) {
      const mapped = toTransportError(err, context);
      if (mapped.code === "CONNECTION_LOST" && attempt < target.maxAttempts && !target.isClosed()) continue;
      throw mapped;
    }
    if (target.confirm && envelope.mandatory) {
      const returned = await target.returns.wasReturned(envelope, body);
      if (returned !== undefined) {
        throw new TransportError(
          "UNROUTABLE",
          `no queue is bound to exchange "${exchange}" with routing key "${routingKey}" (${returned.replyText}): the message was returned. Is the receiving component running, and bound with this key?`,
          { exchange, routingKey, brokerCode: String(returned.replyCode) },
        );
      }
    }
    return;
  }
}
