import { type MessageProcessor, messageHandler } from "@postage/actors";
import { type DemoContext, label } from "./DemoContext.js";
import { echoSender, sharedQueueEchoReceiver } from "./echoParties.js";
import { show } from "./Printer.js";
import { ECHO_KEY } from "./settings.js";

/**
 * The seed's basic echo receiver: one queue bound to the echo exchange with `echo-rk`; it prints
 * the parameters of every `echo` command. Like every processor it stops on a `quit` command.
 */
export function receiveBasicEcho(ctx: DemoContext, options: { index?: number } = {}): MessageProcessor {
  const who = label("echo_receive", options.index);
  return sharedQueueEchoReceiver(ctx, [messageHandler("command", "echo", (content) => ctx.out.line(who, "<-", show(content.parameters)))]);
}

/** The seed's basic echo sender: one `echo` command with "A test message". */
export async function sendBasicEcho(ctx: DemoContext, text = "A test message"): Promise<void> {
  const producer = echoSender(ctx);
  try {
    ctx.out.line("echo_send", "->", `${ctx.names.echoExchange.name}/${ECHO_KEY}  command echo ${show(text)}`);
    await producer.message.echo(text);
  } finally {
    await producer.close();
  }
}
