import { addresses } from "@postage/actors";
import { createProducer, TransportError } from "@postage/transport";
import type { ResultMessage } from "@postage/core";
import { EXIT } from "../CliError.js";
import { applicationExchange, cliFingerprint, type Command, EXCHANGE_HELP, exchangeOption, numberOption, timeoutOption } from "../Command.js";
import { json, table } from "../table.js";

interface Description {
  fingerprint: Record<string, unknown>;
  actorType?: string;
  state?: string;
  groups?: string[];
  addresses?: string[];
  /** Components made with defineComponent: their behaviour machine. */
  behaviour?: { state?: string };
}

const cell = (value: unknown): string => (value === undefined || value === null || value === "" ? "-" : String(value));

/** `postage ps`: every GenericApplication on the broker, from their `describe` answers. */
export const psCommand: Command = {
  name: "ps",
  summary: "list every running GenericApplication",
  usage: "postage ps [--timeout ms] [--exchange name]",
  details: `Asks every application (address ${addresses.everyone()}) to describe itself and prints one line each:
name, type, state, pid, host, instance id and groups, however they are reached; components made
with defineComponent add their behaviour machine's state (BEHAVIOUR).
  --timeout <ms>     how long to gather answers (default 1000)
${EXCHANGE_HELP}
No application running is not an error (an empty list).`,
  positionals: { min: 0, max: 0 },
  options: { ...timeoutOption, ...exchangeOption },
  async run({ values, json: asJson, io, broker, signal }) {
    const timeout = numberOption(values, "timeout", 1_000);
    const exchange = applicationExchange(values);
    const producer = createProducer(await broker(), { exchanges: [[exchange, addresses.everyone()]], fingerprint: cliFingerprint() });
    let replies: ResultMessage[];
    try {
      replies = await producer.gather("describe", {}, { timeout, signal });
    } catch (error) {
      // Nothing bound to @*: no application runs.
      if (!(error instanceof TransportError && error.code === "UNROUTABLE")) throw error;
      replies = [];
    }
    const apps = replies.filter((r) => r.ok && typeof r.value === "object" && r.value !== null).map((r) => r.value as Description);
    apps.sort((a, b) => cell(a.fingerprint.name).localeCompare(cell(b.fingerprint.name)) || cell(a.fingerprint.instance).localeCompare(cell(b.fingerprint.instance)));
    if (asJson) {
      io.out(json(apps) + "\n");
      return EXIT.OK;
    }
    if (apps.length === 0) {
      io.out(`no GenericApplication answered on ${exchange.name} within ${timeout} ms\n`);
      return EXIT.OK;
    }
    // Components add where their behaviour machine stands; without any, the table stays as it was.
    const behaviours = apps.some((a) => a.behaviour !== undefined);
    io.out(
      table(
        ["NAME", "TYPE", "STATE", "PID", "HOST", "INSTANCE", "GROUPS", ...(behaviours ? ["BEHAVIOUR"] : [])],
        apps.map((a) => [
          cell(a.fingerprint.name),
          cell(a.fingerprint.type),
          cell(a.state),
          cell(a.fingerprint.pid),
          cell(a.fingerprint.host),
          cell(a.fingerprint.instance),
          cell((a.groups ?? []).join(",")),
          ...(behaviours ? [cell(a.behaviour?.state)] : []),
        ]),
      ),
    );
    return EXIT.OK;
  },
};
