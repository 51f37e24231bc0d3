import { SpanKind, trace, type Attributes, type Context, type Span } from "@opentelemetry/api";
import type { ResultMessage } from "@postage/core";
import type { MessageProperties } from "../driver/BrokerDriver.js";
import type { ExchangeKeys } from "../routing.js";
import { activeTracer } from "./activeTracer.js";
import { currentContext } from "./amqpHeaders.js";
import { ATTR, destinationLabel, MESSAGING_SYSTEM, RPC_SYSTEM } from "./attributes.js";
import { recordFailure, recordRefusal } from "./spanFailure.js";
import type { RpcOutcome, TransportObserver } from "./TransportObserver.js";

/** What the watch needs of a call. @internal */
export interface WatchedRequest {
  readonly routes: ExchangeKeys;
  /** The command's name (the RPC method). */
  readonly name: string;
  readonly properties: MessageProperties;
}

/**
 * The client side of one RPC call as telemetry sees it: its span (kind CLIENT, parent of every
 * attempt's `send` span) and its duration for metrics. Only made when an OpenTelemetry SDK is
 * registered or an observer listens. @internal
 */
export class RpcCallWatch {
  private readonly startedAt = performance.now();

  private constructor(
    private readonly span: Span | undefined,
    /** The context the attempts are published in (undefined: the caller's). */
    readonly parent: Context | undefined,
    private readonly observer: TransportObserver | undefined,
  ) {}

  /** Starts watching a call, or returns `undefined` when neither tracing nor an observer wants it. */
  static start(request: WatchedRequest, messageId: string, replyMode: string, observer: TransportObserver | undefined): RpcCallWatch | undefined {
    const tracer = activeTracer();
    const listening = observer?.rpcFinished !== undefined;
    if (tracer === undefined) return listening ? new RpcCallWatch(undefined, undefined, observer) : undefined;
    const [first] = request.routes;
    const exchange = first === undefined ? "" : first[0].name;
    const attributes: Attributes = {
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.rpcSystem]: RPC_SYSTEM,
      [ATTR.rpcService]: destinationLabel(exchange),
      [ATTR.rpcMethod]: request.name,
      [ATTR.destination]: exchange,
      [ATTR.messageId]: messageId,
      // The request's message id is its correlation id: the conversation the reply belongs to.
      [ATTR.conversationId]: messageId,
      [ATTR.replyMode]: replyMode,
    };
    if (first !== undefined && first[1] !== "") attributes[ATTR.routingKey] = first[1];
    const parent = currentContext();
    const span = tracer.startSpan(`${destinationLabel(exchange)}/${request.name}`, { kind: SpanKind.CLIENT, attributes }, parent);
    return new RpcCallWatch(span, trace.setSpan(parent, span), listening ? observer : undefined);
  }

  /** Follows a call's result: ends the span and reports the duration once it settles. */
  watch(result: Promise<ResultMessage>): void {
    result.then(
      (reply) => this.finished(reply),
      (error: unknown) => this.failed(error),
    );
  }

  private finished(result: ResultMessage): void {
    const outcome: RpcOutcome = result.resultType === "exception" && result.value === "TimeoutError" ? "timeout" : result.resultType;
    if (this.span !== undefined) {
      if (!result.ok) recordRefusal(this.span, outcome === "timeout" ? "TimeoutError" : result.resultType === "error" ? "ErrorResult" : String(result.value), result.message);
      this.span.end();
    }
    this.observer?.rpcFinished?.((performance.now() - this.startedAt) / 1000, outcome);
  }

  private failed(error: unknown): void {
    if (this.span !== undefined) {
      recordFailure(this.span, error);
      this.span.end();
    }
    this.observer?.rpcFinished?.((performance.now() - this.startedAt) / 1000, "failed");
  }
}
