import { CliError, EXIT } from "../CliError.js";
import type { Command } from "../Command.js";
import { gatherFor, gatherOptions, gatherOptionsHelp } from "../gather.js";
import { json } from "../table.js";

/** The `behaviour` part of a component's `describe` answer. */
interface BehaviourDescription {
  machine?: string;
  state?: string;
  value?: unknown;
  context?: unknown;
}

interface Description {
  fingerprint?: { name?: unknown; instance?: unknown };
  behaviour?: BehaviourDescription;
}

/** `postage state`: a component's behaviour state and context, from its `describe` answer. */
export const stateCommand: Command = {
  name: "state",
  summary: "print a component's behaviour state and context as JSON",
  usage: "postage state <address> [--timeout ms] [--exchange name]",
  details: `Asks the components at <address> to describe themselves and prints, for a component made
with defineComponent, its behaviour machine's state, state value and context as indented JSON (one
line with --json): one object when one component answers, a list (with name and instance) when
several do.
${gatherOptionsHelp("answers")}
Exit 3 when nobody answered, 1 when those who answered have no behaviour machine, 7 when nothing is
bound at that address.

  postage state order`,
  positionals: { min: 1, max: 1 },
  options: gatherOptions,
  async run(context) {
    const { io, json: asJson } = context;
    const { address, timeout, replies } = await gatherFor(context, context.positionals[0] ?? "", "describe");
    if (replies.length === 0) throw new CliError("TIMEOUT", `timeout: nobody at "${address}" answered within ${timeout} ms`, EXIT.TIMEOUT);
    const described = replies.filter((reply) => reply.ok && typeof reply.value === "object" && reply.value !== null).map((reply) => reply.value as Description);
    const components = described.filter((description) => typeof description.behaviour === "object" && description.behaviour !== null);
    if (components.length === 0) {
      throw new CliError("FAILED", `${replies.length === 1 ? "the application" : `the ${replies.length} applications`} at "${address}" ${replies.length === 1 ? "has" : "have"} no behaviour machine (not made with defineComponent)`, EXIT.FAILED);
    }
    const views = components.map(({ fingerprint, behaviour = {} }) => ({
      name: fingerprint?.name ?? null,
      instance: fingerprint?.instance ?? null,
      machine: behaviour.machine ?? null,
      state: behaviour.state ?? null,
      value: behaviour.value ?? null,
      context: behaviour.context ?? null,
    }));
    views.sort((a, b) => String(a.instance).localeCompare(String(b.instance)));
    const [only] = views;
    const document = views.length === 1 && only !== undefined ? { machine: only.machine, state: only.state, value: only.value, context: only.context } : views;
    // JSON either way: indented for a reader, one line with --json (for scripts).
    io.out(`${asJson ? json(document) : JSON.stringify(document, null, 2)}\n`);
    return EXIT.OK;
  },
};
