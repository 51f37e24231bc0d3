import { CommandMessage, defineExchange, Fingerprint } from "@postage/core";
import { type Broker, connect, DEAD_LETTER_HEADERS, DEFAULT_DEAD_LETTER_EXCHANGE, type Delivery, type DriverConsumer, type DriverPublisher, type MessageProperties } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MessageProcessor, messageHandler, Scheduler } from "../../src/index.js";
import { eventually, forceCloseConnection, MAIN_URL, markdownTable, randomName, settlesWithin, sleep } from "./support.js";

const MAX_BYTES = 4_096;
const fingerprint = Fingerprint.collect({ name: "bad-input-sender" }).toDict();
const json = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), "utf8");
const validBody = (name: string, parameters: unknown = {}) => new CommandMessage(name, parameters).stamp(fingerprint).toBody();

interface BadCase {
  title: string;
  bytes: Uint8Array;
  properties?: MessageProperties;
  /** The `x-postage-error` code of the dead-lettered copy. */
  code: string;
  /** Which processor counter counts it. */
  counter: "invalid" | "handlerErrors";
}

const CASES: BadCase[] = [
  { title: "not JSON", bytes: Buffer.from("hello {", "utf8"), code: "NOT_JSON", counter: "invalid" },
  { title: "JSON array", bytes: json([1, 2, 3]), code: "NOT_OBJECT", counter: "invalid" },
  { title: "JSON number", bytes: json(42), code: "NOT_OBJECT", counter: "invalid" },
  { title: "JSON string", bytes: json("just text"), code: "NOT_OBJECT", counter: "invalid" },
  { title: "missing keys", bytes: json({ type: "command", name: "good" }), code: "MISSING_KEY", counter: "invalid" },
  { title: "wrong types (name: 5)", bytes: json({ ...validBody("good"), name: 5 }), code: "INVALID_KEY", counter: "invalid" },
  { title: "unknown category", bytes: json({ ...validBody("good"), category: "broadcast" }), code: "UNKNOWN_CATEGORY", counter: "invalid" },
  {
    title: "unknown result type",
    bytes: json({ ...validBody("good"), type: "result", content: { type: "maybe", value: 1, message: "" } }),
    code: "UNKNOWN_RESULT_TYPE",
    counter: "invalid",
  },
  // A whole message hidden behind "__proto__": own keys only count, so it is missing its keys.
  { title: "message under __proto__", bytes: Buffer.from(`{"__proto__": ${JSON.stringify(validBody("good"))}}`, "utf8"), code: "MISSING_KEY", counter: "invalid" },
  { title: "empty body", bytes: new Uint8Array(0), code: "EMPTY", counter: "invalid" },
  { title: "invalid UTF-8", bytes: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), code: "NOT_UTF8", counter: "invalid" },
  { title: "content encoding gzip", bytes: json(validBody("good")), properties: { contentEncoding: "gzip" }, code: "UNSUPPORTED_ENCODING", counter: "invalid" },
  { title: "content type text/plain", bytes: json(validBody("good")), properties: { contentType: "text/plain" }, code: "UNSUPPORTED_CONTENT_TYPE", counter: "invalid" },
  { title: `body over ${MAX_BYTES} bytes`, bytes: json(validBody("good", { pad: "x".repeat(MAX_BYTES) })), code: "TOO_LARGE", counter: "invalid" },
  { title: "handler always throws", bytes: json(validBody("explode")), code: "HANDLER_ERROR", counter: "handlerErrors" },
];

