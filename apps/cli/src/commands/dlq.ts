import {
  DEAD_LETTER_QUEUE,
  findDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
  type Broker,
  type DeadLetter,
  type DeadLetterQueueOptions,
} from "@postage/transport";
import { CliError, describeFailure, EXIT, type ExitCode } from "../CliError.js";
import { type Command, type CommandContext, numberOption, type OptionValues } from "../Command.js";
import { json, table } from "../table.js";

const ACTIONS = ["list", "show", "replay", "purge"] as const;
type Action = (typeof ACTIONS)[number];

/** Longest reason and body preview in the list's table (the full text: `dlq show`, `--json`). */
const REASON_WIDTH = 60;
const PREVIEW_WIDTH = 48;

const cut = (text: string, width: number): string => (text.length > width ? `${text.slice(0, width - 1)}…` : text);
const when = (iso: string | undefined): string => (iso === undefined ? "-" : `${iso.slice(0, 19).replace("T", " ")}Z`);
const destination = (exchange: string, routingKey: string): string => `${exchange || "(default)"}/${routingKey}`;

function queueOption(values: OptionValues): DeadLetterQueueOptions & { queue: string } {
  return { queue: typeof values.queue === "string" ? values.queue : DEAD_LETTER_QUEUE.name };
}

/** `--to exchange/key`: split at the first slash (routing keys may hold slashes: `name/rr`). */
function targetOption(values: OptionValues): { exchange: string; routingKey: string } | undefined {
  const raw = values.to;
  if (typeof raw !== "string") return undefined;
  const slash = raw.indexOf("/");
  if (slash < 0) throw CliError.usage(`--to must be exchange/routing-key ("/queue" for the default exchange), got ${JSON.stringify(raw)}`);
  return { exchange: raw.slice(0, slash), routingKey: raw.slice(slash + 1) };
}

/** A note when listing touched a quorum queue: each listing counts as a delivery attempt there. */
function quorumNote(queue: string, letters: readonly DeadLetter[]): string {
  if (!letters.some((letter) => letter.deliveryCount !== undefined)) return "";
  return `note: ${queue} is a quorum queue: listing counts as a delivery attempt (x-delivery-count); with an x-delivery-limit, repeated listings dead-letter its messages\n`;
}

async function list({ values, json: asJson, io, broker }: CommandContext): Promise<ExitCode> {
  const { queue } = queueOption(values);
  const limit = numberOption(values, "limit", 100);
  const listing = await listDeadLetters(await broker(), { queue, limit });
  io.err(quorumNote(queue, listing.deadLetters));
  if (asJson) {
    io.out(json({ queue, exists: listing.exists, total: listing.total, deadLetters: listing.deadLetters.map(({ body: _body, headers: _headers, ...summary }) => summary) }) + "\n");
    return EXIT.OK;
  }
  if (!listing.exists) {
    io.out(`no dead letters: queue ${queue} does not exist (nothing was dead-lettered there)\n`);
    return EXIT.OK;
  }
  if (listing.total === 0) {
    io.out(`no dead letters in ${queue}\n`);
    return EXIT.OK;
  }
  io.out(
    table(
      ["ID", "DEAD-LETTERED", "EXCHANGE/KEY", "ERROR", "REASON", "BODY"],
      listing.deadLetters.map((l) => [l.id, when(l.deadLetteredAt), destination(l.exchange, l.routingKey), l.error, cut(l.reason, REASON_WIDTH), cut(l.preview, PREVIEW_WIDTH)]),
    ),
  );
  const shown = listing.deadLetters.length;
  io.out(`${listing.total} dead letter${listing.total === 1 ? "" : "s"} in ${queue}${shown < listing.total ? ` (the first ${shown} shown: --limit)` : ""}; none was consumed\n`);
  return EXIT.OK;
}

/** The body for people: JSON indented, other text as it is, binary as base64. */
function showBody(letter: DeadLetter): string {
  if (letter.bodyEncoding === "base64") return `(not UTF-8, base64) ${letter.body}`;
  try {
    return JSON.stringify(JSON.parse(letter.body), null, 2);
  } catch {
    // Not JSON (a body that failed to decode, often): shown as it is.
    return letter.body;
  }
}

