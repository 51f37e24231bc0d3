import { defineExchange, type CommandMessage } from "@postage/core";
import { createConsumer, createProducer, type HandlerOutcome } from "@postage/transport";
import { describe, expect, it } from "vitest";
import type { MakeBroker } from "./contract.js";
import { latch, randomName, rawCollect, twoBrokersPerTest, waitFor } from "./helpers.js";

/**
 * Consumers without acks (`noAck`), part of the transport contract: `contract.ts` runs it on both
 * drivers, so the memory broker cannot drift from RabbitMQ.
 */
export function defineNoAckContract(makeBroker: MakeBroker): void {
  describe("a consumer without acks", () => {
    const brokers = twoBrokersPerTest(makeBroker);
    const setup = () => {
      const { other, cleanup } = brokers;
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex-noack")), type: "direct", durable: false });
      const name = cleanup.queue(randomName("noack"));
      const producer = createProducer(other, { exchanges: [[ex, "k"]], commands: ["n", "back", "boom"] });
      const ready = (): Promise<number> => other.driver.declareQueue({ name, passive: true }).then((declared) => declared.messageCount);
      return { ex, name, producer, ready };
    };

    it("stops consuming past its prefetch and starts again at half: the broker keeps what it has not sent, and nothing is handled twice", async () => {
      const { broker } = brokers;
      const { ex, name, producer, ready } = setup();
      const seen: number[] = [];
      const { wait: gate, open: release } = latch();
      const consumer = createConsumer(broker, { noAck: true, prefetch: 10, bindings: [[ex, [[name, "k"]]]] }, async ({ message, delivery }): Promise<HandlerOutcome> => {
        seen.push((message as CommandMessage).parameters as number);
        // Nothing is redelivered without acks, so there is no signal to watch.
        expect(delivery.signal).toBeUndefined();
        await gate;
        return "ack";
      });
      await consumer.ready();
      for (let n = 0; n < 50; n += 1) await producer.message.n(n);
      await waitFor(() => seen.length >= 10 && consumer.counters.paused === 1, "a full window, and the consumer paused");
      // What the broker had sent before the cancel arrives; then nothing more.
      let before = -1;
      while (before !== seen.length) {
        before = seen.length;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      // The broker forgot what it delivered: the rest is still queued, none of it taken twice.
      await waitFor(() => seen.length < 50, "some messages to stay queued");
      expect(await ready()).toBe(50 - seen.length);
      for (let n = 50; n < 300; n += 1) await producer.message.n(n);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toHaveLength(before);
      expect(await ready()).toBe(300 - before);

      release();
      await waitFor(() => seen.length === 300, "every message, once the handler let go");
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, n) => n));
      expect(await ready()).toBe(0);
      expect(consumer.counters).toMatchObject({ received: 300, handled: 300 });
      expect(consumer.counters.paused).toBeGreaterThanOrEqual(1);
      await consumer.close();
    });

    it("a private queue survives the pauses and is deleted when the consumer closes; a shared auto-delete queue keeps its acks", async () => {
      const { broker, other, cleanup } = brokers;
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex-noack")), type: "direct", durable: false });
      const shared = cleanup.queue(randomName("noack-shared"));
      const seen: Array<{ key: string; signalled: boolean }> = [];
      const consumer = createConsumer(
        broker,
        { noAck: true, prefetch: 4, bindings: [[ex, [["", "private"], [{ name: shared, autoDelete: true }, "shared"]]]] },
        async ({ delivery }): Promise<HandlerOutcome> => {
          seen.push({ key: delivery.routingKey, signalled: delivery.signal !== undefined });
          // Slow enough to fill the window, so the private queue's consumer pauses again and again.
          await new Promise((resolve) => setTimeout(resolve, 1));
          return "ack";
        },
      );
      await consumer.ready();
      const privateQueue = consumer.queues.find((name) => name !== shared) ?? "";
      const producer = createProducer(other, { exchanges: [[ex, "private"]], commands: ["n"] });
      await Promise.all(Array.from({ length: 200 }, (_, n) => producer.message.n(n)));
      await producer.to({ key: "shared" }).message.n(200);
      await waitFor(() => seen.length === 201, "every message");
      expect(seen.filter((s) => s.key === "private").every((s) => !s.signalled)).toBe(true);
      // Acked, so a delivery there has a signal (its channel's life) as with any acked consumer.
      expect(seen.find((s) => s.key === "shared")?.signalled).toBe(true);
      await consumer.close();
      const gone = await broker.driver.declareQueue({ name: privateQueue, passive: true }).then(
        () => false,
        () => true,
      );
      expect(gone).toBe(true);
    });

    it("an expiring queue outlives a pause longer than its x-expires, its messages with it", async () => {
      const { broker, other, cleanup } = brokers;
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex-noack")), type: "direct", durable: false });
      const name = cleanup.queue(randomName("noack-expires"));
      const seen: number[] = [];
      const { wait: gate, open: release } = latch();
      const consumer = createConsumer(broker, { noAck: true, prefetch: 2, bindings: [[ex, [[{ name, arguments: { "x-expires": 1_500 } }, "k"]]]] }, async ({ message }): Promise<HandlerOutcome> => {
        seen.push((message as CommandMessage).parameters as number);
        await gate;
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(other, { exchanges: [[ex, "k"]], commands: ["n"] });
      for (let n = 0; n < 6; n += 1) await producer.message.n(n);
      await waitFor(() => seen.length >= 2, "a full window");
      // Over twice the queue's expiry without a consumer on RabbitMQ (the window cancelled it); the
      // lease is renewed every 500 ms, so only a stall of a second could let it lapse.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      const { messageCount } = await other.driver.declareQueue({ name, passive: true });
      expect(messageCount).toBe(6 - seen.length);
      release();
      await waitFor(() => seen.length === 6, "every message");
      expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      await consumer.close();
    });

    it("a message given back is published to its queue again, and a failure goes to the dead-letter exchange as a copy", async () => {
      const { broker, other, cleanup } = brokers;
      const { ex, name, producer, ready } = setup();
      const deadLetterExchange = cleanup.exchange(randomName("dlx"));
      const deadLetterQueue = cleanup.queue(randomName("dlq"));
      const seen: Array<{ name: string; redelivered: boolean }> = [];
      const consumer = createConsumer(broker, { noAck: true, deadLetterExchange, deadLetterQueue, bindings: [[ex, [[name, "k"]]]] }, ({ message, delivery }): HandlerOutcome => {
        seen.push({ name: message.name, redelivered: delivery.redelivered });
        if (message.name === "boom") throw new RangeError("out of range");
        // The first time only: given back, as an actor gives back unstarted work when it drains.
        if (message.name === "back" && seen.filter((s) => s.name === "back").length === 1) return "requeue";
        return "ack";
      });
      await consumer.ready();
      await producer.message.back();
      await producer.message.boom();
      await waitFor(() => seen.length === 3 && consumer.counters.deadLettered === 1, "the message back, and the dead letter");
      // Published again, not requeued by the broker (which kept no copy): not marked redelivered.
      expect(seen.filter((s) => s.name === "back")).toEqual([
        { name: "back", redelivered: false },
        { name: "back", redelivered: false },
      ]);
      expect(consumer.counters).toMatchObject({ received: 3, handled: 1, requeued: 1, rejected: 1, paused: 0 });
      const dlq = rawCollect(other, deadLetterQueue);
      await waitFor(() => dlq.deliveries.length === 1, "the dead-lettered copy");
      expect(dlq.deliveries[0]?.properties.headers).toMatchObject({ "x-postage-error": "HANDLER_ERROR", "x-postage-reason": "RangeError: out of range" });
      await dlq.close();
      expect(await ready()).toBe(0);
      await consumer.close();
    });
  });
}
