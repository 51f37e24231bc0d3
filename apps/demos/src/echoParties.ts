import { type HandlerDefinition, MessageProcessor } from "@postage/actors";
import { Fingerprint } from "@postage/core";
import { createProducer } from "@postage/transport";
import type { DemoContext } from "./DemoContext.js";
import { ECHO_KEY } from "./settings.js";

/** The fingerprint every echo receiver goes by (the seed's `echo_receive` controller). */
export const ECHO_RECEIVER = { name: "echo_receive", type: "controller" } as const;

/**
 * An echo receiver of the basic and RPC echo demos: it consumes the shared echo queue, bound to
 * the echo exchange with `echo-rk`, with `handlers`. Like every processor it stops on `quit`.
 */
export function sharedQueueEchoReceiver(ctx: DemoContext, handlers: readonly HandlerDefinition[]): MessageProcessor {
  const { echoExchange, echoQueue } = ctx.names;
  return ctx.scheduler.add(new MessageProcessor({ fingerprint: ECHO_RECEIVER, bindings: [[echoExchange, [[echoQueue, ECHO_KEY]]]], handlers }));
}

/**
 * The echo demos' sender: a producer of the `echo` command (`producer.message.echo`,
 * `producer.rpc.echo`) to the echo exchange with `echo-rk` (`producer.to({ key })` for another
 * key), stamped `echo_send`; `rpc` sets its calls' timeout and retries. Closed by the caller.
 */
export function echoSender(ctx: DemoContext, rpc?: { timeout: number; retries: number }) {
  return createProducer(ctx.broker, {
    exchanges: [[ctx.names.echoExchange, ECHO_KEY]],
    commands: ["echo"],
    fingerprint: Fingerprint.collect({ name: "echo_send", type: "application" }),
    ...(rpc === undefined ? {} : { rpc }),
  });
}
