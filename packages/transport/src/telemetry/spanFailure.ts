import { SpanStatusCode, type Span } from "@opentelemetry/api";
import { ATTR } from "./attributes.js";

/** Marks a span failed: status ERROR, `error.type` (the error's `code`, else its name), the exception recorded. @internal */
export function recordFailure(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  const type = typeof code === "string" ? code : error instanceof Error ? error.name : "Error";
  span.setAttribute(ATTR.errorType, type);
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** Marks a span failed for a reason that is not an exception (a rejection, an error result). @internal */
export function recordRefusal(span: Span, type: string, message: string): void {
  span.setAttribute(ATTR.errorType, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}
