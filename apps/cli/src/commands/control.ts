import { createProducer } from "@postage/transport";
import { CliError, EXIT } from "../CliError.js";
import { applicationExchange, cliFingerprint, type Command, type CommandContext, EXCHANGE_HELP, exchangeOption } from "../Command.js";
import { json } from "../table.js";

/** Sends one lifecycle command to an address on the applications' exchange. */
async function sendTo(context: CommandContext, address: string, command: string, parameters: unknown): Promise<0> {
  const exchange = applicationExchange(context.values);
  const producer = createProducer(await context.broker(), { exchanges: [[exchange, address]], fingerprint: cliFingerprint() });
  await producer.command(command, parameters);
  if (context.json) context.io.out(json({ sent: true, exchange: exchange.name, address, command, parameters }) + "\n");
  else context.io.out(`sent ${command}${parameters === undefined ? "" : ` ${json(parameters)}`} to "${address}" on ${exchange.name}\n`);
  return EXIT.OK;
}

const addressDetails = `${EXCHANGE_HELP}
Exit 7 when nothing is bound at that address.`;

/** `postage quit <address>`. */
export const quitCommand: Command = {
  name: "quit",
  summary: "make the applications at an address quit",
  usage: "postage quit <address> [--exchange name]",
  details: `Sends the quit command: each application reached stops consuming, drains and stops.
${addressDetails}

  postage quit monitor/rr      # one monitor
  postage quit @*              # every application`,
  positionals: { min: 1, max: 1 },
  options: { ...exchangeOption },
  run: (context) => sendTo(context, context.positionals[0] ?? "", "quit", undefined),
};

/** `postage restart <address>`. */
export const restartCommand: Command = {
  name: "restart",
  summary: "restart the applications at an address",
  usage: "postage restart <address> [--mode process|actor] [--exchange name]",
  details: `Sends the restart command.
  --mode process   (default) the application's process replaces itself with a new run of the same program
  --mode actor     only the actor restarts, in place
${addressDetails}`,
  positionals: { min: 1, max: 1 },
  options: { ...exchangeOption, mode: { type: "string" } },
  run: (context) => {
    const mode = context.values.mode ?? "process";
    if (mode !== "process" && mode !== "actor") throw CliError.usage(`--mode must be process or actor, got ${JSON.stringify(mode)}`);
    return sendTo(context, context.positionals[0] ?? "", "restart", mode === "actor" ? { mode } : undefined);
  },
};

/** `postage join <address> <group>`. */
export const joinCommand: Command = {
  name: "join",
  summary: "make the applications at an address join a group",
  usage: "postage join <address> <group> [--exchange name]",
  details: `Sends join_group {"group_name": <group>}: the applications then answer at name#group and name#group/rr.
${addressDetails}`,
  positionals: { min: 2, max: 2 },
  options: { ...exchangeOption },
  run: (context) => sendTo(context, context.positionals[0] ?? "", "join_group", { group_name: context.positionals[1] }),
};

/** `postage leave <address> <group>`. */
export const leaveCommand: Command = {
  name: "leave",
  summary: "make the applications at an address leave a group",
  usage: "postage leave <address> <group> [--exchange name]",
  details: `Sends leave_group {"group_name": <group>}.
${addressDetails}`,
  positionals: { min: 2, max: 2 },
  options: { ...exchangeOption },
  run: (context) => sendTo(context, context.positionals[0] ?? "", "leave_group", { group_name: context.positionals[1] }),
};
