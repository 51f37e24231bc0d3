import { addresses } from "@postage/actors";
import { EXIT } from "../CliError.js";
import type { Command } from "../Command.js";
import { gatherFor, gatherOptions, gatherOptionsHelp } from "../gather.js";
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
${gatherOptionsHelp("answers")}
No application running is not an error (an empty list).`,
  positionals: { min: 0, max: 0 },
  options: gatherOptions,
  async run(context) {
    const { io, json: asJson } = context;
    // Nothing bound to @*: no application runs.
    const { exchange, timeout, replies } = await gatherFor(context, addresses.everyone(), "describe", "no replies");
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
