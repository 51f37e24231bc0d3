#!/usr/bin/env node
/**
 * `npm run bench`: Postage against raw rabbitmq-client and raw amqplib on the same broker, same settings.
 * Progress goes to stderr; the table (or, with --json, the JSON object as the last line) to stdout.
 */
import { existsSync } from "node:fs";
import type { ContenderFactory } from "./Contender.js";
import { parseBenchArgs, usage, UsageError } from "./args.js";
import { findBrokerCpu } from "./brokerCpu.js";
import { contenders } from "./contenders/index.js";
import { maskPassword, toJson, toTable } from "./report.js";
import { runBench } from "./runBench.js";
import { runMemoryBench } from "./memoryBench.js";
import { runScale, type ScaleResult } from "./scale.js";
import { median } from "./stats.js";

async function main(): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n${usage}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const all = options.peers ? [...contenders, ...(await loadPeers())] : contenders;
  const chosen = options.only === undefined ? all : all.filter((c) => options.only?.includes(c.key));
  const unknown = options.only?.filter((k) => !all.some((c) => c.key === k)) ?? [];
  if (unknown.length > 0 || chosen.length === 0) {
    process.stderr.write(`unknown contender(s): ${unknown.join(", ") || "(none chosen)"}; known: ${all.map((c) => c.key).join(", ")}\n`);
    return 2;
  }
  const brokerCpu = findBrokerCpu(options.brokerPid, brokerPort(options.settings.url));
  const { plan, settings } = options;
  process.stderr.write(
    `bench: ${maskPassword(settings.url)}, ${plan.rounds} rounds, ${settings.bodyBytes} B JSON bodies, confirms, acks, ` +
      `prefetch ${settings.prefetch}, noDelay; broker CPU ${brokerCpu ? `from pid ${brokerCpu.pid}` : "not measured"}\n`,
  );
  const t0 = performance.now();
  const results = await runBench(chosen, settings, plan, {
    brokerCpu,
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
  const scale: ScaleResult[] = [];
  for (const actors of options.noExtras ? [] : plan.scaleSizes) {
    const result = await runScale({ url: settings.url, actors, floodMs: plan.floodMs });
    process.stderr.write(`  scale ${actors} apps: start ${result.startSeconds.toFixed(2)} s, ping p99 ${result.fairnessP99Ms.toFixed(1)} ms under flood\n`);
    scale.push(result);
  }
  const memoryRun = async (actors: number): Promise<number> => {
    const rates = await runMemoryBench({ actors, messages: plan.memoryMessages, bodyBytes: settings.bodyBytes, rounds: plan.rounds });
    process.stderr.write(`  in-memory ${actors} actor(s): ${rates.map((r) => Math.round(r)).join(", ")} msg/s\n`);
    return median(rates);
  };
  const extras = options.noExtras ? undefined : { scale, memory: { oneActor: await memoryRun(1), thousandActors: await memoryRun(1_000) } };
  process.stderr.write(`bench: done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${toTable(results, extras)}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(toJson(results, extras))}\n`);
  return 0;
}

/** The port of a broker on this machine, from its AMQP URL (undefined for a remote or malformed one). */
function brokerPort(url: string): number | undefined {
  try {
    const u = new URL(url);
    if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) return undefined;
    return u.port === "" ? (u.protocol === "amqps:" ? 5671 : 5672) : Number(u.port);
  } catch {
    return undefined;
  }
}

/**
 * The peer frameworks live in `apps/bench/peers`, a folder with its own package.json outside the
 * workspace, so that `npm install` stays lean; `npm run bench:peers` installs it.
 */
async function loadPeers(): Promise<readonly ContenderFactory[]> {
  const entry = new URL("../peers/index.mjs", import.meta.url);
  if (!existsSync(new URL("../peers/node_modules/moleculer/package.json", import.meta.url))) {
    throw new Error(`the peer frameworks are not installed: run \`npm run bench:peers\` (or \`npm install --prefix apps/bench/peers\`)`);
  }
  const module = (await import(entry.href)) as { peerContenders: readonly ContenderFactory[] };
  return module.peerContenders;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
