import type { Contender, ContenderFactory, ContenderKey, FigureName, RunResult } from "./Contender.js";
import type { BrokerCpu } from "./brokerCpu.js";
import type { BenchSettings } from "./settings.js";
import { median, percentile } from "./stats.js";

/** How much work a benchmark does. */
export interface BenchPlan {
  /** Measured rounds; every figure is the median over rounds. */
  readonly rounds: number;
  /** Messages per throughput run. */
  readonly throughputN: number;
  /** Calls per sequential RPC run. */
  readonly rpcSequentialN: number;
  /** Calls per concurrent RPC run. */
  readonly rpcConcurrentN: number;
  /** Calls outstanding at once in the concurrent RPC run. */
  readonly inFlight: number;
  /** Size of the unmeasured warm-up runs, as a fraction of the measured ones. */
  readonly warmupFraction: number;
  /** GenericApplications per actor-scale run (one run per size, each in a fresh process). */
  readonly scaleSizes: readonly number[];
  /** How long the neighbour is flooded while the quiet application is pinged, in ms. */
  readonly floodMs: number;
  /** Messages per in-memory run (median over `rounds`), for 1 and 1,000 actors. */
  readonly memoryMessages: number;
}

/** The default plan: about a minute per contender pair on a 2-core machine. */
export const fullPlan: BenchPlan = {
  rounds: 5, throughputN: 20_000, rpcSequentialN: 2_000, rpcConcurrentN: 20_000, inFlight: 50, warmupFraction: 0.25,
  scaleSizes: [100, 1_000], floodMs: 3_000, memoryMessages: 100_000,
};

/** `--quick`: well under a minute in total. */
export const quickPlan: BenchPlan = {
  rounds: 3, throughputN: 5_000, rpcSequentialN: 500, rpcConcurrentN: 5_000, inFlight: 50, warmupFraction: 0.2,
  scaleSizes: [100, 1_000], floodMs: 1_000, memoryMessages: 20_000,
};

/** The three figures, in report order. */
export const figureNames: readonly FigureName[] = ["throughput", "rpcSequential", "rpcConcurrent"];
export type { FigureName };

/** One contender's result for one figure: medians over the rounds. */
export interface FigureSummary {
  /** Messages (throughput) or calls (RPC) per second. */
  readonly perSecond: number;
  /** Median per-call latency, RPC only. */
  readonly p50Ms?: number;
  /** 99th percentile per-call latency, RPC only. */
  readonly p99Ms?: number;
  /** Broker CPU microseconds per message or call, when the broker process could be found. */
  readonly brokerCpuUs?: number;
  /**
   * CPU microseconds (user + system) this process spent per message or call: caller and service both,
   * since they run in one process.
   */
  readonly clientCpuUs?: number;
  /** The per-round rates the median was taken from. */
  readonly rounds: readonly number[];
}

/** Everything a benchmark run measured. */
export interface BenchResults {
  readonly plan: BenchPlan;
  readonly settings: BenchSettings;
  readonly contenders: readonly { key: ContenderKey; label: string }[];
  readonly figures: Record<FigureName, Partial<Record<ContenderKey, FigureSummary>>>;
}

interface Sample {
  perSecond: number;
  p50Ms?: number;
  p99Ms?: number;
  brokerCpuUs?: number;
  clientCpuUs?: number;
}

/**
 * Opens every contender, warms each up, then runs `plan.rounds` rounds. Within a round each figure is
 * measured for every contender before the next figure, in an order rotated every round, so slow drift
 * (broker memory, page cache, other load) spreads over all contenders. Closes every contender at the
 * end, also on failure; rejects with the first contender error.
 */
