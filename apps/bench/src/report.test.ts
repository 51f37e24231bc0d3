import { describe, expect, it } from "vitest";
import type { ContenderKey } from "./Contender.js";
import { againstPeers } from "./report.js";
import { fullPlan, type BenchResults, type FigureSummary } from "./runBench.js";
import { defaultSettings } from "./settings.js";

type Rates = Partial<Record<ContenderKey, number>>;

/** Results with the given rates per figure; RPC figures get p99 = 1000 / rate ms (throughput has none). */
function results(figures: { throughput: Rates; rpcSequential?: Rates; rpcConcurrent?: Rates }): BenchResults {
  const summaries = (rates: Rates = {}, latencies = true): Partial<Record<ContenderKey, FigureSummary>> =>
    Object.fromEntries(Object.entries(rates).map(([key, perSecond]) => [key, { perSecond, ...(latencies && { p99Ms: 1000 / perSecond }), rounds: [perSecond] }]));
  const keys = new Set<ContenderKey>([figures.throughput, figures.rpcSequential ?? {}, figures.rpcConcurrent ?? {}].flatMap((r) => Object.keys(r) as ContenderKey[]));
  return {
    plan: fullPlan,
    settings: defaultSettings,
    contenders: [...keys].map((key) => ({ key, label: `L-${key}` })),
    figures: { throughput: summaries(figures.throughput, false), rpcSequential: summaries(figures.rpcSequential), rpcConcurrent: summaries(figures.rpcConcurrent) },
  };
}

describe("againstPeers", () => {
  it("holds Postage against the fastest acked peer and fast mode against the fastest defaults", () => {
    const text = againstPeers(
      results({
        throughput: { postage: 15_000, postageFast: 36_000, moleculer: 10_000, nestjs: 12_000, moleculerDefaults: 30_000, nestjsDefaults: 20_000 },
        rpcSequential: { postage: 1_800, moleculer: 2_000, nestjs: 1_500 },
      }),
    );
    expect(text).toBe(
      [
        "Postage against the fastest acked peer:",
        "  events           1.25x L-nestjs",
        "  RPC 1 in flight  0.90x L-moleculer, p99 0.56 vs 0.50 ms",
        "Postage fast mode against the fastest peer defaults:",
        "  events           1.20x L-moleculerDefaults",
      ].join("\n"),
    );
  });

  it("leaves out comparisons that lack a side", () => {
    expect(againstPeers(results({ throughput: { postage: 15_000, rabbitmqClient: 9_000 } }))).toBeUndefined();
    expect(againstPeers(results({ throughput: { postageFast: 30_000, nestjsDefaults: 20_000 } }))).toBe("Postage fast mode against the fastest peer defaults:\n  events           1.50x L-nestjsDefaults");
  });
});
