import type { AsyncMessage, Envelope, HeaderFields } from "rabbitmq-client";
import type { Delivery, MessageProperties } from "../driver/BrokerDriver.js";
import { deliveryOf } from "./inboundMessage.js";
import { bodyBytes, contentTypeOf } from "./rawBodies.js";

/** Our properties as a rabbitmq-client envelope. */
export function toEnvelope(exchange: string, routingKey: string, properties: MessageProperties, mandatory: boolean): Envelope {
  const envelope: Envelope = { exchange, routingKey, mandatory };
  if (properties.contentType !== undefined) envelope.contentType = properties.contentType;
  if (properties.contentEncoding !== undefined) envelope.contentEncoding = properties.contentEncoding;
  if (properties.correlationId !== undefined) envelope.correlationId = properties.correlationId;
  if (properties.replyTo !== undefined) envelope.replyTo = properties.replyTo;
  if (properties.messageId !== undefined) envelope.messageId = properties.messageId;
  if (properties.persistent) envelope.durable = true;
  if (properties.expiration !== undefined) envelope.expiration = properties.expiration;
  if (properties.timestamp !== undefined) envelope.timestamp = properties.timestamp;
  if (properties.type !== undefined) envelope.type = properties.type;
  if (properties.headers !== undefined) envelope.headers = properties.headers;
  return envelope;
}

/** The properties of a received (or returned) message. */
export function toProperties(message: HeaderFields & { deliveryMode?: number }): MessageProperties {
  const properties: MessageProperties = {};
  const contentType = contentTypeOf(message);
  if (contentType !== undefined) properties.contentType = contentType;
  if (message.contentEncoding !== undefined) properties.contentEncoding = message.contentEncoding;
  if (message.correlationId !== undefined) properties.correlationId = message.correlationId;
  if (message.replyTo !== undefined) properties.replyTo = message.replyTo;
  if (message.messageId !== undefined) properties.messageId = message.messageId;
  if (message.durable || message.deliveryMode === 2) properties.persistent = true;
  if (message.expiration !== undefined) properties.expiration = message.expiration;
  if (message.timestamp !== undefined) properties.timestamp = message.timestamp;
  if (message.type !== undefined) properties.type = message.type;
  if (message.headers !== undefined) properties.headers = message.headers;
  return properties;
}

/** A rabbitmq-client delivery as a driver {@link Delivery}. */
export function toDelivery(message: AsyncMessage): Delivery {
  // Built by the inbound path with its properties decoded already.
  const built = deliveryOf(message);
  if (built !== undefined) return built;
  return {
    body: bodyBytes(message.body),
    exchange: message.exchange,
    routingKey: message.routingKey,
    redelivered: message.redelivered,
    properties: toProperties(message),
  };
}

/** Bytes as a Buffer without copying. */
export function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** One line describing a message for debug logs: never the body, never credentials. */
export function describeMessage(exchange: string, routingKey: string, size: number, properties: MessageProperties): string {
  const id = properties.messageId === undefined ? "" : ` id=${properties.messageId}`;
  const correlation = properties.correlationId === undefined ? "" : ` correlation=${properties.correlationId}`;
  return `exchange="${exchange}" key="${routingKey}" ${size} B${id}${correlation}`;
}
