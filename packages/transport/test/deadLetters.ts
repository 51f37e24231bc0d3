import { defineExchange, type ExchangeDefinition } from "@postage/core";
import {
  createConsumer,
  createProducer,
  findDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  reject,
  replayDeadLetters,
  type Broker,
  type Consumer,
  type Incoming,
} from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MakeBroker } from "./contract.js";
import { Cleanup, randomName, waitFor } from "./helpers.js";

/**
 * The dead-letter operations (list, find, replay, purge) on a driver: run by
 * `deadLetters.memory.test.ts` and `deadLetters.rabbit.test.ts`.
 */
export function defineDeadLetterSuite(name: string, makeBroker: MakeBroker): void {
  describe(`dead letters: ${name}`, () => {
    let broker: Broker;
    let cleanup: Cleanup;
    let ex: ExchangeDefinition;
    let dlx: string;
    let dlq: string;
    /** What the consumer saw: it rejects every command named "bad" until `healed`. */
    let received: Incoming[];
    let healed: boolean;
    let consumer: Consumer;

    beforeEach(async () => {
      broker = makeBroker();
      cleanup = new Cleanup();
      await broker.ready({ timeout: 10_000 });
      ex = defineExchange({ name: cleanup.exchange(randomName("dl-ex")), type: "direct", durable: false });
      dlx = cleanup.exchange(randomName("dlx"));
      dlq = cleanup.queue(randomName("dlq"));
      received = [];
      healed = false;
      consumer = createConsumer(broker, { bindings: [[ex, [[cleanup.queue(randomName("work")), "work"]]]], deadLetterExchange: dlx, deadLetterQueue: dlq }, (incoming) => {
        received.push(incoming);
        if (incoming.message.name === "bad" && !healed) return reject(`cannot do ${JSON.stringify(incoming.message.content)}`, "E_BAD");
        return "ack";
      });
      await consumer.ready();
    });

    afterEach(async () => {
      await consumer.close();
      await cleanup.run(broker);
      await broker.close();
    });

    /** Sends `count` bad commands (parameters 0, 1, ...) and waits until they are dead-lettered. */
    const sendBad = async (count: number): Promise<string[]> => {
      const producer = createProducer(broker, { commands: ["bad"], exchanges: [[ex, "work"]] });
      for (let i = 0; i < count; i++) await producer.message.bad(i);
      await waitFor(() => consumer.counters.deadLettered === count, `${count} dead letters`);
      await producer.close();
      return received.map((incoming) => incoming.delivery.properties.messageId ?? "");
    };

    /** The dead-letter exchange and queue, declared as the consumer declares them. */
    const publishToDlq = async (messages: Array<[body: Uint8Array, messageId?: string]>): Promise<void> => {
      await broker.driver.declareExchange(defineExchange({ name: dlx, type: "fanout", durable: true }));
      await broker.driver.declareQueue({ name: dlq, durable: true });
      await broker.driver.bindQueue({ exchange: dlx, queue: dlq, routingKey: "" });
      const publisher = broker.driver.createPublisher({ confirm: true });
      for (const [body, messageId] of messages) await publisher.publish(dlx, "", body, messageId === undefined ? {} : { messageId });
      await publisher.close();
    };

    const queued = async (queue = dlq): Promise<number> => (await broker.driver.declareQueue({ name: queue, passive: true })).messageCount;
    const parameters = (listing: { deadLetters: ReadonlyArray<{ body: string }> }): unknown[] =>
      listing.deadLetters.map((letter) => (JSON.parse(letter.body) as { content: { parameters: unknown } }).content.parameters);

    it("lists a consumer's dead letters in order with time, origin, error, reason and preview; listing leaves every one in place", async () => {
      const before = Date.now();
      const ids = await sendBad(3);
      const first = await listDeadLetters(broker, { queue: dlq });
      expect(first).toMatchObject({ queue: dlq, exists: true, total: 3 });
      expect(first.deadLetters.map((letter) => letter.id)).toEqual(ids);
      expect(parameters(first)).toEqual([0, 1, 2]);
      const [letter] = first.deadLetters;
      expect(letter).toMatchObject({ source: "postage", exchange: ex.name, routingKey: "work", error: "E_BAD", reason: "cannot do {\"parameters\":0}", deaths: 1, replays: 0, position: 0, contentType: "application/json", bodyEncoding: "utf8" });
      expect(Date.parse(letter?.deadLetteredAt ?? "")).toBeGreaterThanOrEqual(before - 1);
      expect(letter?.preview).toBe('command bad {"parameters":0}');
      expect(letter?.size).toBe(Buffer.byteLength(letter?.body ?? ""));
      expect(await queued()).toBe(3);
      const second = await listDeadLetters(broker, { queue: dlq, limit: 2 });
      expect(second.total).toBe(3);
      expect(second.deadLetters.map((l) => l.id)).toEqual(ids.slice(0, 2));
      expect(second.deadLetters.every((l) => l.redelivered)).toBe(true);
      expect(await queued()).toBe(3);
    });

    it("reads RabbitMQ's own dead-lettering (x-death): the queue it died in, the reason, the original exchange and key", async () => {
      const brokerDlq = cleanup.queue(randomName("broker-dlq"));
      const brokerDlx = cleanup.exchange(randomName("broker-dlx"));
      await broker.driver.declareExchange(defineExchange({ name: brokerDlx, type: "fanout", durable: false }));
      await broker.driver.declareQueue({ name: brokerDlq, durable: true });
      await broker.driver.bindQueue({ exchange: brokerDlx, queue: brokerDlq, routingKey: "" });
      const source = cleanup.queue(randomName("refusing"));
      const raw = broker.driver.createConsumer({ queue: { name: source, arguments: { "x-dead-letter-exchange": brokerDlx } }, bindings: [{ exchange: ex.name, routingKey: "refused" }] }, () => "reject");
      await raw.ready;
      const before = Date.now();
      await createProducer(broker, { commands: ["bad"], exchanges: [[ex, "refused"]] }).message.bad("x");
      let listing = await listDeadLetters(broker, { queue: brokerDlq });
      while (listing.total === 0) listing = await listDeadLetters(broker, { queue: brokerDlq });
      await raw.close();
      expect(listing.deadLetters).toHaveLength(1);
      expect(listing.deadLetters[0]).toMatchObject({ source: "rabbitmq", exchange: ex.name, routingKey: "refused", error: "rejected", queue: source, deaths: 1 });
      expect(listing.deadLetters[0]?.reason).toContain(`from queue "${source}"`);
      // x-death times are whole seconds.
      expect(Date.parse(listing.deadLetters[0]?.deadLetteredAt ?? "")).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    });

    it("finds one by id without consuming it; an unknown id finds nothing", async () => {
      const ids = await sendBad(3);
      const found = await findDeadLetter(broker, ids[1] ?? "", { queue: dlq });
      expect(found).toMatchObject({ id: ids[1], position: 1, error: "E_BAD" });
      expect(await findDeadLetter(broker, "no-such-id", { queue: dlq })).toBeUndefined();
      expect((await listDeadLetters(broker, { queue: dlq })).deadLetters.map((l) => l.id)).toEqual(ids);
    });

    it("messages without a message id get a stable hash id; a repeated id gets ~2", async () => {
      const text = (value: string): Uint8Array => new TextEncoder().encode(value);
      await publishToDlq([[text("no id")], [text("same"), "twice"], [text("same again"), "twice"]]);
      const one = await listDeadLetters(broker, { queue: dlq });
      const two = await listDeadLetters(broker, { queue: dlq });
      expect(one.deadLetters.map((l) => l.id)).toEqual(two.deadLetters.map((l) => l.id));
      expect(one.deadLetters[0]?.id).toMatch(/^sha-[0-9a-f]{12}$/);
      expect(one.deadLetters.slice(1).map((l) => l.id)).toEqual(["twice", "twice~2"]);
      expect(one.deadLetters[0]).toMatchObject({ source: "unknown", preview: "no id" });
      expect((await findDeadLetter(broker, "twice~2", { queue: dlq }))?.body).toBe("same again");
    });

    it("replays one by id to its original destination: confirmed, then removed; the others stay in order", async () => {
      const ids = await sendBad(3);
      healed = true;
      const report = await replayDeadLetters(broker, [ids[1] ?? ""], { queue: dlq });
      expect(report).toEqual({ queue: dlq, replayed: [{ id: ids[1], exchange: ex.name, routingKey: "work" }], failed: [], missing: [] });
      await waitFor(() => consumer.counters.handled === 1, "the replayed message handled");
      const replayed = received.at(-1);
      expect(replayed?.delivery.properties.messageId).toBe(ids[1]);
      expect(replayed?.delivery.properties.headers?.["x-postage-replays"]).toBe(1);
      expect(replayed?.delivery.properties.headers?.["x-postage-error"]).toBeUndefined();
      expect(replayed?.delivery.properties.headers?.["x-original-exchange"]).toBeUndefined();
      expect(replayed?.body.content).toEqual({ parameters: 1 });
      expect((await listDeadLetters(broker, { queue: dlq })).deadLetters.map((l) => l.id)).toEqual([ids[0], ids[2]]);
    });

    it("replays all, or elsewhere with `to`; a message that dies again is not replayed twice in one run", async () => {
      const ids = await sendBad(3);
      // Not healed: each replayed message is dead-lettered again, behind the ones still waiting.
      const again = await replayDeadLetters(broker, "all", { queue: dlq });
      expect(again.replayed.map((r) => r.id)).toEqual(ids);
      await waitFor(() => consumer.counters.deadLettered === 6, "three dead letters again");
      const listing = await listDeadLetters(broker, { queue: dlq });
      expect(listing.deadLetters.map((l) => l.id)).toEqual(ids);
      expect(listing.deadLetters.map((l) => l.replays)).toEqual([1, 1, 1]);
      const elsewhere = cleanup.queue(randomName("elsewhere"));
      await broker.driver.declareQueue({ name: elsewhere });
      const moved = await replayDeadLetters(broker, [ids[2] ?? "", "unknown-id"], { queue: dlq, to: { exchange: "", routingKey: elsewhere } });
      expect(moved.replayed).toEqual([{ id: ids[2], exchange: "", routingKey: elsewhere }]);
      expect(moved.missing).toEqual(["unknown-id"]);
      expect(await queued(elsewhere)).toBe(1);
      expect(await queued()).toBe(2);
    });

    it("a replay nobody would receive fails and leaves the dead letter where it was", async () => {
      const ids = await sendBad(2);
      const nowhere = defineExchange({ name: cleanup.exchange(randomName("nowhere")), type: "direct", durable: false });
      await broker.declareExchange(nowhere);
      const report = await replayDeadLetters(broker, "all", { queue: dlq, to: { exchange: nowhere.name, routingKey: "nobody" } });
      expect(report.replayed).toEqual([]);
      expect(report.failed.map((f) => [f.id, (f.error as { code?: string }).code])).toEqual([[ids[0], "UNROUTABLE"], [ids[1], "UNROUTABLE"]]);
      expect((await listDeadLetters(broker, { queue: dlq })).deadLetters.map((l) => l.id)).toEqual(ids);
      const missingExchange = await replayDeadLetters(broker, [ids[0] ?? ""], { queue: dlq, to: { exchange: randomName("absent"), routingKey: "k" } });
      expect((missingExchange.failed[0]?.error as { code?: string }).code).toBe("EXCHANGE_NOT_FOUND");
      expect(await queued()).toBe(2);
    });

    it("purges by id, or the first `max` messages; a missing queue lists and purges nothing", async () => {
      const ids = await sendBad(4);
      expect(await purgeDeadLetters(broker, [ids[1] ?? "", "nope"], { queue: dlq })).toEqual({ queue: dlq, removed: 1, missing: ["nope"] });
      expect((await listDeadLetters(broker, { queue: dlq })).deadLetters.map((l) => l.id)).toEqual([ids[0], ids[2], ids[3]]);
      expect((await purgeDeadLetters(broker, "all", { queue: dlq, max: 2 })).removed).toBe(2);
      expect((await listDeadLetters(broker, { queue: dlq })).deadLetters.map((l) => l.id)).toEqual([ids[3]]);
      expect((await purgeDeadLetters(broker, "all", { queue: dlq })).removed).toBe(1);
      expect(await queued()).toBe(0);
      const absent = randomName("absent-dlq");
      expect(await listDeadLetters(broker, { queue: absent })).toEqual({ queue: absent, exists: false, total: 0, deadLetters: [] });
      expect((await purgeDeadLetters(broker, "all", { queue: absent })).removed).toBe(0);
    });

    it("body previews: invalid UTF-8 is shown as base64; long bodies are cut", async () => {
      await publishToDlq([[new Uint8Array([0xff, 0xfe, 0x41]), "binary"], [new TextEncoder().encode(`long ${"x".repeat(500)}`), "long"]]);
      const [binary, long] = (await listDeadLetters(broker, { queue: dlq })).deadLetters;
      expect(binary).toMatchObject({ bodyEncoding: "base64", body: Buffer.from([0xff, 0xfe, 0x41]).toString("base64"), size: 3 });
      expect(long?.preview).toHaveLength(120);
      expect(long?.body).toHaveLength(505);
      expect(long?.body).toMatch(/^long x/);
    });
  });
}
