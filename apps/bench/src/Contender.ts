/**
 * The contract every benchmark contender implements. Adding a contender is one file that exports a
 * {@link ContenderFactory}, plus one line in `contenders/index.ts`.
 *
 * All contenders run with the same {@link BenchSettings}: 1 KB JSON bodies, publisher confirms,
 * consumer acks (one per message), prefetch 100 and `noDelay` sockets.
 */
import type { BenchSettings } from "./settings.js";

/**
 * Which column of the report (and which key of the `--json` output) a contender fills. The last four are
 * the peer frameworks of `apps/bench/peers` (`npm run bench:peers`): tuned/acked mode and defaults each.
 */
export type ContenderKey =
  | "postage"
  | "postageFast"
  | "rabbitmqClient"
  | "amqplib"
  | "moleculer"
  | "moleculerDefaults"
  | "nestjs"
  | "nestjsDefaults";

/** The figures a benchmark measures, in report order. */
export type FigureName = "throughput" | "rpcSequential" | "rpcConcurrent";

/** One timed run: wall-clock seconds, and per-call latencies in milliseconds for RPC runs. */
export interface RunResult {
  /** Operations completed (messages delivered, or RPC replies received). */
  readonly count: number;
  /** Wall-clock time from the first publish to the last delivery or reply. */
  readonly seconds: number;
  /** One entry per RPC call (request published to reply received), in milliseconds; empty for throughput. */
  readonly latenciesMs: readonly number[];
}

/**
 * An opened contender: its connections, queues and consumers exist and stay up across runs.
 * Methods are called one at a time (never concurrently) by the harness. A broker or client error
 * rejects the running method; the harness then stops the benchmark.
 */
export interface Contender {
  /**
   * Publishes `n` messages with publisher confirms (at most `settings.publishWindow` unconfirmed) to a
   * queue it consumes itself with prefetch 100 and an ack per message; resolves when all `n` were
   * delivered, decoded and acked.
   */
  throughput(n: number): Promise<RunResult>;
  /** Makes `n` RPC calls with `inFlight` calls outstanding at any time (1: one after another). */
  rpcConcurrent(n: number, inFlight: number): Promise<RunResult>;
  /** Closes consumers, publishers and connections in that order. Idempotent. */
  close(): Promise<void>;
}

/** Creates a {@link Contender} against the broker in `settings.url`. */
export interface ContenderFactory {
  readonly key: ContenderKey;
  /** Column title in the table. */
  readonly label: string;
  /**
   * Run this fraction of the plan's count for a figure (rates stay comparable): for a mode that is
   * slow by design, such as Nagle's algorithm left on, which costs ~40 ms a round trip.
   * @default 1 for every figure
   */
  readonly scale?: Partial<Record<FigureName, number>>;
  /** Connects and declares what the runs need; rejects if the broker is unreachable. */
  open(settings: BenchSettings): Promise<Contender>;
}
