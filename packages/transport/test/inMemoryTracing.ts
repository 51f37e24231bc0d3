import { context, propagation, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

/** The real OpenTelemetry SDK, registered globally, exporting finished spans to memory. */
export interface InMemoryTracing {
  readonly exporter: InMemorySpanExporter;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
  /** The finished span named `name` (the only one, or the first when `index` is not given). */
  span(name: string, index?: number): ReadableSpan;
  /** Unregisters the SDK (tracer provider, context manager, propagator): Postage goes back to no-op. */
  close(): Promise<void>;
}

/**
 * Registers the SDK as an application would (`NodeTracerProvider.register()`: W3C trace-context
 * propagator and AsyncLocalStorage context manager).
 */
export function registerInMemoryTracing(): InMemoryTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register();
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    span(name, index = 0) {
      const found = exporter.getFinishedSpans().filter((span) => span.name === name)[index];
      if (found === undefined) throw new Error(`no finished span "${name}" #${index}; have: ${exporter.getFinishedSpans().map((s) => s.name).join(", ")}`);
      return found;
    },
    async close() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The parent span id of a finished span, if any. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
