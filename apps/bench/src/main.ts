#!/usr/bin/env node
/**
 * `npm run bench`: Postage against raw rabbitmq-client and raw amqplib on the same broker, same settings.
 * Progress goes to stderr; the table (or, with --json, the JSON object as the last line) to stdout.
 */
import { parseBenchArgs, usage, UsageError } from "./args.js";
import { findBrokerCpu } from "./brokerCpu.js";
import { contenders } from "./contenders/index.js";
import { maskPassword, toJson, toTable } from "./report.js";
import { runBench } from "./runBench.js";

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
  const brokerCpu = findBrokerCpu(options.brokerPid);
  const { plan, settings } = options;
  process.stderr.write(
    `bench: ${maskPassword(settings.url)}, ${plan.rounds} rounds, ${settings.bodyBytes} B JSON bodies, confirms, acks, ` +
      `prefetch ${settings.prefetch}, noDelay; broker CPU ${brokerCpu ? `from pid ${brokerCpu.pid}` : "not measured"}\n`,
  );
  const t0 = performance.now();
  const results = await runBench(contenders, settings, plan, {
    brokerCpu,
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
  process.stderr.write(`bench: done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${toTable(results)}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(toJson(results))}\n`);
  return 0;
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
