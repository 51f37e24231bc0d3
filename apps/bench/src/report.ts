import type { ContenderKey } from "./Contender.js";
import type { BenchResults, FigureName, FigureSummary } from "./runBench.js";
import type { ScaleResult } from "./scale.js";

/** Postage-only figures: actor scale on RabbitMQ and the in-memory broker. */
export interface ExtraResults {
  /** One entry per size of {@link BenchPlan.scaleSizes}. */
  readonly scale: readonly ScaleResult[];
  /** Median messages/s through the scheduler on the in-memory broker (1 KB JSON commands). */
  readonly memory: { readonly oneActor: number; readonly thousandActors: number };
}

/** Every column of the JSON output, present even when a contender did not run (then null). */
export const allContenderKeys: readonly ContenderKey[] = [
  "postage", "postageFast", "rabbitmqClient", "amqplib", "moleculer", "moleculerDefaults", "nestjs", "nestjsDefaults",
];

/** The peer frameworks in their acked (tuned) modes: what Postage's own figures are held against. */
export const ackedPeerKeys: readonly ContenderKey[] = ["moleculer", "nestjs"];

/** The peer frameworks with their defaults (events not acked): what Postage's fast mode is held against. */
export const defaultPeerKeys: readonly ContenderKey[] = ["moleculerDefaults", "nestjsDefaults"];

/** Values per contender key; null for a contender that did not run or a figure it has no value for. */
export type PerContender = Record<ContenderKey, number | null>;

/** The `--json` object (printed on one line, last). Rates are per second, latencies milliseconds. */
export interface BenchJson {
  readonly throughput: PerContender;
  readonly rpcSequential: PerContender;
  readonly rpcConcurrent: PerContender;
  readonly rpcSequentialP50Ms: PerContender;
  readonly rpcSequentialP99Ms: PerContender;
  readonly rpcConcurrentP50Ms: PerContender;
  readonly rpcConcurrentP99Ms: PerContender;
  /** Broker CPU microseconds per delivered message; null when the broker process was not found. */
  readonly throughputBrokerCpuUs: PerContender;
  /** Broker CPU microseconds per RPC call, 1 and `inFlight` in flight; null when not measured. */
  readonly rpcSequentialBrokerCpuUs: PerContender;
  readonly rpcConcurrentBrokerCpuUs: PerContender;
  /** CPU microseconds of the bench process (caller and service) per message or call. */
  readonly throughputClientCpuUs: PerContender;
  readonly rpcSequentialClientCpuUs: PerContender;
  readonly rpcConcurrentClientCpuUs: PerContender;
  /** Actor scale per size: start time, resident bytes per application, ping p99 under a neighbour's flood (and idle). */
  readonly scale: ReadonlyArray<{ actors: number; startSeconds: number; bytesPerActor: number; fairnessP99Ms: number; idleP99Ms: number; floodPerSecond: number }>;
  /** In-memory broker, messages/s through the scheduler; null with `--no-extras`. */
  readonly memory: { oneActor: number; thousandActors: number } | null;
  readonly plan: BenchResults["plan"];
  readonly settings: Omit<BenchResults["settings"], "url"> & { url: string };
}

const round = (v: number | undefined, digits: number): number | null =>
  v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

function column(results: BenchResults, figure: FigureName, pick: (s: FigureSummary) => number | undefined, digits: number): PerContender {
  const out = {} as PerContender;
  for (const key of allContenderKeys) {
    const summary = results.figures[figure][key];
    out[key] = summary ? round(pick(summary), digits) : null;
  }
  return out;
}

