import { defineExchange } from "@postage/core";
import { createProducer, type Broker } from "@postage/transport";
import { expect, it } from "vitest";
import { MessageProcessor, messageHandler, Scheduler } from "@postage/actors";
import { randomName } from "./reliability/support.js";
import { until, within } from "./lifecycle.js";

/**
 * Defect 7 of issue 14 on one broker: a consumer whose queue is deleted under it and declared again
 * differently cannot consume again; the actor must send `fail` (recovering, restarts with backoff)
 * and run again once the queue is put right. `open` makes an unshared connection to that broker.
 */
export function defineConsumerLossCase(label: string, open: () => Broker, figures: Array<[string, string | number]>): void {
  it(`defect 7 (${label}): a consumer that cannot consume again after the broker cancelled it sends fail: recovering with backoff, then running again`, async () => {
    const broker = open();
    const thief = open();
    const exchange = defineExchange({ name: randomName("lost-ex"), type: "direct", durable: false });
    const queue = randomName("lost-q");
    const scheduler = new Scheduler({ broker, handleSignals: false, log: () => undefined });
    try {
      const got: unknown[] = [];
      const worker = scheduler.add(
        new MessageProcessor({
          supervision: { maxRestarts: 50, backoffMs: 100, maxBackoffMs: 300 },
          bindings: [[exchange, [[{ name: queue, durable: false }, "k"]]]],
          handlers: [messageHandler("command", "hello", (content) => void got.push(content.parameters))],
        }),
      );
      const states: string[] = [];
      worker.subscribe((snapshot) => {
        const state = typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value)[0] ?? "";
        if (states.at(-1) !== state) states.push(state);
      });
      await worker.whenState("running", { timeout: 20_000 });
      // Deleted under the consumer (the broker cancels it) and declared again, differently, before
      // the consumer comes back: its own declaration is now refused (PRECONDITION_FAILED) every time.
      await thief.driver.deleteQueue(queue);
      await thief.driver.declareQueue({ name: queue, durable: true });
      await worker.whenState("recovering", { timeout: 20_000 });
      const recoveringAt = Date.now();
      figures.push([`defect 7 (${label}): state after the consumer's queue was re-declared differently`, "recovering"]);
      expect(worker.lastError).toMatch(/consumer lost|PRECONDITION|inequivalent/i);
      // Put right: the next supervised restart consumes again.
      await thief.driver.deleteQueue(queue);
      await worker.whenState("running", { timeout: 20_000 });
      figures.push([`defect 7 (${label}): queue put right -> running again (ms)`, Date.now() - recoveringAt]);
      expect(states).toEqual(expect.arrayContaining(["running", "recovering", "restarting", "starting"]));
      const producer = createProducer(thief, { exchanges: [[exchange, "k"]] });
      await producer.command("hello", "again");
      await until(() => got.includes("again"), "a message after the recovery");
      await producer.close();
      worker.quit();
      await within(worker.whenDone(), 20_000, "quit");
      expect(worker.getSnapshot().context.restarts.length).toBeGreaterThan(0);
    } finally {
      await within(scheduler.close(), 30_000, "closing the scheduler");
      await thief.driver.deleteQueue(queue).catch(() => undefined);
      await thief.driver.deleteExchange(exchange.name).catch(() => undefined);
      await broker.close();
      await thief.close();
    }
  }, 120_000);
}
