import { MessageProcessor, messageHandler } from "@postage/actors";
import { Fingerprint } from "@postage/core";
import { createProducer } from "@postage/transport";
import { type DemoContext, label } from "./DemoContext.js";
import { show } from "./Printer.js";
import { ECHO_KEY } from "./settings.js";

/**
 * The seed's basic echo receiver: one queue bound to the echo exchange with `echo-rk`; it prints
 * the parameters of every `echo` command. Like every processor it stops on a `quit` command.
 */
export function receiveBasicEcho(ctx: DemoContext, options: { index?: number } = {}): MessageProcessor {
  const { echoExchange, echoQueue } = ctx.names;
  const who = label("echo_receive", options.index);
  return ctx.scheduler.add(
    new MessageProcessor({
      fingerprint: { name: "echo_receive", type: "controller" },
      bindings: [[echoExchange, [[echoQueue, ECHO_KEY]]]],
      handlers: [messageHandler("command", "echo", (content) => ctx.out.line(who, "<-", show(content.parameters)))],
    }),
  );
}

/** The seed's basic echo sender: one `echo` command with "A test message". */
export async function sendBasicEcho(ctx: DemoContext, text = "A test message"): Promise<void> {
  const { echoExchange } = ctx.names;
  const producer = createProducer(ctx.broker, {
    exchanges: [[echoExchange, ECHO_KEY]],
    commands: ["echo"],
    fingerprint: Fingerprint.collect({ name: "echo_send", type: "application" }),
  });
  try {
    ctx.out.line("echo_send", "->", `${echoExchange.name}/${ECHO_KEY}  command echo ${show(text)}`);
    await producer.message.echo(text);
  } finally {
    await producer.close();
  }
}
