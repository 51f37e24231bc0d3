import { defineExchange } from "@postage/core";
import type { Broker, BrowseDecision, BrowsedMessage } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MakeBroker } from "./contract.js";
import { Cleanup, randomName, utf8 } from "./helpers.js";

/**
 * The driver's `browseQueue` (read a queue without consuming it), part of the transport contract:
 * `contract.ts` runs it on both drivers.
 */
export function defineBrowseContract(makeBroker: MakeBroker): void {
  describe("browsing a queue (basic.get without ack)", () => {
    let broker: Broker;
    let cleanup: Cleanup;

    beforeEach(async () => {
      broker = makeBroker();
      cleanup = new Cleanup();
      await broker.ready({ timeout: 10_000 });
    });

    afterEach(async () => {
      await cleanup.run(broker);
      await broker.close();
    });

    /** A durable queue holding `count` messages m0, m1, ... published to it in that order. */
    const filled = async (count: number, args?: Record<string, unknown>): Promise<string> => {
      const name = cleanup.queue(randomName("browse"));
      await broker.driver.declareQueue({ name, durable: true, ...(args ? { arguments: args } : {}) });
      const publisher = broker.driver.createPublisher({ confirm: true });
      for (let i = 0; i < count; i++) await publisher.publish("", name, new TextEncoder().encode(`m${i}`), { messageId: `id-${i}`, headers: { n: i } });
      await publisher.close();
      return name;
    };

    /** Browses the whole queue, deciding with `decide`; returns the bodies seen. */
    const browse = async (queue: string, decide: (m: BrowsedMessage) => BrowseDecision = () => "keep", limit?: number): Promise<{ seen: BrowsedMessage[]; bodies: string[] }> => {
      const seen: BrowsedMessage[] = [];
      await broker.driver.browseQueue(queue, (m) => {
        seen.push(m);
        return decide(m);
      }, limit === undefined ? {} : { limit });
      return { seen, bodies: seen.map((m) => utf8(m.body)) };
    };

    const count = async (queue: string): Promise<number> => (await broker.driver.declareQueue({ name: queue, durable: true, passive: true })).messageCount;

    it("sees every message in queue order and leaves them all in place, then marked redelivered", async () => {
      const q = await filled(5);
      const first = await browse(q);
      expect(first.bodies).toEqual(["m0", "m1", "m2", "m3", "m4"]);
      expect(first.seen.map((m) => m.index)).toEqual([0, 1, 2, 3, 4]);
      expect(first.seen.map((m) => m.redelivered)).toEqual([false, false, false, false, false]);
      expect(first.seen[2]?.properties).toMatchObject({ messageId: "id-2", headers: { n: 2 } });
      expect(first.seen[2]?.routingKey).toBe(q);
      expect(await count(q)).toBe(5);
      const second = await browse(q);
      expect(second.bodies).toEqual(["m0", "m1", "m2", "m3", "m4"]);
      expect(second.seen.every((m) => m.redelivered)).toBe(true);
    });

    it("when a browse resolves its messages are back: a count and a second browse right after see them all", async () => {
      const q = await filled(300);
      for (let round = 0; round < 3; round++) {
        await browse(q);
        expect(await count(q)).toBe(300);
      }
      const again = await browse(q);
      expect(again.bodies).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
    });

    it("ack removes exactly the acked messages; the rest keep their order", async () => {
      const q = await filled(5);
      const result = await broker.driver.browseQueue(q, (m) => (m.index % 2 === 1 ? "ack" : "keep"));
      expect(result).toEqual({ visited: 5, removed: 2 });
      expect((await browse(q)).bodies).toEqual(["m0", "m2", "m4"]);
      expect(await count(q)).toBe(3);
    });

    it("stop and limit end the browse early, keeping what was taken", async () => {
      const q = await filled(4);
      expect(await broker.driver.browseQueue(q, (m) => (m.index === 1 ? "stop" : "keep"))).toEqual({ visited: 2, removed: 0 });
      expect((await browse(q, () => "keep", 3)).bodies).toEqual(["m0", "m1", "m2"]);
      expect((await browse(q)).bodies).toEqual(["m0", "m1", "m2", "m3"]);
    });

    it("a visitor that throws: its error comes back unchanged, only what it acked before is gone", async () => {
      const q = await filled(3);
      const failure = new RangeError("visitor failed");
      await expect(
        broker.driver.browseQueue(q, (m) => {
          if (m.index === 2) throw failure;
          return m.index === 0 ? "ack" : "keep";
        }),
      ).rejects.toBe(failure);
      expect((await browse(q)).bodies).toEqual(["m1", "m2"]);
    });

    it("an asynchronous visitor: the message is removed only once its promise resolves to ack", async () => {
      const q = await filled(2);
      await broker.driver.browseQueue(q, async (m) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return m.index === 0 ? "ack" : "keep";
      });
      expect((await browse(q)).bodies).toEqual(["m1"]);
    });

    it("an empty queue visits nothing; a missing one is QUEUE_NOT_FOUND", async () => {
      const q = await filled(0);
      expect(await broker.driver.browseQueue(q, () => "keep")).toEqual({ visited: 0, removed: 0 });
      await expect(broker.driver.browseQueue(randomName("missing"), () => "keep")).rejects.toMatchObject({ code: "QUEUE_NOT_FOUND" });
    });

    it("quorum queues count each browse as a delivery attempt, and dead-letter past x-delivery-limit", async () => {
      const dlx = cleanup.exchange(randomName("browse-dlx"));
      await broker.driver.declareExchange(defineExchange({ name: dlx, type: "fanout", durable: false }));
      const dlq = cleanup.queue(randomName("browse-dlq"));
      await broker.driver.declareQueue({ name: dlq, durable: true });
      await broker.driver.bindQueue({ exchange: dlx, queue: dlq, routingKey: "" });
      const q = await filled(1, { "x-queue-type": "quorum", "x-delivery-limit": 1, "x-dead-letter-exchange": dlx });
      const counts: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const { seen } = await browse(q);
        counts.push(...seen.map((m) => m.properties.headers?.["x-delivery-count"]));
      }
      expect(counts).toEqual([0, 1]);
      const dead = await browse(dlq);
      expect(dead.bodies).toEqual(["m0"]);
      expect(dead.seen[0]?.properties.headers).toMatchObject({ "x-first-death-reason": "delivery_limit", "x-first-death-queue": q });
    });
  });
}
