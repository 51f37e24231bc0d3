import type { ResultMessage } from "@postage/core";
import { createProducer } from "@postage/transport";
import { CliError, EXIT } from "../CliError.js";
import { cliFingerprint, type Command, existingExchange, numberOption, parseParameters, timeoutOption } from "../Command.js";
import { json } from "../table.js";

/** A result as the CLI prints it: `success "value"`, `error: message`, `exception Name: message`. */
export function formatResult(result: ResultMessage): string {
  if (result.resultType === "success") return `success ${json(result.value)}${result.message ? ` (${result.message})` : ""}`;
  if (result.resultType === "error") return `error: ${result.message}`;
  return `exception ${String(result.value)}: ${result.message}`;
}

/** A result as one JSON document. */
export function resultJson(result: ResultMessage): Record<string, unknown> {
  return { type: result.resultType, value: result.value, message: result.message, fingerprint: result.fingerprint };
}

/** `postage rpc`: one call, its result printed. */
export const rpcCommand: Command = {
  name: "rpc",
  summary: "call a command and print its result",
  usage: "postage rpc <exchange> <routing-key> <command> [params-json] [--timeout ms] [--retries n]",
  details: `Sends RpcCommandMessage(<command>, params) and waits for the result.
  --timeout <ms>   wait this long for each attempt (default 5000)
  --retries <n>    send again this many times after a timeout (default 0)
Exit 0 on a success result, 1 on an error or exception result, 3 when no reply came.

  postage rpc echo-exchange echo-rk echo '"RPC test message"'`,
  positionals: { min: 3, max: 4 },
  options: { ...timeoutOption, retries: { type: "string" } },
  async run({ positionals, values, json: asJson, io, broker }) {
    const [exchangeName = "", routingKey = "", command = "", parametersText] = positionals;
    const parameters = parseParameters(parametersText);
    const timeout = numberOption(values, "timeout", 5_000);
    const retries = numberOption(values, "retries", 0);
    const producer = createProducer(await broker(), { exchanges: [[existingExchange(exchangeName), routingKey]], fingerprint: cliFingerprint() });
    const result = await producer.to({ timeout, retries }).call(command, parameters);
    if (result.resultType === "exception" && result.value === "TimeoutError") {
      throw new CliError("TIMEOUT", `timeout: no reply to ${command} from ${exchangeName}/${routingKey} within ${timeout} ms (${retries + 1} attempt(s))`, EXIT.TIMEOUT);
    }
    io.out(asJson ? json(resultJson(result)) + "\n" : formatResult(result) + "\n");
    return result.ok ? EXIT.OK : EXIT.FAILED;
  },
};
