import { defineExchange } from "@postage/core";
import { createConsumer, createProducer, TransportError, type Broker, type HandlerOutcome } from "@postage/transport";
import { describe, expect, it } from "vitest";
import type { MakeBroker } from "./contract.js";
import { latch, randomName, twoBrokersPerTest, waitFor } from "./helpers.js";

/**
 * A queue deleted under its consumer (RabbitMQ cancels the consumer: basic.cancel), part of the
 * transport contract: `contract.ts` runs it on both drivers, so the memory broker cannot drift.
 */
export function defineQueueDeletedContract(makeBroker: MakeBroker): void {
  describe("a queue deleted under its consumer", () => {
    const brokers = twoBrokersPerTest(makeBroker);
    /** Publishes until the message is routed: the queue may not be bound again yet (UNROUTABLE). */
    const sendWhenRouted = async (send: () => Promise<void>): Promise<void> => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await send();
          return;
        } catch (error) {
          if (!(error instanceof TransportError) || error.code !== "UNROUTABLE" || attempt > 200) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };

    /** Whether the queue exists (checked passively from the other connection). */
    const exists = (name: string): Promise<boolean> => brokers.other.driver.declareQueue({ name, passive: true }).then(() => true, () => false);

    it("the consumer declares it again, bindings included, and consumes the fresh queue; what it held stays settleable, what was queued is gone", async () => {
      const { broker, other, cleanup } = brokers;
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex-deleted")), type: "direct", durable: false });
      const name = cleanup.queue(randomName("deleted"));
      const seen: string[] = [];
      const lost: TransportError[] = [];
      const { wait: gate, open: release } = latch();
      let heldAbortedAtAck: boolean | undefined;
      const consumer = createConsumer(broker, { prefetch: 1, bindings: [[ex, [[name, "k"]]]], onLost: (error) => lost.push(error) }, async ({ message, delivery }): Promise<HandlerOutcome> => {
        seen.push(message.name);
        if (message.name === "held") {
          await gate;
          heldAbortedAtAck = delivery.signal?.aborted;
        }
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(other, { commands: ["held", "queued", "after"], exchanges: [[ex, "k"]] });
      await producer.message.held();
      await waitFor(() => seen.length === 1, "the held delivery");
      // Prefetch 1: this one waits in the queue, and goes with it.
      await producer.message.queued();
      try {
        await other.driver.deleteQueue(name);
        // The consumer was cancelled and checks its queue again (about a second later): it is declared afresh.
      const deadline = Date.now() + 10_000;
      while (!(await exists(name))) {
        if (Date.now() > deadline) throw new Error(`queue ${name} was not declared again`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      } finally {
        // Cancelled, not disconnected: the delivery in hand is not aborted, and acking it is harmless.
        release();
      }
      await waitFor(() => heldAbortedAtAck !== undefined, "the held delivery to be settled");
      expect(heldAbortedAtAck).toBe(false);
      await sendWhenRouted(() => producer.message.after());
      await waitFor(() => seen.includes("after"), "a message to the queue declared again");
      expect(seen).toEqual(["held", "after"]);
      expect(lost).toEqual([]);
      await producer.close();
      await consumer.close();
    }, 30_000);

    it("declared again differently by someone else: the consumer is lost for good (onLost, PRECONDITION_FAILED); deleted again, it comes back by itself", async () => {
      const { broker, other, cleanup } = brokers;
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex-deleted")), type: "direct", durable: false });
      const name = cleanup.queue(randomName("deleted"));
      const seen: string[] = [];
      const lost: TransportError[] = [];
      const consumer = createConsumer(broker, { bindings: [[ex, [[name, "k"]]]], onLost: (error) => lost.push(error) }, async ({ message }): Promise<HandlerOutcome> => {
        seen.push(message.name);
        return "ack";
      });
      await consumer.ready();
      await other.driver.deleteQueue(name);
      await other.driver.declareQueue({ name, durable: true });
      await waitFor(() => lost.length > 0, "onLost", 15_000);
      expect(lost.map((error) => error.code)).toEqual(["PRECONDITION_FAILED"]);
      // Put right: the consumer still retries its own declaration, and consumes again.
      await other.driver.deleteQueue(name);
      const producer = createProducer(other, { commands: ["after"], exchanges: [[ex, "k"]] });
      await sendWhenRouted(() => producer.message.after());
      await waitFor(() => seen.includes("after"), "a message once the queue was put right", 15_000);
      expect(seen).toEqual(["after"]);
      expect(lost).toHaveLength(1);
      await producer.close();
      await consumer.close();
    }, 40_000);

    it("without acks, deleted while the consumer is paused: it declares the queue again when it resumes", async () => {
      const { broker, other, cleanup } = brokers;
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex-deleted")), type: "direct", durable: false });
      const name = cleanup.queue(randomName("deleted-noack"));
      const seen: string[] = [];
      const { wait: gate, open: release } = latch();
      const consumer = createConsumer(broker, { noAck: true, prefetch: 2, bindings: [[ex, [[name, "k"]]]] }, async ({ message }): Promise<HandlerOutcome> => {
        seen.push(message.name);
        if (message.name === "held") await gate;
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(other, { commands: ["held", "after"], exchanges: [[ex, "k"]] });
      await producer.message.held();
      await producer.message.held();
      await waitFor(() => seen.length === 2, "a full window");
      await other.driver.deleteQueue(name);
      release();
      await sendWhenRouted(() => producer.message.after());
      await waitFor(() => seen.includes("after"), "a message to the queue declared again", 15_000);
      expect(seen).toEqual(["held", "held", "after"]);
      await producer.close();
      await consumer.close();
    }, 30_000);
  });
}