describe("bad input on a processor's queue (main broker, random names)", () => {
  let broker: Broker;
  let raw: DriverPublisher;
  let deadLetters: DriverConsumer;
  const dead: Delivery[] = [];
  const good: number[] = [];
  let explosions = 0;
  const exchange = defineExchange({ name: randomName("bad-input-ex"), type: "direct", durable: false, autoDelete: true });
  const queue = randomName("bad-input-q");
  let processor: MessageProcessor;
  let running: Promise<unknown>;
  const log: string[] = [];
  const rows: Array<[string, string, string, string]> = [];

  beforeAll(async () => {
    broker = connect({ url: MAIN_URL, shared: false });
    await broker.ready();
    // The processor dead-letters to the shared fanout exchange: a private queue of ours gets a copy of each.
    await broker.declareExchange(defineExchange({ name: DEFAULT_DEAD_LETTER_EXCHANGE, type: "fanout", durable: true }));
    deadLetters = broker.driver.createConsumer(
      { queue: { name: "", exclusive: true, autoDelete: true }, bindings: [{ exchange: DEFAULT_DEAD_LETTER_EXCHANGE, routingKey: "" }] },
      (delivery) => {
        if (delivery.properties.headers?.[DEAD_LETTER_HEADERS.exchange] === exchange.name) dead.push(delivery);
        return "ack";
      },
    );
    await deadLetters.ready;
    processor = new MessageProcessor({
      fingerprint: { name: "bad-input-receiver" },
      bindings: [[exchange, [[{ name: queue, autoDelete: true }, "in"]]]],
      maxBytes: MAX_BYTES,
      handlers: [
        messageHandler("command", "good", (content) => {
          good.push((content.parameters as { n: number }).n);
        }),
        messageHandler("command", "explode", () => {
          explosions += 1;
          throw new Error("this handler always throws");
        }),
      ],
    });
    const scheduler = new Scheduler({ broker, handleSignals: false, log: (line) => log.push(line) });
    scheduler.add(processor);
    running = scheduler.run();
    await eventually(() => processor.state === "running", "the processor to run");
    raw = broker.driver.createPublisher({ confirm: true });
  });

  afterAll(async () => {
    console.log(`\nBad input, each followed by a good message\n${markdownTable(["input", "dead-lettered with x-postage-error", "x-postage-reason", "counter"], rows)}\n`);
    processor.quit();
    await settlesWithin(running, 20_000, "the scheduler");
    await raw.close();
    await deadLetters.close();
    await broker.close();
  });

  let n = 0;
  for (const badCase of CASES) {
    it(`${badCase.title}: dead-lettered with a reason, counted, and the next good message is handled`, async () => {
      const messageId = randomName("bad");
      const counterBefore = badCase.counter === "invalid" ? processor.countersView().invalid : processor.counters.handlerErrors;
      await raw.publish(exchange.name, "in", badCase.bytes, { contentType: "application/json", messageId, ...badCase.properties });
      n += 1;
      const marker = n;
      await raw.publish(exchange.name, "in", json(validBody("good", { n: marker })), { contentType: "application/json" });

      await eventually(() => good.includes(marker), "the good message after it");
      await eventually(() => dead.some((d) => d.properties.messageId === messageId), "the dead-lettered copy");
      const copy = dead.find((d) => d.properties.messageId === messageId)!;
      const headers = copy.properties.headers ?? {};
      expect(headers[DEAD_LETTER_HEADERS.error]).toBe(badCase.code);
      expect(String(headers[DEAD_LETTER_HEADERS.reason]).length).toBeGreaterThan(5);
      expect(headers[DEAD_LETTER_HEADERS.routingKey]).toBe("in");
      expect(Buffer.from(copy.body).equals(Buffer.from(badCase.bytes))).toBe(true);
      const counterAfter = badCase.counter === "invalid" ? processor.countersView().invalid : processor.counters.handlerErrors;
      expect(counterAfter).toBe(counterBefore + 1);
      expect(processor.state).toBe("running");
      rows.push([badCase.title, badCase.code, String(headers[DEAD_LETTER_HEADERS.reason]).replaceAll("|", "/").slice(0, 90), `${badCase.counter} +1`]);
    });
  }

  it("nothing loops: the throwing handler ran once, and exactly one copy of each bad message was dead-lettered", async () => {
    await sleep(300);
    expect(explosions).toBe(1);
    expect(dead.length).toBe(CASES.length);
    expect(new Set(dead.map((d) => d.properties.messageId)).size).toBe(CASES.length);
  });

  it("__proto__ and constructor keys inside a valid message are plain data: handled, nothing polluted", async () => {
    const hostile = `{"type":"command","name":"good","category":"message","version":"2","fingerprint":{},"_reserved":{},"content":{"parameters":{"n":-1,"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}},"__proto__":{"polluted":true}}}`;
    await raw.publish(exchange.name, "in", Buffer.from(hostile, "utf8"), { contentType: "application/json" });
    await eventually(() => good.includes(-1), "the hostile-but-valid message to be handled");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(processor.state).toBe("running");
    rows.push(["__proto__/constructor keys in a valid message", "(handled as data)", "-", "handled +1"]);
  });
});