/** Builds the `--json` object. The URL's password is masked. */
export function toJson(results: BenchResults, extras?: ExtraResults): BenchJson {
  return {
    throughput: column(results, "throughput", (s) => s.perSecond, 0),
    rpcSequential: column(results, "rpcSequential", (s) => s.perSecond, 0),
    rpcConcurrent: column(results, "rpcConcurrent", (s) => s.perSecond, 0),
    rpcSequentialP50Ms: column(results, "rpcSequential", (s) => s.p50Ms, 3),
    rpcSequentialP99Ms: column(results, "rpcSequential", (s) => s.p99Ms, 3),
    rpcConcurrentP50Ms: column(results, "rpcConcurrent", (s) => s.p50Ms, 3),
    rpcConcurrentP99Ms: column(results, "rpcConcurrent", (s) => s.p99Ms, 3),
    throughputBrokerCpuUs: column(results, "throughput", (s) => s.brokerCpuUs, 1),
    rpcSequentialBrokerCpuUs: column(results, "rpcSequential", (s) => s.brokerCpuUs, 1),
    rpcConcurrentBrokerCpuUs: column(results, "rpcConcurrent", (s) => s.brokerCpuUs, 1),
    throughputClientCpuUs: column(results, "throughput", (s) => s.clientCpuUs, 1),
    rpcSequentialClientCpuUs: column(results, "rpcSequential", (s) => s.clientCpuUs, 1),
    rpcConcurrentClientCpuUs: column(results, "rpcConcurrent", (s) => s.clientCpuUs, 1),
    scale: (extras?.scale ?? []).map((r) => ({
      actors: r.actors,
      startSeconds: Number(r.startSeconds.toFixed(2)),
      bytesPerActor: Math.round(r.bytesPerActor),
      fairnessP99Ms: Number(r.fairnessP99Ms.toFixed(2)),
      idleP99Ms: Number(r.idleP99Ms.toFixed(2)),
      floodPerSecond: Math.round(r.floodPerSecond),
    })),
    memory: extras ? { oneActor: Math.round(extras.memory.oneActor), thousandActors: Math.round(extras.memory.thousandActors) } : null,
    plan: results.plan,
    settings: { ...results.settings, url: maskPassword(results.settings.url) },
  };
}

/** Replaces the password in an AMQP URL with `***`; returns the input unchanged if it is not a URL. */
export function maskPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * A readable table: one column per contender that ran, rates with their ratio to rabbitmq-client
 * (the first column), RPC latencies as p50 / p99, and broker CPU per message when known.
 */
