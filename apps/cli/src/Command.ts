import type { ParseArgsConfig } from "node:util";
import { defineExchange, type ExchangeDefinition, Fingerprint, type FingerprintDict } from "@postage/core";
import { genericApplicationExchange } from "@postage/actors";
import type { Broker } from "@postage/transport";
import { CliError, type ExitCode } from "./CliError.js";
import type { Io } from "./Io.js";

/** Option values as `util.parseArgs` returns them. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command runs with. */
export interface CommandContext {
  positionals: string[];
  values: OptionValues;
  /** `--json`: print one JSON document (tail: one per line). */
  json: boolean;
  io: Io;
  /** Connects (from `--url`, else the `POSTAGE_*` environment); closed by the caller. */
  broker: () => Promise<Broker>;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

/** One `postage` subcommand. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The synopsis, e.g. `postage send <exchange> <routing-key> <command> [params-json]`. */
  usage: string;
  /** More help: arguments, options, examples. */
  details: string;
  /** Accepted positional arguments. */
  positionals: { min: number; max: number };
  /** Options of this command, besides --url, --json, --help and --connect-timeout. */
  options?: NonNullable<ParseArgsConfig["options"]>;
  run(context: CommandContext): Promise<ExitCode>;
}

/** The fingerprint the CLI stamps on what it sends. */
export function cliFingerprint(): FingerprintDict {
  return Fingerprint.collect({ name: "postage-cli", type: "cli" }).toDict();
}

/** An exchange the CLI uses: checked (passive), never created. `""` is the default exchange. */
export function existingExchange(name: string): ExchangeDefinition {
  return defineExchange({ name, type: "direct", passive: true });
}

/** The exchange of address commands: `--exchange`, else GenericApplication's. */
export function applicationExchange(values: OptionValues): ExchangeDefinition {
  const name = typeof values.exchange === "string" ? values.exchange : genericApplicationExchange.name;
  return existingExchange(name);
}

/** Parses the `[params-json]` argument: absent means `{}`. @throws {CliError} USAGE when it is not JSON. */
export function parseParameters(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw CliError.usage(`the parameters are not valid JSON (${error instanceof Error ? error.message : String(error)}): ${text}`);
  }
}

/** A non-negative number option. @throws {CliError} USAGE when it is not one. */
export function numberOption(values: OptionValues, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = typeof raw === "string" ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value) || value < 0) throw CliError.usage(`--${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return value;
}

/** The common `--timeout` option of commands that wait for replies. */
export const timeoutOption = { timeout: { type: "string" } } as const;
/** The common `--exchange` option of address commands. */
export const exchangeOption = { exchange: { type: "string" } } as const;

/** Help text of the address commands' `--exchange`. */
export const EXCHANGE_HELP = `  --exchange <name>  the applications' exchange (default ${genericApplicationExchange.name})`;
