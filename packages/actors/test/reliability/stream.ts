import { defineExchange, Fingerprint } from "@postage/core";
import { type Broker, connect, createProducer, RabbitDriver, resolveConnectionSettings, type TransportError } from "@postage/transport";
import { MessageProcessor, messageHandler, Scheduler } from "../../src/index.js";
import { eventually, randomName, settlesWithin } from "./support.js";

/** One row of the fault table. */
export interface StreamReport {
  scenario: string;
  duplicatesSuppression: boolean;
  sent: number;
  confirmed: number;
  /** Publishes that settled with an error (after the library's retries); never hung. */
  failed: number;
  receivedUnique: number;
  /** Confirmed messages never received: must be 0. */
  lost: number;
  /** Handler calls beyond the first per message. */
  duplicates: number;
  /** Copies the processor suppressed by message id. */
  suppressed: number;
  /** Seconds from the broker being back to the first delivery after it (one per fault). */
  recovery: number[];
  /** Messages handled by each worker (several on a cluster), duplicates included. */
  perWorker: number[];
  /** Per worker: deliveries after the last fault ended (> 0: it consumes again, reconnected if it had to). */
  workerAfterFault: number[];
  /** Per worker: the longest pause between two deliveries from the first fault's start on, in seconds. */
  workerMaxGap: number[];
  seconds: number;
  errorCodes: Record<string, number>;
}

/** What a fault does; resolves with the time (Date.now()) the broker was back. */
export type Fault = () => Promise<number>;

export interface StreamOptions {
  /** The producer's broker URL. */
  url: string;
  /** One worker (a MessageProcessor on its own connection) per URL, all on the same queue. @default [url] */
  workerUrls?: string[];
  scenario: string;
  count: number;
  /** Faults run in turn once these fractions of the stream were confirmed. */
  faults: ReadonlyArray<{ at: number; run: Fault }>;
  duplicates: boolean;
  /** Queue arguments (a quorum queue on the cluster). */
  queueArguments?: Record<string, unknown>;
  /** Paces the producer (messages per second), so that the stream outlasts a slow fault. @default full speed */
  ratePerSecond?: number;
  /** Publishes in flight at once. @default 200 */
  window?: number;
  /** Errors reported by the drivers (lost connection, failed acks...). */
  onDriverError?: (error: TransportError) => void;
  /** Runs once the workers consume, before the stream starts (given the queue's name): a precondition check. */
  beforeStream?: (queue: string) => Promise<void>;
  /**
   * At least this many messages are sent after the last fault ended: the stream goes on past
   * `count` (at the same rate) until they are, however long the faults took, so that what happens
   * after them is always seen. `sent` is then more than `count`. @default 0
   */
  minAfterFaults?: number;
}

const PAD = "x".repeat(1_000);

/** A driver with the default tuning whose background errors go to `onError` instead of the console. */
export function quietBroker(url: string, onError: (error: TransportError) => void): Broker {
  const settings = resolveConnectionSettings({ url }, {});
  if (settings.transport !== "amqp") throw new Error("an amqp URL is needed");
  return connect({ driver: new RabbitDriver(settings, { onError }) });
}

/**
 * Streams `count` numbered persistent 1 KB commands from a producer (its own connection) to a
 * MessageProcessor (another connection, durable queue) while `faults` hit the broker, and counts
 * what arrived. Every publish promise must settle; every confirmed message must arrive.
 */
