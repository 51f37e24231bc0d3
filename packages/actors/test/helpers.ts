import { connect, type Broker } from "@postage/transport";

/** A broker of its own for one test: a fresh in-memory broker with a random name. */
export function memoryBroker(): Broker {
  return connect({ url: `memory://actors-${Math.random().toString(36).slice(2)}` });
}

/** Polls `check` until it returns true (or throws after `timeout` ms): for effects that cross the event loop. */
export async function eventually(check: () => boolean | Promise<boolean>, timeout = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Calls `onEvent` with each JSON object a child process prints on its own line (other lines are ignored). */
export function readJsonLines<T>(stream: NodeJS.ReadableStream, onEvent: (event: T) => void): void {
  let buffer = "";
  stream.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.startsWith("{")) onEvent(JSON.parse(line) as T);
    }
  });
}
