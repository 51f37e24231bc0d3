import { defineExchange, Fingerprint } from "@postage/core";
import { connect, createProducer } from "@postage/transport";
import { afterAll, describe, expect, it } from "vitest";
import { MessageProcessor, messageHandler, Scheduler } from "@postage/actors";
import { forceCloseConnection, MAIN_URL, markdownTable, randomName } from "./reliability/support.js";
import { until, within } from "./lifecycle.js";
import { defineConsumerLossCase } from "./consumerLoss.js";

const figures: Array<[string, string | number]> = [];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// rabbitmqctl needs root; it closes only this test's own named connection on the main broker.
describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1" || process.getuid?.() !== 0)("actors across a lost connection (RabbitMQ)", () => {
  afterAll(() => {
    console.log(`\nConnection loss figures\n${markdownTable(["what", "value"], figures)}\n`);
  });

  it("defect 5: deliveries from the dead channel are dropped from the mailbox unhandled, and re-subscription does not wait for the mailbox", async () => {
    const connectionName = randomName("stale");
    const broker = connect({ url: MAIN_URL, connectionName, shared: false, heartbeat: 0 });
    const sender = connect({ url: MAIN_URL, shared: false, heartbeat: 0 });
    const exchange = defineExchange({ name: randomName("stale-ex"), type: "direct", durable: false });
    const queue = randomName("stale-q");
    const scheduler = new Scheduler({ broker, handleSignals: false, log: () => undefined });
    try {
      const HANDLER_MS = 150;
      const PREFETCH = 10;
      const COUNT = 100;
      const starts: Array<{ n: number; at: number; stale: boolean; redelivered: boolean }> = [];
      let lostAt: number | undefined;
      const worker = scheduler.add(
        new MessageProcessor({
          prefetch: PREFETCH,
          bindings: [[exchange, [[{ name: queue, durable: true }, "work"]]]],
          handlers: [
            messageHandler("command", "work", async (content, { delivery }) => {
              starts.push({ n: content.parameters as number, at: Date.now(), stale: delivery.signal?.aborted === true, redelivered: delivery.redelivered });
              // When the channel this came on died (the signal is shared by its deliveries).
              if (lostAt === undefined) delivery.signal?.addEventListener("abort", () => (lostAt ??= Date.now()), { once: true });
              await sleep(HANDLER_MS);
            }),
          ],
        }),
      );
      await worker.whenState("running", { timeout: 20_000 });
      const producer = createProducer(sender, { exchanges: [[exchange, "work"]], fingerprint: Fingerprint.collect({ name: "stale-sender" }) });
      for (let n = 0; n < COUNT; n += 1) await producer.command("work", n);
      await until(() => starts.length >= 2, "the worker to be busy");
      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);
      await until(() => new Set(starts.map((s) => s.n)).size === COUNT, "every message handled", 60_000);
      const stale = starts.filter((s) => s.stale).length;
      const firstRedelivered = starts.find((s) => s.redelivered);
      const resubscribeMs = firstRedelivered === undefined || lostAt === undefined ? Number.NaN : firstRedelivered.at - lostAt;
      const handledTwice = starts.length - new Set(starts.map((s) => s.n)).size;
      figures.push(["defect 5: deliveries of the dead channel handled after the forced close (prefetch 10, handler 150 ms)", stale]);
      figures.push(["defect 5: channel lost -> first redelivered message handled (ms)", resubscribeMs]);
      figures.push(["defect 5: messages handled twice", handledTwice]);
      expect(stale).toBe(0);
      // Re-subscription does not wait for the mailbox: between the loss and the first redelivered
      // message nothing else starts (before the fix, the prefetched mailbox ran there, ~PREFETCH x
      // HANDLER_MS). An order, not a duration, so a slow machine cannot fail it.
      expect(firstRedelivered).toBeDefined();
      const startedBetween = starts.filter((s) => lostAt !== undefined && firstRedelivered !== undefined && s.at > lostAt && s.at < firstRedelivered.at);
      expect(startedBetween, JSON.stringify({ lostAt, startedBetween })).toEqual([]);
      // Handled again only what began before the loss was seen: the one in progress at the close,
      // and under load one more: when the process gets the CPU back, Node runs the due handler
      // timer (its end starts the next delivery) before it reads the broker's close from the socket.
      // Nothing begun after the loss is handled twice (those deliveries are dropped unhandled).
      const firstStart = new Map<number, number>();
      for (const s of starts) if (!firstStart.has(s.n)) firstStart.set(s.n, s.at);
      const twice = [...new Set(starts.filter((s, i) => starts.findIndex((t) => t.n === s.n) !== i).map((s) => s.n))];
      expect(twice.every((n) => (firstStart.get(n) ?? Number.POSITIVE_INFINITY) <= (lostAt ?? Number.NEGATIVE_INFINITY)), JSON.stringify({ twice, lostAt, starts })).toBe(true);
      await producer.close();
    } finally {
      await within(scheduler.close(), 30_000, "closing the scheduler");
      await sender.driver.deleteQueue(queue).catch(() => undefined);
      await sender.driver.deleteExchange(exchange.name).catch(() => undefined);
      await broker.close();
      await sender.close();
    }
  }, 120_000);
});

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("an actor whose consumer is lost (RabbitMQ)", () => {
  afterAll(() => {
    console.log(`\nConsumer loss figures\n${markdownTable(["what", "value"], figures)}\n`);
  });

  defineConsumerLossCase("RabbitMQ", () => connect({ url: MAIN_URL, shared: false, heartbeat: 0 }), figures);
});
