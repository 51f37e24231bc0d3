import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from "parse-prometheus-text-format";

/** A scrape parsed by a Prometheus text-format parser, with look-ups by family and labels. */
export class Scrape {
  readonly families: ParsedFamily[];

  constructor(readonly text: string) {
    this.families = parsePrometheusTextFormat(text);
  }

  /** Fetches `url` and parses the body (checking the Prometheus content type). */
  static async from(url: string): Promise<Scrape> {
    const response = await fetch(url);
    if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
    const type = response.headers.get("content-type") ?? "";
    if (!type.startsWith("text/plain; version=0.0.4")) throw new Error(`GET ${url}: content type ${type}`);
    return new Scrape(await response.text());
  }

  family(name: string): ParsedFamily {
    const found = this.families.find((family) => family.name === name);
    if (found === undefined) throw new Error(`no metric family ${name} in:\n${this.text}`);
    return found;
  }

  /** The sample of `name` whose labels include `labels`, if any. */
  sample(name: string, labels: Record<string, string> = {}): ParsedSample | undefined {
    return this.family(name).metrics.find((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
  }

  /** The numeric value of that sample (0 when there is none: a counter that never moved). */
  value(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels)?.value ?? 0);
  }
}
