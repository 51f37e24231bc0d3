import { CliError, EXIT } from "../CliError.js";
import type { Command } from "../Command.js";
import { gatherFor, gatherOptions, gatherOptionsHelp } from "../gather.js";
import { json, table } from "../table.js";

type FingerprintView = Record<string, unknown>;

const cell = (value: unknown): string => (value === undefined || value === null ? "-" : String(value));

/** `postage ping`: every application at an address answers with its fingerprint. */
export const pingCommand: Command = {
  name: "ping",
  summary: "ping GenericApplications at an address; table of who answered",
  usage: "postage ping <address> [--timeout ms] [--exchange name]",
  details: `Sends one ping to <address> and gathers every reply until the timeout: fan-out addresses
(name, @host, name@host, pid@host, name#group, @*) answer once per application, round-robin ones
(name/rr, name@host/rr, name#group/rr) once, id:<instance> once.
${gatherOptionsHelp("replies")}
Exit 3 when nobody answered, 7 when nothing is bound at that address.

  postage ping monitor`,
  positionals: { min: 1, max: 1 },
  options: gatherOptions,
  async run(context) {
    const { io, json: asJson } = context;
    const { address, timeout, replies } = await gatherFor(context, context.positionals[0] ?? "", "ping");
    if (replies.length === 0) throw new CliError("TIMEOUT", `timeout: no application answered a ping at "${address}" within ${timeout} ms`, EXIT.TIMEOUT);
    const fingerprints = replies.map((reply) => (reply.ok && typeof reply.value === "object" && reply.value !== null ? (reply.value as FingerprintView) : reply.fingerprint));
    fingerprints.sort((a, b) => cell(a.name).localeCompare(cell(b.name)) || cell(a.instance).localeCompare(cell(b.instance)));
    if (asJson) {
      io.out(json(fingerprints) + "\n");
    } else {
      io.out(table(["NAME", "TYPE", "PID", "HOST", "INSTANCE"], fingerprints.map((f) => [cell(f.name), cell(f.type), cell(f.pid), cell(f.host), cell(f.instance)])));
      io.out(`${replies.length} ${replies.length === 1 ? "reply" : "replies"} from "${address}" in ${timeout} ms\n`);
    }
    return EXIT.OK;
  },
};
