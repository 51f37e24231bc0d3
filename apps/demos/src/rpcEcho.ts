import { type MessageProcessor, rpcHandler } from "@postage/actors";
import { SuccessResult } from "@postage/core";
import { type DemoContext, label } from "./DemoContext.js";
import { echoSender, sharedQueueEchoReceiver } from "./echoParties.js";
import { show } from "./Printer.js";
import { ECHO_KEY } from "./settings.js";

/** The answer of the RPC echo receiver, as the seed's. */
export const RPC_ECHO_ANSWER = "RPC message received";

/** The seed's RPC echo receiver: prints the parameters of `echo` and answers a success result. */
export function receiveRpcEcho(ctx: DemoContext, options: { index?: number } = {}): MessageProcessor {
  const who = label("echo_receive", options.index);
  return sharedQueueEchoReceiver(ctx, [
    rpcHandler("command", "echo", async (content, reply) => {
      ctx.out.line(who, "<-", `rpc echo ${show(content.parameters)}`);
      await reply(new SuccessResult(RPC_ECHO_ANSWER));
      ctx.out.line(who, "->", `success ${show(RPC_ECHO_ANSWER)}`);
    }),
  ]);
}

/**
 * The seed's RPC echo sender: calls `echo` and prints the reply's value, or "RPC failed".
 * @returns whether the call succeeded.
 */
export async function sendRpcEcho(ctx: DemoContext, options: { timeout?: number; retries?: number } = {}): Promise<boolean> {
  const { echoExchange } = ctx.names;
  const producer = echoSender(ctx, { timeout: options.timeout ?? 5_000, retries: options.retries ?? 1 });
  try {
    const text = "RPC test message";
    ctx.out.line("echo_send", "->", `${echoExchange.name}/${ECHO_KEY}  rpc echo ${show(text)}`);
    const started = performance.now();
    const reply = await producer.rpc.echo(text);
    const ms = (performance.now() - started).toFixed(1);
    if (reply.ok) ctx.out.line("echo_send", "<-", `${reply.resultType} ${show(reply.value)}  (${ms} ms)`);
    else ctx.out.line("echo_send", "!!", `RPC failed: ${reply.resultType} ${String(reply.value)} ${reply.message}`);
    return reply.ok;
  } finally {
    await producer.close();
  }
}
