import { parseArgs } from "node:util";
import type { BenchPlan } from "./runBench.js";
import { fullPlan, quickPlan } from "./runBench.js";
import { defaultSettings } from "./settings.js";
import type { BenchSettings } from "./settings.js";

/** What the command line asked for. */
export interface BenchOptions {
  readonly settings: BenchSettings;
  readonly plan: BenchPlan;
  /** Print the JSON object as the last line (progress still goes to stderr). */
  readonly json: boolean;
  /** Also run the peer frameworks of `apps/bench/peers` (installed by `npm run bench:peers`). */
  readonly peers: boolean;
  /** Run only the contenders with these keys (all when undefined). */
  readonly only: readonly string[] | undefined;
  /** Skip the Postage-only figures (actor scale, in-memory broker). */
  readonly noExtras: boolean;
  /** Broker process to measure CPU of; undefined = find it. */
  readonly brokerPid: number | undefined;
  readonly help: boolean;
}

/** Usage text for `--help`. */
export const usage = `usage: node apps/bench/dist/main.js [options]
  --quick            small runs, under a minute in total
  --json             print one JSON object as the last line
  --url URL          broker (default $AMQP_URL or ${defaultSettings.url})
  --rounds N         measured rounds (median taken over them)
  --in-flight N      concurrent RPC calls (default ${fullPlan.inFlight})
  --peers            also run Moleculer and NestJS (install them first: npm run bench:peers does both)
  --contenders K,K   only these contenders (postage, postageFast, rabbitmqClient, amqplib, moleculer,
                     moleculerDefaults, nestjs, nestjsDefaults)
  --no-extras        skip the actor-scale and in-memory figures
  --broker-pid PID   broker process for CPU figures (default: the only local beam.smp running rabbit,
                     or the one listening on the URL's port)`;

/** Thrown for a malformed command line; main prints the message and the usage. */
export class UsageError extends Error {
  readonly code = "BENCH_USAGE";
  override readonly name = "UsageError";
}

/** Parses `argv` (without node and script). Environment: AMQP_URL is the default broker URL. */
export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        url: { type: "string" },
        rounds: { type: "string" },
        "in-flight": { type: "string" },
        "broker-pid": { type: "string" },
        peers: { type: "boolean", default: false },
        contenders: { type: "string" },
        "no-extras": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const int = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const base = values.quick ? quickPlan : fullPlan;
  const rounds = int("rounds", values.rounds);
  const inFlight = int("in-flight", values["in-flight"]);
  return {
    settings: { ...defaultSettings, url: values.url ?? env["AMQP_URL"] ?? defaultSettings.url },
    plan: { ...base, ...(rounds !== undefined && { rounds }), ...(inFlight !== undefined && { inFlight }) },
    json: values.json,
    peers: values.peers,
    only: values.contenders?.split(",").map((k) => k.trim()).filter((k) => k !== ""),
    noExtras: values["no-extras"],
    brokerPid: int("broker-pid", values["broker-pid"]),
    help: values.help,
  };
}