export function toTable(results: BenchResults, extras?: ExtraResults): string {
  const cols = results.contenders;
  const baseKey: ContenderKey = "rabbitmqClient";
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const rows: string[][] = [["", ...cols.map((c) => c.label)]];
  const p = results.plan;
  const titles: Record<FigureName, string> = {
    throughput: `throughput, msg/s (${fmt(p.throughputN)} msgs)`,
    rpcSequential: `RPC sequential, calls/s (${fmt(p.rpcSequentialN)})`,
    rpcConcurrent: `RPC ${p.inFlight} in flight, calls/s (${fmt(p.rpcConcurrentN)})`,
  };
  for (const figure of Object.keys(titles) as FigureName[]) {
    const row = results.figures[figure];
    const base = row[baseKey]?.perSecond;
    rows.push([titles[figure], ...cols.map(({ key }) => {
      const s = row[key];
      if (!s) return "-";
      const ratio = base && key !== baseKey ? ` (${(s.perSecond / base).toFixed(2)}x)` : "";
      return fmt(s.perSecond) + ratio;
    })]);
    if (figure !== "throughput") {
      rows.push(["  latency p50 / p99, ms", ...cols.map(({ key }) => {
        const s = row[key];
        return s?.p50Ms !== undefined && s.p99Ms !== undefined ? `${s.p50Ms.toFixed(2)} / ${s.p99Ms.toFixed(2)}` : "-";
      })]);
    }
    for (const [title, pick] of [
      ["  broker CPU, us per op", (s: FigureSummary) => s.brokerCpuUs],
      ["  client CPU, us per op", (s: FigureSummary) => s.clientCpuUs],
    ] as const) {
      if (!cols.some(({ key }) => row[key] && pick(row[key]) !== undefined)) continue;
      rows.push([title, ...cols.map(({ key }) => {
        const us = row[key] && pick(row[key]);
        return us === undefined ? "-" : us.toFixed(0);
      })]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  let table = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("   ")).join("\n");
  const against = againstPeers(results);
  if (against) table += `\n\n${against}`;
  if (extras === undefined) return table;
  const lines = [table, "", "Postage actor scale on RabbitMQ (GenericApplications in one process):"];
  for (const r of extras.scale) {
    lines.push(
      `  ${fmt(r.actors).padStart(5)} apps: start ${r.startSeconds.toFixed(2)} s, ${fmt(r.bytesPerActor / 1024)} KiB RSS each, ` +
        `ping p99 ${r.fairnessP99Ms.toFixed(1)} ms with a flooded neighbour (${fmt(r.floodPerSecond)} msg/s), ${r.idleP99Ms.toFixed(1)} ms idle`,
    );
  }
  lines.push(`Postage in-memory broker through the scheduler: ${fmt(extras.memory.oneActor)} msg/s with 1 actor, ${fmt(extras.memory.thousandActors)} msg/s with 1,000 actors`);
  return lines.join("\n");
}

/**
 * One line per figure: Postage's rate over the fastest peer in its acked mode (the ratio of the
 * medians, then the lowest and highest ratio within one round), and its p99 next to that peer's;
 * then fast mode's events over the fastest peer defaults (which do not ack events).
 * Undefined when neither comparison has both sides.
 */
export function againstPeers(results: BenchResults): string | undefined {
  const labels = new Map(results.contenders.map((c) => [c.key, c.label]));
  const names: Record<FigureName, string> = { throughput: "events", rpcSequential: "RPC 1 in flight", rpcConcurrent: `RPC ${results.plan.inFlight} in flight` };
  const compare = (figure: FigureName, ours: ContenderKey, peers: readonly ContenderKey[]): string | undefined => {
    const row = results.figures[figure];
    const mine = row[ours];
    const best = peers
      .map((key) => ({ key, s: row[key] }))
      .filter((c): c is { key: ContenderKey; s: FigureSummary } => c.s !== undefined)
      .sort((a, b) => b.s.perSecond - a.s.perSecond)[0];
    if (!mine || !best) return undefined;
    // Contenders are interleaved within a round, so a round's two rates were taken minutes apart at
    // most: their ratios show how far the machine's drift moves the median ratio.
    const theirs = best.s.rounds;
    const byRound = mine.rounds.length > 1 && mine.rounds.length === theirs.length ? mine.rounds.map((rate, i) => rate / (theirs[i] as number)) : [];
    const spread = byRound.length > 0 ? `, ${Math.min(...byRound).toFixed(2)}-${Math.max(...byRound).toFixed(2)}x by round` : "";
    const p99 = mine.p99Ms !== undefined && best.s.p99Ms !== undefined ? `, p99 ${mine.p99Ms.toFixed(2)} vs ${best.s.p99Ms.toFixed(2)} ms` : "";
    return `  ${names[figure].padEnd(16)} ${(mine.perSecond / best.s.perSecond).toFixed(2)}x ${labels.get(best.key) ?? best.key}${spread}${p99}`;
  };
  const sections: string[] = [];
  const acked = (Object.keys(names) as FigureName[]).map((figure) => compare(figure, "postage", ackedPeerKeys)).filter((l) => l !== undefined);
  if (acked.length > 0) sections.push(["Postage against the fastest acked peer:", ...acked].join("\n"));
  const fast = compare("throughput", "postageFast", defaultPeerKeys);
  if (fast !== undefined) sections.push(`Postage fast mode against the fastest peer defaults:\n${fast}`);
  return sections.length > 0 ? sections.join("\n") : undefined;
}
