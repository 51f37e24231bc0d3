import { createInterface } from "node:readline";

/** Where a command writes: its results to `out`, diagnostics to `err`. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /**
   * Asks a question (on stderr) and resolves to the line typed on stdin, or undefined when stdin
   * ends first (nothing to read: not a yes). @default none (nothing can be asked)
   */
  ask?: (question: string) => Promise<string | undefined>;
}

/** Reads one line of stdin after writing `question` to stderr. */
function askOnTerminal(question: string): Promise<string | undefined> {
  process.stderr.write(question);
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin, terminal: false });
    let answer: string | undefined;
    lines.once("line", (line) => {
      answer = line;
      lines.close();
    });
    lines.once("close", () => resolve(answer));
  });
}

/** The process's stdout and stderr. */
export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  ask: askOnTerminal,
};
