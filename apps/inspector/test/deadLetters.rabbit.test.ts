import { randomBytes } from "node:crypto";
import { defineExchange } from "@postage/core";
import { createInProcessSource, createInspectorServer, InspectionHub, type DeadLetterPanelListing } from "@postage/inspector";
import { connect, createConsumer, createProducer, reject } from "@postage/transport";
import { describe, expect, it } from "vitest";

const RABBIT_URL = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const randomName = (prefix: string): string => `test.${prefix}.${randomBytes(4).toString("hex")}`;

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("the inspector's dead-letter API on RabbitMQ", () => {
  it("lists a dead-letter queue without consuming it, serves one dead letter in full, 404 for an unknown id", async () => {
    const broker = connect({ url: RABBIT_URL, shared: false });
    const exchange = defineExchange({ name: randomName("inspector-dl-ex"), type: "direct", durable: false });
    const work = randomName("inspector-dl-work");
    const dlq = randomName("inspector-dl-dlq");
    const consumer = createConsumer(broker, { bindings: [[exchange, [[work, "k"]]]], deadLetterExchange: dlq, deadLetterQueue: dlq }, ({ message }) => reject(`no ${message.name} today`, "E_TODAY"));
    const source = createInProcessSource((listener) => new InspectionHub().subscribe(listener));
    const server = await createInspectorServer({ source, port: 0, deadLetters: { broker, queue: dlq, cacheMs: 0 } });
    try {
      await consumer.ready();
      const producer = createProducer(broker, { commands: ["a", "b", "c"], exchanges: [[exchange, "k"]] });
      await producer.message.a();
      await producer.message.b();
      await producer.message.c();
      await producer.close();
      while (consumer.counters.deadLettered < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      const get = async (path: string): Promise<{ status: number; body: unknown }> => {
        const response = await fetch(new URL(path, server.url));
        return { status: response.status, body: await response.json() };
      };
      const first = (await get("api/dead-letters")).body as DeadLetterPanelListing;
      expect(first).toMatchObject({ queue: dlq, exists: true, total: 3 });
      expect(first.deadLetters.map((l) => [l.error, l.reason, l.exchange, l.routingKey])).toEqual(["a", "b", "c"].map((n) => ["E_TODAY", `no ${n} today`, exchange.name, "k"]));
      expect(first.deadLetters[0]).not.toHaveProperty("body");
      const again = (await get("api/dead-letters")).body as DeadLetterPanelListing;
      expect(again.deadLetters.map((l) => l.id)).toEqual(first.deadLetters.map((l) => l.id));
      const one = await get(`api/dead-letters/one?id=${encodeURIComponent(first.deadLetters[1]?.id ?? "")}`);
      expect(one.status).toBe(200);
      expect(JSON.parse((one.body as { body: string }).body)).toMatchObject({ name: "b" });
      expect((one.body as { headers: Record<string, unknown> }).headers["x-postage-error"]).toBe("E_TODAY");
      expect((await get("api/dead-letters/one?id=nope")).status).toBe(404);
      // A request another site's page made the browser send is refused before anything is listed.
      const crossSite = await fetch(new URL("api/dead-letters", server.url), { headers: { "sec-fetch-site": "cross-site" } });
      expect(crossSite.status).toBe(403);
      expect((await broker.driver.declareQueue({ name: dlq, passive: true })).messageCount).toBe(3);
    } finally {
      await server.close();
      await source.close();
      await consumer.close();
      for (const queue of [work, dlq]) await broker.driver.deleteQueue(queue).catch(() => undefined);
      for (const name of [exchange.name, dlq]) await broker.driver.deleteExchange(name).catch(() => undefined);
      await broker.close();
    }
  });
});
