/** One printed line, kept so the tour (and tests) can wait for what a receiver printed. */
export interface PrintedLine {
  who: string;
  arrow: string;
  text: string;
}

/** Width of the "who" column: long enough for `echo_receive[2]` and the demo application names. */
const WHO_WIDTH = 18;

/**
 * Writes the demos' output as aligned lines (`who  ->  what`), with section headings, and keeps
 * every line so a caller can wait until some component printed something.
 */
export class Printer {
  readonly lines: PrintedLine[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  /** A section heading, with an optional one-line explanation under it. */
  section(title: string, explanation?: string): void {
    this.write(`\n${title}\n`);
    if (explanation !== undefined) this.write(`  ${explanation}\n`);
  }

  /** `who` sent (`->`), received (`<-`) or noted (`  `) `text`. */
  line(who: string, arrow: "->" | "<-" | "  " | "!!", text: string): void {
    this.lines.push({ who, arrow, text });
    this.write(`  ${who.padEnd(WHO_WIDTH)} ${arrow}  ${text}\n`);
    for (const wake of [...this.waiters]) wake();
  }

  /** Free text, indented under the current section. */
  note(text: string): void {
    this.write(`  ${text}\n`);
  }

  /** How many lines so far match `match`. */
  count(match: (line: PrintedLine) => boolean): number {
    return this.lines.filter(match).length;
  }

  /**
   * Resolves once `count` lines matching `match` were printed.
   * @throws {Error} after `timeout` ms, naming `what` was awaited.
   */
  async until(match: (line: PrintedLine) => boolean, count: number, what: string, timeout = 10_000): Promise<void> {
    if (this.count(match) >= count) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
      }, timeout);
      const check = (): void => {
        if (this.count(match) < count) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }
}

/** A value as a short, one-line JSON text (long values are cut). */
export function show(value: unknown, max = 90): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