export async function runBench(
  factories: readonly ContenderFactory[],
  settings: BenchSettings,
  plan: BenchPlan,
  options: { brokerCpu?: BrokerCpu | undefined; log?: (line: string) => void } = {},
): Promise<BenchResults> {
  const log = options.log ?? (() => undefined);
  const opened: { factory: ContenderFactory; contender: Contender }[] = [];
  try {
    for (const factory of factories) opened.push({ factory, contender: await factory.open(settings) });

    const run = (factory: ContenderFactory, c: Contender, figure: FigureName, scale: number): Promise<RunResult> => {
      const n = (base: number) => Math.max(1, Math.round(base * scale * (factory.scale?.[figure] ?? 1)));
      switch (figure) {
        case "throughput": return c.throughput(n(plan.throughputN));
        case "rpcSequential": return c.rpcConcurrent(n(plan.rpcSequentialN), 1);
        case "rpcConcurrent": return c.rpcConcurrent(n(plan.rpcConcurrentN), plan.inFlight);
      }
    };

    log(`warming up ${opened.map((o) => o.factory.label).join(", ")}`);
    for (const { factory, contender } of opened) for (const figure of figureNames) await run(factory, contender, figure, plan.warmupFraction);

    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < plan.rounds; round++) {
      for (const figure of figureNames) {
        const order = opened.map((_, i) => opened[(i + round) % opened.length]!);
        for (const { factory, contender } of order) {
          const cpu0 = options.brokerCpu?.seconds();
          const own0 = process.cpuUsage();
          const result = await run(factory, contender, figure, 1);
          const own = process.cpuUsage(own0);
          const cpu1 = options.brokerCpu?.seconds();
          const sample: Sample = { perSecond: result.count / result.seconds, clientCpuUs: (own.user + own.system) / result.count };
          if (result.latenciesMs.length > 0) {
            sample.p50Ms = percentile(result.latenciesMs, 50);
            sample.p99Ms = percentile(result.latenciesMs, 99);
          }
          if (cpu0 !== undefined && cpu1 !== undefined && Number.isFinite(cpu1 - cpu0)) {
            sample.brokerCpuUs = ((cpu1 - cpu0) * 1e6) / result.count;
          }
          const key = `${figure}/${factory.key}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          log(`round ${round + 1}/${plan.rounds} ${figure.padEnd(13)} ${factory.label.padEnd(16)} ${Math.round(sample.perSecond)}/s`);
        }
      }
    }

    const figures = Object.fromEntries(figureNames.map((figure) => {
      const row: Partial<Record<ContenderKey, FigureSummary>> = {};
      for (const { factory } of opened) {
        const list = samples.get(`${figure}/${factory.key}`) ?? [];
        const pick = (f: (s: Sample) => number | undefined): number | undefined => {
          const values = list.map(f).filter((v): v is number => v !== undefined);
          return values.length > 0 ? median(values) : undefined;
        };
        const summary: FigureSummary = { perSecond: median(list.map((s) => s.perSecond)), rounds: list.map((s) => s.perSecond) };
        const p50Ms = pick((s) => s.p50Ms), p99Ms = pick((s) => s.p99Ms), brokerCpuUs = pick((s) => s.brokerCpuUs), clientCpuUs = pick((s) => s.clientCpuUs);
        row[factory.key] = {
          ...summary,
          ...(p50Ms !== undefined && { p50Ms }),
          ...(p99Ms !== undefined && { p99Ms }),
          ...(brokerCpuUs !== undefined && { brokerCpuUs }),
          ...(clientCpuUs !== undefined && { clientCpuUs }),
        };
      }
      return [figure, row];
    })) as Record<FigureName, Partial<Record<ContenderKey, FigureSummary>>>;

    return { plan, settings, contenders: opened.map(({ factory }) => ({ key: factory.key, label: factory.label })), figures };
  } finally {
    const closed = await Promise.allSettled(opened.map(({ contender }) => contender.close()));
    // a failed close must not hide the run's own error, but is still worth knowing about
    for (const c of closed) if (c.status === "rejected") log(`close failed: ${String(c.reason)}`);
  }
}
