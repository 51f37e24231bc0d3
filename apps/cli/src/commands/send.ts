import { createProducer } from "@postage/transport";
import { EXIT } from "../CliError.js";
import { cliFingerprint, type Command, existingExchange, parseParameters } from "../Command.js";
import { json } from "../table.js";

/** `postage send`: a fire-and-forget command. */
export const sendCommand: Command = {
  name: "send",
  summary: "send a command (fire and forget)",
  usage: "postage send <exchange> <routing-key> <command> [params-json]",
  details: `Sends CommandMessage(<command>, params) to <exchange> with <routing-key>, once the broker confirmed it.
Fails (exit 7) when no queue is bound with that key, (exit 6) when the exchange does not exist.

  postage send echo-exchange echo-rk echo '"hello"'`,
  positionals: { min: 3, max: 4 },
  async run({ positionals, json: asJson, io, broker }) {
    const [exchangeName = "", routingKey = "", command = "", parametersText] = positionals;
    const parameters = parseParameters(parametersText);
    const producer = createProducer(await broker(), { exchanges: [[existingExchange(exchangeName), routingKey]], fingerprint: cliFingerprint() });
    await producer.command(command, parameters);
    if (asJson) io.out(json({ sent: true, exchange: exchangeName, routingKey, command, parameters }) + "\n");
    else io.out(`sent command ${command} ${json(parameters)} to ${exchangeName || "(default exchange)"}/${routingKey}\n`);
    return EXIT.OK;
  },
};
