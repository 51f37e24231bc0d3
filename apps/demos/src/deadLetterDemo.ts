import { randomBytes } from "node:crypto";
import { MessageProcessor, messageHandler } from "@postage/actors";
import { Fingerprint } from "@postage/core";
import { createProducer, type DeadLetter, listDeadLetters } from "@postage/transport";
import type { DemoContext } from "./DemoContext.js";
import { show } from "./Printer.js";

/** The dead-letter demo's routing key on the echo exchange. */
export const CHARGE_KEY = "charge-rk";

/** Marks this run's messages, so the tour shows its own dead letters only (on RabbitMQ the queue may hold others). */
const RUN_HEADER = "x-postage-tour-run";

/** A dead-letter demo run: its receiver and the mark on its messages. */
export interface DeadLetterRun {
  readonly receiver: MessageProcessor;
  readonly run: string;
}

/**
 * A `billing` receiver that charges `{ amount }` and refuses anything else: a command without a
 * numeric amount is rejected with a reason, a body that is not JSON never reaches it. Both end up
 * in the `postage.dead-letter` queue with the reason in their headers.
 */
export function receiveDeadLetterDemo(ctx: DemoContext): DeadLetterRun {
  const { echoExchange } = ctx.names;
  const receiver = ctx.scheduler.add(
    new MessageProcessor({
      fingerprint: { name: "billing", type: "controller" },
      bindings: [[echoExchange, [["", CHARGE_KEY]]]],
      handlers: [
        messageHandler("command", "charge", (content, { reject }) => {
          const amount = (content.parameters as { amount?: unknown } | undefined)?.amount;
          if (typeof amount !== "number") return reject(`amount must be a number, got ${show(amount)}`);
          ctx.out.line("billing", "<-", `charged ${amount}`);
        }),
      ],
    }),
  );
  return { receiver, run: randomBytes(6).toString("hex") };
}

/** Sends a good charge, one without an amount and a body that is not JSON; resolves once both bad ones are dead-lettered. */
export async function sendDeadLetterDemo(ctx: DemoContext, { run }: DeadLetterRun): Promise<DeadLetter[]> {
  const { echoExchange } = ctx.names;
  const producer = createProducer(ctx.broker, {
    exchanges: [[echoExchange, CHARGE_KEY]],
    commands: ["charge"],
    fingerprint: Fingerprint.collect({ name: "billing_send", type: "application" }),
  });
  const marked = producer.to({ headers: { [RUN_HEADER]: run } });
  try {
    ctx.out.line("billing_send", "->", `${echoExchange.name}/${CHARGE_KEY}  command charge {"amount":12}`);
    await marked.message.charge({ amount: 12 });
    ctx.out.line("billing_send", "->", `${echoExchange.name}/${CHARGE_KEY}  command charge {"amount":"twelve"}`);
    await marked.message.charge({ amount: "twelve" });
    ctx.out.line("billing_send", "->", `${echoExchange.name}/${CHARGE_KEY}  "charge 12 EUR" (not JSON)`);
    await marked.forward(new TextEncoder().encode("charge 12 EUR"));
  } finally {
    await producer.close();
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ours = await ownDeadLetters(ctx, run);
    if (ours.length >= 2) return ours;
    if (Date.now() > deadline) throw new Error(`the two bad charges were not dead-lettered within 10 s (found ${ours.length})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** This run's dead letters in `postage.dead-letter`, read without consuming anything. */
async function ownDeadLetters(ctx: DemoContext, run: string): Promise<DeadLetter[]> {
  const { deadLetters } = await listDeadLetters(ctx.broker, { limit: 10_000 });
  return deadLetters.filter((letter) => letter.headers[RUN_HEADER] === run);
}

/** Prints the dead letters as `postage dlq list` shows them. */
export function showDeadLetters(ctx: DemoContext, letters: readonly DeadLetter[]): void {
  for (const letter of letters) ctx.out.line("dead-letter queue", "  ", `${letter.error}  ${letter.reason}  (${letter.exchange}/${letter.routingKey}: ${letter.preview})`);
}