export async function runStream(options: StreamOptions): Promise<StreamReport> {
  const started = Date.now();
  const errorCodes: Record<string, number> = {};
  const driverErrorAt: number[] = [];
  const onDriverError = (error: TransportError): void => {
    driverErrorAt.push(Date.now());
    errorCodes[`driver:${error.code}`] = (errorCodes[`driver:${error.code}`] ?? 0) + 1;
    options.onDriverError?.(error);
  };
  const exchange = defineExchange({ name: randomName("faults-ex"), type: "direct", durable: true });
  const queue = randomName("faults-q");
  const key = "work";
  const workerUrls = options.workerUrls ?? [options.url];
  const producerBroker = quietBroker(options.url, onDriverError);
  const handled = new Map<number, number>();
  const deliveryTimes: number[] = [];
  const workerTimes: number[][] = workerUrls.map(() => []);
  const schedulerLog: string[] = [];

  const workers = workerUrls.map((workerUrl, index) => {
    const broker = quietBroker(workerUrl, onDriverError);
    const processor = new MessageProcessor({
    fingerprint: { name: `faults-receiver-${index}` },
    bindings: [[exchange, [[{ name: queue, durable: true, ...(options.queueArguments ? { arguments: options.queueArguments } : {}) }, key]]]],
    prefetch: 100,
    duplicates: options.duplicates ? { windowMs: 600_000 } : false,
    handlers: [
      messageHandler("command", "work", (content) => {
        const n = (content.parameters as { n: number }).n;
        handled.set(n, (handled.get(n) ?? 0) + 1);
        const now = Date.now();
        deliveryTimes.push(now);
        workerTimes[index]?.push(now);
      }),
    ],
    });
    const scheduler = new Scheduler({ broker, handleSignals: false, log: (line) => schedulerLog.push(line) });
    scheduler.add(processor);
    return { broker, processor, running: scheduler.run() };
  });
  for (const { processor } of workers) await eventually(() => processor.state === "running", "the workers to run");
  await options.beforeStream?.(queue);

  const producer = createProducer(producerBroker, { exchanges: [[exchange, key]], fingerprint: Fingerprint.collect({ name: "faults-sender" }) });
  let sent = 0;
  let next = 0;
  const confirmed = new Set<number>();
  const failed = new Map<number, string>();
  const failedAt: number[] = [];
  let faultsOver = false;
  let sentAfterFaults = 0;
  const more = (): boolean => next < options.count || (!faultsOver && (options.minAfterFaults ?? 0) > 0) || sentAfterFaults < (options.minAfterFaults ?? 0);
  const worker = async (): Promise<void> => {
    while (more()) {
      const n = next;
      next += 1;
      if (options.ratePerSecond !== undefined) {
        const due = streamStart + (n / options.ratePerSecond) * 1000;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      }
      sent += 1;
      if (faultsOver) sentAfterFaults += 1;
      try {
        await producer.command("work", { n, pad: PAD });
        confirmed.add(n);
      } catch (error) {
        const code = (error as { code?: string }).code ?? "UNKNOWN";
        failed.set(n, code);
        failedAt.push(Date.now());
        errorCodes[`publish:${code}`] = (errorCodes[`publish:${code}`] ?? 0) + 1;
      }
    }
  };
  const backTimes: number[] = [];
  const faultSpans: Array<{ start: number; end: number }> = [];
  const faulting = (async () => {
    for (const fault of options.faults) {
      await eventually(() => confirmed.size + failed.size >= fault.at * options.count, `${fault.at * 100}% of the stream`, 120_000);
      const start = Date.now();
      backTimes.push(await fault.run());
      faultSpans.push({ start, end: Date.now() });
    }
    faultsOver = true;
  })();
  const streamStart = Date.now();
  const publishing = Promise.all(Array.from({ length: options.window ?? 200 }, worker));
  // "Never hangs": every publish settles (with success or a clear error) in bounded time.
  await settlesWithin(publishing, 240_000, "the publishes");
  const streamEnd = Date.now();
  await settlesWithin(faulting, 240_000, "the faults");
  // Every confirmed message must arrive; give the consumer time to catch up after the last fault.
  await eventually(() => [...confirmed].every((n) => handled.has(n)), "every confirmed message to be handled", 60_000).catch(() => undefined);
  // Late redeliveries (duplicates) would come within a moment; let them in before counting.
  await new Promise((resolve) => setTimeout(resolve, 500));

  let suppressed = 0;
  for (const { processor } of workers) {
    suppressed += processor.counters.duplicates;
    processor.quit();
  }
  for (const { running } of workers) await settlesWithin(running, 30_000, "the schedulers");
  await producer.close();
  await producerBroker.driver.deleteQueue(queue).catch(() => undefined);
  await producerBroker.driver.deleteExchange(exchange.name).catch(() => undefined);
  await producerBroker.close();
  for (const { broker } of workers) await broker.close();

  let lost = 0;
  for (const n of confirmed) if (!handled.has(n)) lost += 1;
  let duplicates = 0;
  for (const times of handled.values()) duplicates += times - 1;
  const recovery = backTimes.map((back) => {
    const first = deliveryTimes.find((t) => t >= back);
    return first === undefined ? Number.NaN : (first - back) / 1000;
  });
  const rel = (t: number | undefined): string => (t === undefined ? "-" : ((t - (faultSpans[0]?.start ?? started)) / 1000).toFixed(2));
  console.log(
    `timeline (s from the first fault): faults ${faultSpans.map((f) => `${rel(f.start)}..${rel(f.end)}`).join(", ")}; failures ${rel(failedAt[0])}..${rel(failedAt.at(-1))}; last delivery per worker ${workerTimes.map((t) => rel(t.at(-1))).join(" / ")}; stream end ${rel(streamEnd)}; driver errors at ${driverErrorAt.slice(0, 4).map(rel).join(", ")}${driverErrorAt.length > 4 ? ` (+${driverErrorAt.length - 4})` : ""}; deliveries after fault start ${workerTimes.map((t) => t.filter((x) => x >= (faultSpans[0]?.start ?? 0)).length).join(" / ")}`,
  );
  return {
    scenario: options.scenario,
    duplicatesSuppression: options.duplicates,
    sent,
    confirmed: confirmed.size,
    failed: failed.size,
    receivedUnique: handled.size,
    lost,
    duplicates,
    suppressed,
    recovery,
    perWorker: workerTimes.map((times) => times.length),
    workerAfterFault: workerTimes.map((times) => times.filter((t) => t > (faultSpans.at(-1)?.end ?? started)).length),
    workerMaxGap: workerTimes.map((times) => {
      const from = faultSpans[0]?.start ?? started;
      let gap = 0;
      let previous = from;
      for (const t of times) {
        if (t < from) continue;
        gap = Math.max(gap, t - previous);
        previous = t;
      }
      return gap / 1000;
    }),
    seconds: (Date.now() - started) / 1000,
    errorCodes,
  };
}