describe("a poison message that kills its consumer mid-handler (quorum queue, x-delivery-limit + DLX)", () => {
  it("is redelivered a bounded number of times, then dead-lettered by the broker; the next message is handled", async () => {
    const connectionName = randomName("poison-conn");
    const broker = connect({ url: MAIN_URL, shared: false, connectionName });
    const observer = connect({ url: MAIN_URL, shared: false });
    const exchange = defineExchange({ name: randomName("poison-ex"), type: "direct", durable: false, autoDelete: true });
    const dlx = defineExchange({ name: randomName("poison-dlx"), type: "fanout", durable: false, autoDelete: true });
    const queue = randomName("poison-q");
    const deliveryLimit = 2;
    await observer.declareExchange(dlx);
    const parked: Delivery[] = [];
    const parking = observer.driver.createConsumer({ queue: { name: "", exclusive: true, autoDelete: true }, exchanges: [dlx], bindings: [{ exchange: dlx.name, routingKey: "" }] }, (delivery) => {
      parked.push(delivery);
      return "ack";
    });
    await parking.ready;
    let poisonRuns = 0;
    const handledAfter: number[] = [];
    const processor = new MessageProcessor({
      fingerprint: { name: "poison-receiver" },
      bindings: [[exchange, [[{ name: queue, durable: true, arguments: { "x-queue-type": "quorum", "x-delivery-limit": deliveryLimit, "x-dead-letter-exchange": dlx.name } }, "in"]]]],
      handlers: [
        messageHandler("command", "poison", async () => {
          poisonRuns += 1;
          // The process "dies" before it can ack or dead-letter: its connection goes away under it.
          // a consumer process dying mid-handler
          await forceCloseConnection(connectionName, "simulated crash");
        }),
        messageHandler("command", "good", (content) => {
          handledAfter.push((content.parameters as { n: number }).n);
        }),
      ],
    });
    const log: string[] = [];
    const scheduler = new Scheduler({ broker, handleSignals: false, log: (line) => log.push(line) });
    scheduler.add(processor);
    const running = scheduler.run();
    try {
      await eventually(() => processor.state === "running", "the processor to run");
      const raw = observer.driver.createPublisher({ confirm: true });
      await raw.publish(exchange.name, "in", json(validBody("poison")), { contentType: "application/json", messageId: "poison-1", persistent: true });
      await eventually(() => parked.length === 1, "the broker to dead-letter the poison message", 45_000);
      await raw.publish(exchange.name, "in", json(validBody("good", { n: 1 })), { contentType: "application/json" });
      await eventually(() => handledAfter.includes(1), "the next message to be handled", 30_000);
      // One first delivery plus `deliveryLimit` redeliveries, then the broker gave up on it.
      expect(poisonRuns).toBe(deliveryLimit + 1);
      expect(parked[0]?.properties.messageId).toBe("poison-1");
      const death = JSON.stringify(parked[0]?.properties.headers ?? {});
      expect(death).toContain("delivery_limit");
      console.log(`poison message: ${poisonRuns} deliveries, then dead-lettered by the broker (${death.slice(0, 160)})`);
      await raw.close();
    } finally {
      processor.quit();
      await settlesWithin(running, 30_000, "the scheduler");
      await observer.driver.deleteQueue(queue).catch(() => undefined);
      await parking.close();
      await broker.close();
      await observer.close();
    }
  }, 90_000);
});
