import { MessageProcessor, messageHandler, messageHandlerFullBody } from "@postage/actors";
import { Fingerprint } from "@postage/core";
import { type DemoContext, label } from "./DemoContext.js";
import { ECHO_RECEIVER, echoSender } from "./echoParties.js";
import { show } from "./Printer.js";
import { ECHO_FANOUT_KEY, ECHO_KEY } from "./settings.js";

/**
 * The seed's advanced echo receiver. Two queues on the echo exchange: the shared one (same name
 * for every receiver, key `echo-rk`: the receivers take turns, round robin) and a private one
 * (one per receiver, key `echo-fanout-rk`: every receiver gets every message). Two handlers for the
 * same `echo` command: one prints the parameters, the other the sender's fingerprint.
 *
 * The private queue is named after the receiver's instance id rather than pid and host (the seed's
 * choice), so several receivers in one process do not share it.
 */
export function receiveAdvancedEcho(ctx: DemoContext, options: { index?: number } = {}): MessageProcessor {
  const { echoExchange, echoQueue } = ctx.names;
  const fingerprint = Fingerprint.collect(ECHO_RECEIVER);
  const privateQueue = { name: `${echoQueue}-${fingerprint.instance ?? `${fingerprint.pid}@${fingerprint.host}`}`, exclusive: true, autoDelete: true };
  const who = label("echo_receive", options.index);
  return ctx.scheduler.add(
    new MessageProcessor({
      fingerprint,
      bindings: [
        [
          echoExchange,
          [
            [echoQueue, ECHO_KEY],
            [privateQueue, ECHO_FANOUT_KEY],
          ],
        ],
      ],
      handlers: [
        messageHandler("command", "echo", (content, { delivery }) => ctx.out.line(who, "<-", `${show(content.parameters)}  (key ${delivery.routingKey})`)),
        messageHandlerFullBody("command", "echo", (body) => {
          const from = body.fingerprint as { name?: unknown; pid?: unknown; host?: unknown };
          ctx.out.line(who, "  ", `fingerprint: ${String(from.name)} pid ${String(from.pid)} on ${String(from.host)}`);
        }),
      ],
    }),
  );
}

/**
 * The seed's advanced echo sender: `count` messages on `echo-rk` (round robin: each reaches one
 * receiver) and one on `echo-fanout-rk` (fan-out: it reaches every receiver).
 */
export async function sendAdvancedEcho(ctx: DemoContext, options: { count?: number } = {}): Promise<void> {
  const { echoExchange } = ctx.names;
  const count = options.count ?? 1;
  const producer = echoSender(ctx);
  try {
    for (let i = 1; i <= count; i++) {
      const text = count === 1 ? "A single test message" : `A single test message #${i}`;
      ctx.out.line("echo_send", "->", `${echoExchange.name}/${ECHO_KEY}  command echo ${show(text)}`);
      await producer.message.echo(text);
    }
    const fanout = "A fanout test message";
    ctx.out.line("echo_send", "->", `${echoExchange.name}/${ECHO_FANOUT_KEY}  command echo ${show(fanout)}`);
    await producer.to({ key: ECHO_FANOUT_KEY }).message.echo(fanout);
  } finally {
    await producer.close();
  }
}
