import { decodeMessage, type MessageBody } from "@postage/core";
import type { Delivery, DriverConsumer } from "@postage/transport";
import { EXIT } from "../CliError.js";
import { type Command, existingExchange, numberOption } from "../Command.js";
import { json } from "../table.js";

/** Messages kept waiting for a slow terminal before the oldest are dropped. */
const MAX_QUEUED = 10_000;

function time(at: Date): string {
  return at.toISOString().slice(11, 23);
}

function sender(body: MessageBody): string {
  const f = body.fingerprint as { name?: unknown; pid?: unknown; host?: unknown };
  if (f.name === undefined && f.pid === undefined) return "?";
  return `${String(f.name ?? "?")} (${String(f.pid ?? "?")}@${String(f.host ?? "?")})`;
}

/** One delivery as a line of text, or as a JSON document with `--json`. */
function render(delivery: Delivery, asJson: boolean): string {
  const at = new Date();
  const outcome = decodeMessage(delivery.body, {
    ...(delivery.properties.contentType !== undefined ? { contentType: delivery.properties.contentType } : {}),
    ...(delivery.properties.contentEncoding !== undefined ? { contentEncoding: delivery.properties.contentEncoding } : {}),
  });
  if (asJson) {
    const base = { at: at.toISOString(), exchange: delivery.exchange, routingKey: delivery.routingKey, messageId: delivery.properties.messageId, replyTo: delivery.properties.replyTo };
    return json(outcome.ok ? { ...base, body: outcome.body } : { ...base, error: outcome.error.code, reason: outcome.error.reason, bytes: delivery.body.byteLength });
  }
  const where = delivery.routingKey || "(no key)";
  if (!outcome.ok) return `${time(at)}  ${where}  not a Postage message (${outcome.error.code}: ${outcome.error.reason}), ${delivery.body.byteLength} bytes`;
  const { body } = outcome;
  const rpc = body.category === "rpc" ? " (rpc)" : "";
  return `${time(at)}  ${where}  ${body.type} ${body.name}${rpc}  from ${sender(body)}  ${json(body.content)}`;
}

/** `postage tail`: print what flows through an exchange. */
export const tailCommand: Command = {
  name: "tail",
  summary: "print the messages flowing through an exchange, decoded",
  usage: "postage tail <exchange> [routing-key...] [--count n]",
  details: `Binds a private queue (server-named, exclusive, deleted on exit) to <exchange> with each
routing key given and prints every message, decoded, until Ctrl-C. With no key it binds "#":
every message of a topic or fanout exchange; a direct exchange needs the exact key(s).
  --count <n>   exit after n messages
With --json, one JSON document per message (one per line).

  postage tail echo-exchange echo-rk echo-fanout-rk
  postage tail postage.inspect`,
  positionals: { min: 1, max: Number.POSITIVE_INFINITY },
  options: { count: { type: "string" } },
  async run({ positionals, values, json: asJson, io, broker: open, signal }) {
    const [exchangeName = "", ...givenKeys] = positionals;
    const keys = givenKeys.length === 0 ? ["#"] : givenKeys;
    const count = numberOption(values, "count", Number.POSITIVE_INFINITY);
    const broker = await open();
    await broker.declareExchange(existingExchange(exchangeName));
    let seen = 0;
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const consumer: DriverConsumer = broker.driver.createConsumer(
      {
        queue: { name: "", exclusive: true, autoDelete: true, arguments: { "x-max-length": MAX_QUEUED } },
        bindings: keys.map((routingKey) => ({ exchange: exchangeName, routingKey })),
        prefetch: 100,
      },
      (delivery) => {
        if (seen >= count) return "requeue";
        seen += 1;
        io.out(render(delivery, asJson) + "\n");
        if (seen >= count) stop();
        return "ack";
      },
    );
    try {
      await consumer.ready;
      io.err(`tailing ${exchangeName} with ${keys.map((k) => JSON.stringify(k)).join(", ")} (queue ${consumer.queue}); Ctrl-C to stop\n`);
      if (count === 0) stop();
      signal.addEventListener("abort", stop, { once: true });
      await stopped;
    } finally {
      signal.removeEventListener("abort", stop);
      await consumer.close();
    }
    return EXIT.OK;
  },
};
