import { SpanKind, trace, type Attributes, type Context } from "@opentelemetry/api";
import type { MessageProperties } from "../driver/BrokerDriver.js";
import { activeTracer } from "./activeTracer.js";
import { injectTraceHeaders, currentContext } from "./amqpHeaders.js";
import { ATTR, destinationLabel, MESSAGING_SYSTEM } from "./attributes.js";
import { recordFailure } from "./spanFailure.js";

/** The `send` span of one publish. @internal */
export interface SendSpan {
  /** The properties to publish: the given ones with the span's context in `traceparent` / `tracestate`. */
  readonly properties: MessageProperties;
  end(): void;
  fail(error: unknown): void;
}

/**
 * Starts the `send` span (kind PRODUCER) of one publish to `exchange` with `routingKey`, as a child
 * of `parent` (default: the context in effect, e.g. the handler's process span), or returns
 * `undefined` while no OpenTelemetry SDK is registered (then nothing at all is allocated).
 * `reply`: the destination is a caller's reply queue (direct reply-to or a server-named queue),
 * marked temporary and anonymous.
 * @internal
 */
export function startSendSpan(
  exchange: string,
  routingKey: string,
  body: Uint8Array,
  properties: MessageProperties,
  parent?: Context,
  reply = false,
): SendSpan | undefined {
  const tracer = activeTracer();
  if (tracer === undefined) return undefined;
  const attributes: Attributes = {
    [ATTR.system]: MESSAGING_SYSTEM,
    [ATTR.operationName]: "send",
    [ATTR.operationType]: "send",
    [ATTR.destination]: exchange,
    [ATTR.bodySize]: body.byteLength,
  };
  if (routingKey !== "") attributes[ATTR.routingKey] = routingKey;
  if (properties.messageId !== undefined) attributes[ATTR.messageId] = properties.messageId;
  if (properties.correlationId !== undefined && properties.correlationId !== "") attributes[ATTR.conversationId] = properties.correlationId;
  if (reply) {
    attributes[ATTR.temporary] = true;
    attributes[ATTR.anonymous] = true;
  }
  const parentContext = parent ?? currentContext();
  const span = tracer.startSpan(`send ${destinationLabel(exchange)}`, { kind: SpanKind.PRODUCER, attributes }, parentContext);
  return {
    properties: { ...properties, headers: injectTraceHeaders(trace.setSpan(parentContext, span), properties.headers) },
    end: () => span.end(),
    fail: (error) => {
      recordFailure(span, error);
      span.end();
    },
  };
}
