import type { ExchangeDefinition, ResultMessage } from "@postage/core";
import { createProducer, TransportError } from "@postage/transport";
import { CliError, EXIT } from "./CliError.js";
import { applicationExchange, cliFingerprint, type CommandContext, EXCHANGE_HELP, exchangeOption, numberOption, timeoutOption } from "./Command.js";

/** How long the gathering commands (ping, ps, state) wait for answers unless `--timeout` says. */
export const GATHER_TIMEOUT = 1_000;

/** The options of the gathering commands: `--timeout` and `--exchange`. */
export const gatherOptions = { ...timeoutOption, ...exchangeOption } as const;

/** Help lines of {@link gatherOptions}; `what` names what is gathered ("replies", "answers"). */
export function gatherOptionsHelp(what: string): string {
  return `  --timeout <ms>     how long to gather ${what} (default ${GATHER_TIMEOUT})\n${EXCHANGE_HELP}`;
}

/** What a gathering command got back, with the options it went by. */
export interface Gathered {
  address: string;
  exchange: ExchangeDefinition;
  /** `--timeout` in ms. */
  timeout: number;
  /** Every reply that came within the timeout (none is not an error here). */
  replies: ResultMessage[];
}

/**
 * A gathering command's common part: reads `--timeout` and `--exchange` (before connecting, so a
 * bad value fails without a broker), connects, sends the RPC `name` once to `address` and gathers
 * every reply until the timeout. Nothing bound at `address` fails the command unless `unbound` is
 * `"no replies"` (ps: no application runs).
 * @throws {CliError} USAGE for a bad `--timeout`; exit 7 when nothing is bound at that address.
 */
export async function gatherFor(context: CommandContext, address: string, name: string, unbound: "fail" | "no replies" = "fail"): Promise<Gathered> {
  const timeout = numberOption(context.values, "timeout", GATHER_TIMEOUT);
  const exchange = applicationExchange(context.values);
  const producer = createProducer(await context.broker(), { exchanges: [[exchange, address]], fingerprint: cliFingerprint() });
  try {
    return { address, exchange, timeout, replies: await producer.gather(name, {}, { timeout, signal: context.signal }) };
  } catch (error) {
    if (!(error instanceof TransportError && error.code === "UNROUTABLE")) throw error;
    if (unbound === "no replies") return { address, exchange, timeout, replies: [] };
    throw new CliError("FAILED", `nobody listens at address "${address}" on exchange ${exchange.name}`, EXIT.NO_ROUTE);
  } finally {
    await producer.close();
  }
}
