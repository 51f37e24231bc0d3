/**
 * Attribute names of the OpenTelemetry semantic conventions for messaging (RabbitMQ) and RPC that
 * Postage sets. Written out rather than imported: `@opentelemetry/semantic-conventions` keeps the
 * messaging ones in its unstable entry point, and they are few.
 * @internal
 */
export const ATTR = Object.freeze({
  system: "messaging.system",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  destination: "messaging.destination.name",
  temporary: "messaging.destination.temporary",
  anonymous: "messaging.destination.anonymous",
  routingKey: "messaging.rabbitmq.destination.routing_key",
  messageId: "messaging.message.id",
  conversationId: "messaging.message.conversation_id",
  bodySize: "messaging.message.body.size",
  errorType: "error.type",
  rpcSystem: "rpc.system",
  rpcService: "rpc.service",
  rpcMethod: "rpc.method",
  /** Postage's own: the message's type and name (`command`/`echo`), and how a delivery ended. */
  messageType: "postage.message.type",
  messageName: "postage.message.name",
  outcome: "postage.outcome",
  attempts: "postage.rpc.attempts",
  replyMode: "postage.rpc.reply_mode",
});

/** `messaging.system` for every Postage span. @internal */
export const MESSAGING_SYSTEM = "rabbitmq";

/** `rpc.system` of Postage RPC spans. @internal */
export const RPC_SYSTEM = "postage";

/** A span name's destination part: RabbitMQ's default exchange has the empty name. @internal */
export function destinationLabel(exchange: string): string {
  return exchange === "" ? "amq.default" : exchange;
}
