import { defineExchange, Fingerprint } from "@postage/core";
import { MessageProcessor, messageHandler, Scheduler } from "@postage/actors";
import { connect, createProducer } from "@postage/transport";
import { Countdown } from "./Countdown.js";
import { waitRunning } from "./contenders/postage.js";
import { runConcurrently } from "./runConcurrently.js";
import { createBodyFactory, randomSuffix } from "./settings.js";

/** Options of {@link runMemoryBench}. */
export interface MemoryBenchOptions {
  /** Actors sharing the messages (message `i` goes to actor `i % actors`). */
  readonly actors: number;
  /** Messages per measured run. */
  readonly messages: number;
  /** Serialized size of each JSON body, in bytes. */
  readonly bodyBytes: number;
  /** Measured runs; the result is their median. */
  readonly rounds: number;
}

/**
 * Messages per second through the in-memory broker and the scheduler: a producer publishes
 * commands (at most 500 pending), `actors` MessageProcessors (prefetch 100 each) handle them in
 * turn; the clock stops when the last one was handled. One process, no network.
 */
export async function runMemoryBench(options: MemoryBenchOptions): Promise<number[]> {
  const broker = connect({ url: `memory://bench-${randomSuffix()}`, shared: false });
  const scheduler = new Scheduler({ broker, handleSignals: false });
  const exchange = defineExchange({ name: "bench.memory", type: "direct", durable: false });
  let countdown = new Countdown(0);
  try {
    const actors: MessageProcessor[] = [];
    for (let a = 0; a < options.actors; a += 1) {
      actors.push(
        scheduler.add(
          new MessageProcessor({
            fingerprint: { name: `bench-memory-${a}` },
            bindings: [[exchange, [[`bench.memory.${a}`, `a${a}`]]]],
            handlers: [messageHandler("command", "bench", () => countdown.tick())],
          }),
        ),
      );
    }
    await Promise.all(actors.map((actor) => waitRunning(actor)));
    const producer = createProducer(broker, { exchanges: [[exchange, "a0"]], fingerprint: Fingerprint.collect({ name: "bench-memory-producer" }) });
    const routes = Array.from({ length: options.actors }, (_, a) => producer.to({ key: `a${a}` }));
    const body = createBodyFactory(options.bodyBytes);
    const run = async (n: number): Promise<number> => {
      countdown = new Countdown(n);
      const t0 = performance.now();
      await runConcurrently(n, 500, (i) => routes[i % routes.length]!.command("bench", body(i)));
      await countdown.done;
      return n / ((performance.now() - t0) / 1000);
    };
    await run(Math.ceil(options.messages / 5));
    const rates: number[] = [];
    for (let r = 0; r < options.rounds; r += 1) rates.push(await run(options.messages));
    await producer.close();
    return rates;
  } finally {
    await scheduler.close();
    await broker.close();
  }
}
