import type { DemoContext } from "./DemoContext.js";
import { echoSender } from "./echoParties.js";

/**
 * Sends the `quit` command on the echo exchange with `key`: every processor stops on it (a
 * default handler). On `echo-rk` it reaches one receiver (the shared queue); on `echo-fanout-rk`, every
 * advanced echo receiver.
 * @throws {TransportError} `UNROUTABLE` when no receiver's queue is bound with `key`.
 */
export async function sendQuit(ctx: DemoContext, key: string): Promise<void> {
  const { echoExchange } = ctx.names;
  const producer = echoSender(ctx);
  try {
    ctx.out.line("echo_send", "->", `${echoExchange.name}/${key}  command quit`);
    await producer.to({ key }).command("quit");
  } finally {
    await producer.close();
  }
}
