import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { GenericApplication, Scheduler, addresses, genericApplicationExchange } from "@postage/actors";
import { connect, createProducer } from "@postage/transport";
import { Fingerprint } from "@postage/core";
import { waitRunning } from "./contenders/postage.js";
import { runConcurrently } from "./runConcurrently.js";
import { randomSuffix } from "./settings.js";
import { percentile } from "./stats.js";

/** What one actor-scale run measured. */
export interface ScaleResult {
  /** GenericApplications started in one process (one Scheduler, one driver). */
  readonly actors: number;
  /** From the first `scheduler.add` until every application consumes its three queues. */
  readonly startSeconds: number;
  /** Growth of the process's resident memory (after a forced GC) divided by the number of applications. */
  readonly bytesPerActor: number;
  /** p99 latency of sequential `ping` RPCs to a quiet application while a neighbour in the same process is flooded. */
  readonly fairnessP99Ms: number;
  /** The same pings with nobody flooded, for comparison. */
  readonly idleP99Ms: number;
  /** Messages the flooded neighbour handled per second meanwhile. */
  readonly floodPerSecond: number;
  /** Pings measured under the flood. */
  readonly pings: number;
}

/** Options of {@link runScale}. */
export interface ScaleOptions {
  readonly url: string;
  readonly actors: number;
  /** How long the neighbour is flooded while pinging the quiet application, in ms. */
  readonly floodMs: number;
}

/** What the worker reports once every application runs. */
interface Started {
  readonly startSeconds: number;
  readonly bytesPerActor: number;
  readonly quiet: string;
  readonly neighbour: string;
}

/**
 * Runs one scale measurement. The applications run in a child process of their own (so resident
 * memory is theirs alone, measured after a forced GC); the pings and the flood come from this
 * process, over a connection of its own, as they would from other components. Rejects if the child fails.
 */
export async function runScale(options: ScaleOptions): Promise<ScaleResult> {
  const child = fork(fileURLToPath(import.meta.url), ["--scale-worker", JSON.stringify(options)], {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const started = await Promise.race([
    new Promise<Started>((resolve, reject) => {
      child.once("message", (message) => resolve(message as Started));
      child.once("error", reject);
    }),
    exited.then((code) => {
      throw new Error(`scale worker for ${options.actors} actors exited with code ${String(code)} before starting`);
    }),
  ]);
  try {
    return { actors: options.actors, startSeconds: started.startSeconds, bytesPerActor: started.bytesPerActor, ...(await measureFairness(options, started)) };
  } finally {
    child.send("stop");
    const code = await exited;
    if (code !== 0) process.stderr.write(`scale worker for ${options.actors} actors exited with code ${String(code)}\n`);
  }
}

/** Sequential pings to the quiet application, idle and then while its neighbour is flooded. */
async function measureFairness(options: ScaleOptions, started: Started): Promise<Omit<ScaleResult, "actors" | "startSeconds" | "bytesPerActor">> {
  const client = connect({ url: options.url, shared: false });
  try {
    await client.ready();
    const producer = createProducer(client, { fingerprint: Fingerprint.collect({ name: "bench-scale-client" }), rpc: { timeout: 10_000, retries: 0 } });
    const ping = producer.to({ eks: [[genericApplicationExchange, addresses.instance(started.quiet)]] });
    const pingOnce = async (): Promise<number> => {
      const start = performance.now();
      const result = await ping.call("ping");
      if (!result.ok) throw new Error(`ping failed: ${result.message}`);
      return performance.now() - start;
    };
    for (let i = 0; i < 20; i += 1) await pingOnce();
    const idle: number[] = [];
    for (let i = 0; i < 100; i += 1) idle.push(await pingOnce());

    // Commands the neighbour has no handler for: received, counted, acked. Its queue stays full (prefetch 100 in flight).
    const flood = producer.to({ eks: [[genericApplicationExchange, addresses.instance(started.neighbour)]] });
    let flooding = true;
    let flooded = 0;
    const floodStart = performance.now();
    const flooder = runConcurrently(Number.MAX_SAFE_INTEGER, FLOOD_WINDOW, async (i) => {
      if (!flooding) throw new StopFlood();
      await flood.command("work", { seq: i, payload: "x".repeat(1000) });
      flooded += 1;
    }).catch((error: unknown) => {
      if (!(error instanceof StopFlood)) throw error;
    });
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, options.floodMs / 4)));
    const loaded: number[] = [];
    const until = performance.now() + options.floodMs;
    while (performance.now() < until) {
      loaded.push(await pingOnce());
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    flooding = false;
    await flooder;
    const floodPerSecond = (flooded * 1000) / (performance.now() - floodStart);
    await producer.close();
    return { fairnessP99Ms: percentile(loaded, 99), idleP99Ms: percentile(idle, 99), floodPerSecond, pings: loaded.length };
  } finally {
    await client.close();
  }
}

function residentAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return process.memoryUsage().rss;
}

/** The child's side: starts the applications, reports, waits for "stop", cleans up. */
async function worker(options: ScaleOptions): Promise<void> {
  const server = connect({ url: options.url, shared: false });
  await server.ready();
  const name = `bench-scale-${randomSuffix()}`;
  const scheduler = new Scheduler({ broker: server, handleSignals: false });
  let host: string | undefined;
  try {
    const rss0 = residentAfterGc();
    const t0 = performance.now();
    const apps: GenericApplication[] = [];
    for (let i = 0; i < options.actors; i += 1) apps.push(scheduler.add(new GenericApplication({ name })));
    await Promise.all(apps.map((app) => waitRunning(app, 120_000)));
    const startSeconds = (performance.now() - t0) / 1000;
    host = apps[0]?.identity.host;
    const bytesPerActor = (residentAfterGc() - rss0) / options.actors;
    const stop = new Promise<void>((resolve) => process.once("message", () => resolve()));
    const started: Started = { startSeconds, bytesPerActor, quiet: apps[0]!.id, neighbour: (apps[1] ?? apps[0]!).id };
    process.send?.(started);
    await stop;
  } finally {
    await scheduler.close();
    // The shared round-robin queues are durable (with an idle expiry): remove them now.
    const shared = [addresses.nameRoundRobin(name), ...(host === undefined ? [] : [addresses.nameOnHostRoundRobin(name, host)])];
    for (const queue of shared) await server.driver.deleteQueue(queue).catch(() => undefined);
    await server.close();
  }
}

class StopFlood extends Error {}

/** Unconfirmed flood messages at once: enough to keep the neighbour's queue from ever running dry. */
const FLOOD_WINDOW = Number(process.env.BENCH_FLOOD_WINDOW ?? 50);

if (process.argv[2] === "--scale-worker") {
  const options = JSON.parse(process.argv[3] ?? "{}") as ScaleOptions;
  worker(options).then(
    () => {
      // Lingering reconnect timers of closed connections must not keep the worker alive.
      setTimeout(() => process.exit(0), 200).unref();
    },
    (error: unknown) => {
      process.stderr.write(`scale worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