async function show({ positionals, values, json: asJson, io, broker }: CommandContext): Promise<ExitCode> {
  const { queue } = queueOption(values);
  const id = positionals[1] ?? "";
  const letter = await findDeadLetter(await broker(), id, { queue });
  if (letter === undefined) throw new CliError("FAILED", `no dead letter with id "${id}" in ${queue} (postage dlq list shows the ids)`, EXIT.FAILED);
  io.err(quorumNote(queue, [letter]));
  if (asJson) {
    io.out(json(letter) + "\n");
    return EXIT.OK;
  }
  const rows: Array<[string, string]> = [
    ["id", letter.id],
    ["message id", letter.messageId ?? "-"],
    ["dead-lettered", `${when(letter.deadLetteredAt)} by ${letter.source}${letter.deaths > 1 ? `, ${letter.deaths} times` : ""}`],
    ["published", when(letter.publishedAt)],
    ["destination", destination(letter.exchange, letter.routingKey)],
    ["error", letter.error],
    ["reason", letter.reason],
    ...(letter.queue !== undefined ? [["died in queue", letter.queue] as [string, string]] : []),
    ["replays", String(letter.replays)],
    ["position", `${letter.position} in ${queue}`],
    ["body", `${letter.size} bytes${letter.contentType !== undefined ? `, ${letter.contentType}` : ""}`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  io.out(rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n") + "\n");
  io.out(`headers\n${JSON.stringify(letter.headers, null, 2)}\n\n${showBody(letter)}\n`);
  return EXIT.OK;
}

/** The ids of replay and purge: the positionals after the action, or `--all`. */
function chosenIds(positionals: readonly string[], values: OptionValues, action: Action): readonly string[] | "all" {
  const ids = positionals.slice(1);
  if (values.all === true && ids.length > 0) throw CliError.usage(`give ids or --all, not both (postage dlq ${action} --help)`);
  if (values.all === true) return "all";
  if (ids.length === 0 && action === "replay") throw CliError.usage("which dead letters? give their ids or --all (postage dlq list shows the ids)");
  return ids.length === 0 ? "all" : ids;
}

async function replay({ positionals, values, json: asJson, io, broker }: CommandContext): Promise<ExitCode> {
  const { queue } = queueOption(values);
  const ids = chosenIds(positionals, values, "replay");
  const to = targetOption(values);
  const report = await replayDeadLetters(await broker(), ids, { queue, ...(to !== undefined ? { to } : {}) });
  const failures = report.failed.map((f) => ({ ...f, ...describeFailure(f.error) }));
  if (asJson) {
    io.out(json({ queue, replayed: report.replayed, failed: failures.map(({ id, exchange, routingKey, reason }) => ({ id, exchange, routingKey, reason })), missing: report.missing }) + "\n");
  } else {
    for (const r of report.replayed) io.out(`replayed ${r.id} to ${destination(r.exchange, r.routingKey)}\n`);
    io.out(`${report.replayed.length} replayed from ${queue}${failures.length > 0 ? `, ${failures.length} failed (still in ${queue})` : ""}\n`);
  }
  for (const f of failures) io.err(`postage: could not replay ${f.id} to ${destination(f.exchange, f.routingKey)}: ${f.reason}\n`);
  if (report.missing.length > 0) io.err(`postage: no dead letter with id ${report.missing.map((id) => `"${id}"`).join(", ")} in ${queue}\n`);
  if (failures[0] !== undefined) return failures[0].exitCode;
  return report.missing.length > 0 ? EXIT.FAILED : EXIT.OK;
}

/** How many messages a purge would delete, for the question. */
async function purgeCount(broker: Broker, queue: string, ids: readonly string[] | "all"): Promise<number> {
  if (ids !== "all") return ids.length;
  return (await listDeadLetters(broker, { queue, limit: 0 })).total;
}

async function purge({ positionals, values, json: asJson, io, broker: open }: CommandContext): Promise<ExitCode> {
  const { queue } = queueOption(values);
  const ids = chosenIds(positionals, values, "purge");
  const broker = await open();
  const count = await purgeCount(broker, queue, ids);
  if (count === 0) {
    io.out(asJson ? json({ queue, removed: 0, missing: [] }) + "\n" : `nothing to purge in ${queue}\n`);
    return EXIT.OK;
  }
  if (values.yes !== true) {
    const what = ids === "all" ? `${count} dead letter${count === 1 ? "" : "s"}` : `dead letter${count === 1 ? "" : "s"} ${ids.join(", ")}`;
    const answer = io.ask === undefined ? undefined : await io.ask(`Delete ${what} from ${queue} for good? [y/N] `);
    // Stdin ended without an answer: end the question's line before the error.
    if (answer === undefined) io.err("\n");
    if (answer === undefined || !/^\s*y(es)?\s*$/i.test(answer)) {
      throw new CliError("FAILED", `nothing purged: not confirmed (answer y, or pass --yes)`, EXIT.FAILED);
    }
  }
  // Only what the question counted: a message dead-lettered since then stays.
  const report = await purgeDeadLetters(broker, ids, { queue, ...(ids === "all" ? { max: count } : {}) });
  io.out(asJson ? json(report) + "\n" : `purged ${report.removed} dead letter${report.removed === 1 ? "" : "s"} from ${queue}\n`);
  if (report.missing.length > 0) {
    io.err(`postage: no dead letter with id ${report.missing.map((id) => `"${id}"`).join(", ")} in ${queue}\n`);
    return EXIT.FAILED;
  }
  return EXIT.OK;
}

/** `postage dlq`: see, replay and purge dead-lettered messages. */
export const dlqCommand: Command = {
  name: "dlq",
  summary: "list, show, replay or purge dead-lettered messages",
  usage: "postage dlq list|show <id>|replay <id...>|--all|purge [id...] [--queue q]",
  details: `Works on the dead-letter queue (default ${DEAD_LETTER_QUEUE.name}, where consumers put what they
could not handle; --queue for another, a queue RabbitMQ dead-letters into included). Listing and
showing consume nothing: each message is taken without ack and put back in its place.
  postage dlq list [--limit n]      time, original exchange/key, error, reason and a body preview, oldest first (default limit 100)
  postage dlq show <id>             one message in full: headers and body
  postage dlq replay <id...>|--all [--to exchange/key]
                                    republish to the original exchange and routing key (or --to; "/queue" is the
                                    default exchange); each is removed only once the broker confirmed its copy
  postage dlq purge [id...] [--yes] delete them for good (all when no id is given), after a confirmation
  --queue <name>   the dead-letter queue (default ${DEAD_LETTER_QUEUE.name})
Ids are message ids (a hash when a message has none; "~2" marks a second message with the same id);
an id that starts with "-" goes after "--": postage dlq show -- -Xq3k...
On a quorum queue, each listing counts as a delivery attempt (x-delivery-count).

  postage dlq list
  postage dlq replay 3kq9Xz2mB7 --to echo-exchange/echo-rk
  postage dlq purge --yes`,
  positionals: { min: 1, max: Number.POSITIVE_INFINITY },
  options: { queue: { type: "string" }, limit: { type: "string" }, to: { type: "string" }, all: { type: "boolean" }, yes: { type: "boolean", short: "y" } },
  async run(context) {
    const action = context.positionals[0] as Action;
    const extra = context.positionals.length - 1;
    if (!ACTIONS.includes(action)) throw CliError.usage(`unknown dlq action "${action}": list, show, replay or purge (postage dlq --help)`);
    if (action === "list" && extra > 0) throw CliError.usage("postage dlq list takes no argument (--queue, --limit)");
    if (action === "show" && extra !== 1) throw CliError.usage("postage dlq show takes one id");
    if (action !== "replay" && typeof context.values.to === "string") throw CliError.usage("--to is for postage dlq replay");
    switch (action) {
      case "list":
        return list(context);
      case "show":
        return show(context);
      case "replay":
        return replay(context);
      case "purge":
        return purge(context);
    }
  },
};
