import { describe, expect, it } from "vitest";
import type { ContenderKey } from "./Contender.js";
import { againstPeers } from "./report.js";
import { fullPlan, type BenchResults, type FigureSummary } from "./runBench.js";
import { defaultSettings } from "./settings.js";

type Rates = Partial<Record<ContenderKey, number | readonly number[]>>;

/**
 * Results with the given rates per figure, one round, or one entry per round (the median is the
 * figure's rate); RPC figures get p99 = 1000 / rate ms (throughput has none).
 */
function results(figures: { throughput: Rates; rpcSequential?: Rates; rpcConcurrent?: Rates }): BenchResults {
  const median = (rounds: readonly number[]): number => [...rounds].sort((a, b) => a - b)[Math.floor(rounds.length / 2)] as number;
  const summaries = (rates: Rates = {}, latencies = true): Partial<Record<ContenderKey, FigureSummary>> =>
    Object.fromEntries(
      Object.entries(rates).map(([key, given]) => {
        const rounds = typeof given === "number" ? [given] : given;
        const perSecond = median(rounds);
        return [key, { perSecond, ...(latencies && { p99Ms: 1000 / perSecond }), rounds }];
      }),
    );
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

  it("gives the lowest and highest ratio within a round next to the ratio of the medians", () => {
    const text = againstPeers(results({ throughput: { postage: [15_000, 12_000, 20_000], moleculer: [10_000, 12_000, 8_000], nestjs: [9_000, 9_000, 9_000] } }));
    // medians 15,000 vs 10,000; by round 1.50, 1.00, 2.50 (each against Moleculer, the faster by median)
    expect(text).toBe("Postage against the fastest acked peer:\n  events           1.50x L-moleculer, 1.00-2.50x by round");
  });

  it("leaves out comparisons that lack a side", () => {
    expect(againstPeers(results({ throughput: { postage: 15_000, rabbitmqClient: 9_000 } }))).toBeUndefined();
    expect(againstPeers(results({ throughput: { postageFast: 30_000, nestjsDefaults: 20_000 } }))).toBe("Postage fast mode against the fastest peer defaults:\n  events           1.50x L-nestjsDefaults");
  });
});
