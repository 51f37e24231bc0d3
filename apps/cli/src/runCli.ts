import { parseArgs } from "node:util";
import type { Broker } from "@postage/transport";
import { CliError, describeFailure, EXIT, type ExitCode } from "./CliError.js";
import { type Command, numberOption } from "./Command.js";
import { dlqCommand } from "./commands/dlq.js";
import { inspectCommand } from "./commands/inspect.js";
import { joinCommand, leaveCommand, quitCommand, restartCommand } from "./commands/control.js";
import { pingCommand } from "./commands/ping.js";
import { psCommand } from "./commands/ps.js";
import { rpcCommand } from "./commands/rpc.js";
import { sendCommand } from "./commands/send.js";
import { stateCommand } from "./commands/state.js";
import { tailCommand } from "./commands/tail.js";
import { type Io, processIo } from "./Io.js";
import { openBroker } from "./openBroker.js";

/** Every `postage` subcommand, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [sendCommand, rpcCommand, pingCommand, psCommand, stateCommand, quitCommand, restartCommand, joinCommand, leaveCommand, tailCommand, dlqCommand, inspectCommand];

const COMMON_OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  "connect-timeout": { type: "string" },
} as const;

const COMMON_HELP = `Options of every command:
  --url <url>              the broker (default: POSTAGE_URL, else POSTAGE_HOST/PORT/USER/PASSWORD/VHOST, else amqp://guest:guest@localhost:5672)
  --json                   print one JSON document instead of text
  --connect-timeout <ms>   give up connecting after this long (default 5000)
  -h, --help               this help`;

const EXIT_HELP = `Exit codes: 0 done, 1 failed (error result, broker error), 2 bad command line (or JSON),
3 timeout (no reply), 4 login refused, 5 broker unreachable, 6 missing exchange, 7 nobody bound there.`;

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `postage: talk to Postage components through RabbitMQ

Usage: postage <command> [arguments] [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Addresses (ping, state, quit, restart, join, leave) are routing keys on generic-application-exchange:
  name  name/rr  @host  name@host  name@host/rr  pid@host  id:<instance>  name#group  name#group/rr  @*

${COMMON_HELP}

${EXIT_HELP}
Run \`postage <command> --help\` for a command's arguments.
`;
}

function commandHelp(command: Command): string {
  return `Usage: ${command.usage}\n\n${command.summary}.\n${command.details}\n\n${COMMON_HELP}\n\n${EXIT_HELP}\n`;
}

/**
 * Finds the command name, letting the common options come before it (`postage --url X ps`).
 * A help flag with no command asks for the main help.
 */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  const before: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? "";
    if (!token.startsWith("-")) return { name: token, rest: [...before, ...argv.slice(i + 1)] };
    before.push(token);
    // These two take a value as the next token (unless given as --url=...).
    if ((token === "--url" || token === "--connect-timeout") && i + 1 < argv.length) before.push(argv[++i] ?? "");
  }
  return { name: before.some((t) => t === "-h" || t === "--help") ? "help" : undefined, rest: [] };
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  io?: Io;
  /** Ends long-running commands (tail, inspect) and gathers early. @default SIGINT/SIGTERM */
  signal?: AbortSignal;
}

/**
 * Runs one `postage` command line (without the program name) and resolves to its exit code.
 * Errors never escape: each becomes one line on stderr (`postage: <reason>`) and an exit code
 * (see {@link EXIT}).
 */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<ExitCode> {
  const io = options.io ?? processIo;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  if (options.signal) options.signal.addEventListener("abort", onSignal, { once: true });
  else {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  let broker: Broker | undefined;
  try {
    const { name, rest } = splitCommand(argv);
    if (name === undefined || name === "help") {
      // `postage` alone is a usage mistake (exit 2) that still shows the help; `postage --help` is not.
      (name === undefined ? io.err : io.out)(mainHelp());
      return name === undefined ? EXIT.USAGE : EXIT.OK;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) throw CliError.usage(`unknown command "${name}" (try postage --help)`);
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], allowPositionals: true, strict: true, options: { ...COMMON_OPTIONS, ...command.options } });
    } catch (error) {
      throw CliError.usage(`${error instanceof Error ? error.message : String(error)} (try postage ${name} --help)`);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.out(commandHelp(command));
      return EXIT.OK;
    }
    if (positionals.length < command.positionals.min || positionals.length > command.positionals.max) {
      throw CliError.usage(`wrong number of arguments. Usage: ${command.usage}`);
    }
    const connectTimeout = numberOption(values, "connect-timeout", 5_000);
    const url = typeof values.url === "string" ? values.url : undefined;
    return await command.run({
      positionals,
      values,
      json: values.json === true,
      io,
      signal: controller.signal,
      broker: async () => {
        broker ??= await openBroker(url, connectTimeout);
        return broker;
      },
    });
  } catch (error) {
    const { exitCode, reason } = describeFailure(error);
    io.err(`postage: ${reason}\n`);
    return exitCode;
  } finally {
    if (options.signal) options.signal.removeEventListener("abort", onSignal);
    else {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    await broker?.close().catch((error: unknown) => io.err(`postage: closing the connection failed: ${describeFailure(error).reason}\n`));
  }
}
