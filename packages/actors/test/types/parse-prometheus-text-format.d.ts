// The parser ships no types. What it returns, as far as the tests use it (prom2json's shape).
declare module "parse-prometheus-text-format" {
  export interface ParsedSample {
    value?: string;
    labels?: Record<string, string>;
    /** Histograms: cumulative counts by `le` (the parser keeps one labelled series per family). */
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface ParsedFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: ParsedSample[];
  }
  /** Parses the Prometheus text format; throws on a line that is not valid. */
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
