import type { Delivery, MessageProperties } from "../driver/BrokerDriver.js";

/**
 * A `basic.deliver` as the inbound path (`inboundPath.ts`) hands it to a consumer callback: the
 * fields rabbitmq-client's own `AsyncMessage` has (method fields, the header fields present,
 * `durable`, the body as raw bytes), so every callback the library's Consumer or our own code
 * registers with `basicConsume` keeps working, plus our {@link MessageProperties}, decoded once
 * from the header frame, so that {@link deliveryOf} needs no second pass over them.
 *
 * Unlike the library's message, the body is never decoded (see `rawBodies.ts`) and `contentType`
 * is the one the publisher set.
 * @internal
 */
export class InboundMessage {
  body: Uint8Array = EMPTY;
  durable = false;
  contentType?: string;
  contentEncoding?: string;
  headers?: Record<string, unknown>;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
  /** Ours, filled from the same header frame. */
  readonly properties: MessageProperties = {};

  constructor(
    readonly consumerTag: string,
    readonly deliveryTag: number,
    readonly redelivered: boolean,
    readonly exchange: string,
    readonly routingKey: string,
  ) {}
}

const EMPTY = new Uint8Array(0);

/** The driver {@link Delivery} of a message the inbound path built, or undefined for any other message. @internal */
export function deliveryOf(message: unknown): Delivery | undefined {
  if (!(message instanceof InboundMessage)) return undefined;
  return { body: message.body, exchange: message.exchange, routingKey: message.routingKey, redelivered: message.redelivered, properties: message.properties };
}
