import { context, propagation, ROOT_CONTEXT, type Context, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";

type Headers = Record<string, unknown>;

const setter: TextMapSetter<Headers> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = carrier[key];
    // AMQP header tables may hand a long string back as bytes (another client wrote it so).
    if (typeof value === "string") return value;
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8");
    return undefined;
  },
};

/**
 * A copy of `headers` with `traceContext` written into it by the registered propagator (W3C
 * `traceparent` / `tracestate` with the SDK's defaults). Python Postage peers ignore these headers.
 * @internal
 */
export function injectTraceHeaders(traceContext: Context, headers: Headers | undefined): Headers {
  const carrier: Headers = { ...headers };
  propagation.inject(traceContext, carrier, setter);
  return carrier;
}

/** The trace context carried by a delivery's AMQP headers (the root context when there is none). @internal */
export function extractTraceHeaders(headers: Headers | undefined): Context {
  if (headers === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, getter);
}

/** The context in effect now (the span of the handler that is publishing, if any). @internal */
export function currentContext(): Context {
  return context.active();
}
