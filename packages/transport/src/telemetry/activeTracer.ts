import { ProxyTracerProvider, trace, type Tracer, type TracerProvider } from "@opentelemetry/api";

/** The instrumentation scope of every span Postage makes. */
export const TRACER_NAME = "@postage/transport";

/**
 * The API's no-op provider: what a fresh proxy delegates to while no SDK is registered. Taken
 * once, so that checking for an SDK costs one global lookup and a comparison, not a span.
 */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();

let cached: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The tracer to make spans with, or `undefined` while no OpenTelemetry SDK is registered. The hot
 * paths (each publish, each delivery) call this first and do nothing more when it is undefined:
 * without an SDK, tracing allocates nothing per message (the API's no-op tracer would still build
 * a non-recording span per call). Checked on every call, because an SDK may be registered after
 * Postage was loaded.
 * @internal
 */
export function activeTracer(): Tracer | undefined {
  const global = trace.getTracerProvider();
  const provider = global instanceof ProxyTracerProvider ? global.getDelegate() : global;
  if (provider === NOOP_PROVIDER) return undefined;
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer(TRACER_NAME) };
  return cached.tracer;
}
