import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from "@opentelemetry/api";
import type { Message } from "@postage/core";
import type { Delivery, Disposition } from "../driver/BrokerDriver.js";
import { activeTracer } from "./activeTracer.js";
import { extractTraceHeaders } from "./amqpHeaders.js";
import { ATTR, destinationLabel, MESSAGING_SYSTEM, RPC_SYSTEM } from "./attributes.js";
import { recordFailure, recordRefusal } from "./spanFailure.js";

/**
 * The trace of one delivery, present on {@link Incoming.trace} while an OpenTelemetry SDK is
 * registered: its `process` span (kind CONSUMER, a child of the sender's `send` span through the
 * `traceparent` header) and, for an RPC request, the RPC server span inside it.
 */
export interface DeliveryTrace {
  /** The context handlers run in: the RPC server span's for requests, else the process span's. */
  readonly context: Context;
  /** Runs `fn` with {@link context} in effect, so the spans it starts (a reply, a publish) are children. */
  run<T>(fn: () => T): T;
  /** Adds an event to the process span (actors record their state transitions so). */
  event(name: string, attributes?: Attributes): void;
}

/**
 * The `process` span of one delivery (plus the RPC server span of a request), ended with the
 * delivery's disposition. @internal
 */
export class ProcessSpan implements DeliveryTrace {
  readonly context: Context;
  private refusal: { code: string; reason: string } | undefined;

  private constructor(
    private readonly span: Span,
    private readonly server: Span | undefined,
    parent: Context,
  ) {
    const processContext = trace.setSpan(parent, span);
    this.context = server === undefined ? processContext : trace.setSpan(processContext, server);
  }

  /** Starts the spans of a decoded delivery, or returns `undefined` while no OpenTelemetry SDK is registered. */
  static start(delivery: Delivery, message: Message): ProcessSpan | undefined {
    const tracer = activeTracer();
    if (tracer === undefined) return undefined;
    const { exchange, routingKey, properties } = delivery;
    const attributes: Attributes = {
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.operationName]: "process",
      [ATTR.operationType]: "process",
      [ATTR.destination]: exchange,
      [ATTR.bodySize]: delivery.body.byteLength,
      [ATTR.messageType]: message.type,
      [ATTR.messageName]: message.name,
    };
    if (routingKey !== "") attributes[ATTR.routingKey] = routingKey;
    if (properties.messageId !== undefined) attributes[ATTR.messageId] = properties.messageId;
    if (properties.correlationId !== undefined && properties.correlationId !== "") attributes[ATTR.conversationId] = properties.correlationId;
    const parent = extractTraceHeaders(properties.headers);
    const span = tracer.startSpan(`process ${destinationLabel(exchange)}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    let server: Span | undefined;
    if (properties.replyTo !== undefined && properties.replyTo !== "") {
      server = tracer.startSpan(
        `${destinationLabel(exchange)}/${message.name}`,
        { kind: SpanKind.SERVER, attributes: { [ATTR.rpcSystem]: RPC_SYSTEM, [ATTR.rpcService]: destinationLabel(exchange), [ATTR.rpcMethod]: message.name } },
        trace.setSpan(parent, span),
      );
    }
    return new ProcessSpan(span, server, parent);
  }

  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  event(name: string, attributes?: Attributes): void {
    this.span.addEvent(name, attributes);
  }

  /** The delivery failed (it is dead-lettered, or retried under a delivery limit): code and reason go on the spans when they end. */
  refused(code: string, reason: string): void {
    this.refusal = { code, reason };
  }

  /** Runs the consumer's handling of the delivery inside the spans, and ends them with its outcome. */
  around(handle: () => Promise<Disposition>): Promise<Disposition> {
    return this.run(handle).then(
      (disposition) => {
        this.end(disposition);
        return disposition;
      },
      (error: unknown) => {
        for (const span of this.spans()) {
          recordFailure(span, error);
          span.end();
        }
        throw error;
      },
    );
  }

  private end(disposition: Disposition): void {
    const refusal = this.refusal;
    for (const span of this.spans()) {
      span.setAttribute(ATTR.outcome, refusal === undefined ? disposition : disposition === "requeue" ? "retried" : "dead-lettered");
      if (refusal !== undefined) recordRefusal(span, refusal.code, refusal.reason);
      else if (disposition === "reject") span.setStatus({ code: SpanStatusCode.ERROR, message: "rejected to the broker" });
      span.end();
    }
  }

  /** Inner span first, so the server span ends before the process span that holds it. */
  private spans(): Span[] {
    return this.server === undefined ? [this.span] : [this.server, this.span];
  }
}
