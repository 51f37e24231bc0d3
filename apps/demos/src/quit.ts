import { Fingerprint } from "@postage/core";
import { createProducer } from "@postage/transport";
import type { DemoContext } from "./DemoContext.js";

/**
 * Sends the `quit` command on the echo exchange with `key`: every processor stops on it (a
 * default handler). On `echo-rk` it reaches one receiver (the shared queue); on `echo-fanout-rk`, every
 * advanced echo receiver.
 * @throws {TransportError} `UNROUTABLE` when no receiver's queue is bound with `key`.
 */
export async function sendQuit(ctx: DemoContext, key: string): Promise<void> {
  const { echoExchange } = ctx.names;
  const producer = createProducer(ctx.broker, { exchanges: [[echoExchange, key]], fingerprint: Fingerprint.collect({ name: "echo_send", type: "application" }) });
  try {
    ctx.out.line("echo_send", "->", `${echoExchange.name}/${key}  command quit`);
    await producer.command("quit");
  } finally {
    await producer.close();
  }
}
