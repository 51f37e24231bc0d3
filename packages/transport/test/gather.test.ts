import { defineExchange, ErrorResult, SuccessResult } from "@postage/core";
import { type Broker, connect, createConsumer, createProducer, type HandlerOutcome, TransportError } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { brokerPerTest, RABBIT_URL, randomName } from "./helpers.js";

const brokers: Array<[string, () => Broker]> = [
  ["memory", () => connect({ url: `memory://${randomName("gather")}`, shared: false })],
];
if (process.env.POSTAGE_SKIP_RABBIT !== "1") brokers.push(["rabbitmq", () => connect({ url: RABBIT_URL, heartbeat: 0, shared: false })]);

// A gather's timeout counts from the call: it covers declaring the reply queue and publishing too,
// which took more than 200-400 ms on a loaded 2-core machine (RabbitMQ). A test that needs every
// reply, or the publish's own outcome, either stops at a limit (it ends with the last reply) or
// gives the gather a window that holds that work; none of them asserts on time.
const WINDOW = 2_000;

describe.each(brokers)("producer.gather on %s", (_label, open) => {
  const { cleanup, use } = brokerPerTest();

  /** Three servers on one fan-out key (each its own queue), answering with their index. */
  async function fleet(count: number) {
    const b = use(open());
    const exchange = defineExchange({ name: cleanup.exchange(randomName("gather-x")), type: "direct", durable: false, autoDelete: true });
    const key = "everyone";
    for (let i = 0; i < count; i++) {
      const consumer = createConsumer(b, { bindings: [[exchange, [["", key]]]] }, async ({ message, reply }): Promise<HandlerOutcome> => {
        if (reply) await reply(message.name === "fail" ? new ErrorResult(`server ${i} refuses`) : new SuccessResult({ server: i, parameters: message.content.parameters }));
        return "ack";
      });
      await consumer.ready();
    }
    return { broker: b, exchange, key };
  }

  it("collects one reply per server until the timeout", async () => {
    const { broker: b, exchange, key } = await fleet(3);
    const producer = createProducer(b, { exchanges: [[exchange, key]] });
    const replies = await producer.gather("ping", { n: 1 }, { timeout: WINDOW });
    expect(replies).toHaveLength(3);
    expect(replies.map((r) => (r.value as { server: number }).server).sort()).toEqual([0, 1, 2]);
    for (const reply of replies) {
      expect(reply).toBeInstanceOf(SuccessResult);
      expect((reply.value as { parameters: unknown }).parameters).toEqual({ n: 1 });
    }
  });

  it("stops at the limit, and returns error results as they came", async () => {
    const { broker: b, exchange, key } = await fleet(3);
    const producer = createProducer(b, { exchanges: [[exchange, key]] });
    const started = Date.now();
    const first = await producer.gather("ping", {}, { timeout: 20_000, limit: 1 });
    expect(first).toHaveLength(1);
    // The limit ended it, not the 20 s timeout.
    expect(Date.now() - started).toBeLessThan(15_000);
    // Ends with the third reply (there are three servers), not at a fixed time.
    const failures = await producer.to({ timeout: 20_000 }).gather("fail", undefined, { limit: 3 });
    expect(failures).toHaveLength(3);
    expect(failures.every((r) => r instanceof ErrorResult && !r.ok)).toBe(true);
  });

  it("returns an empty array when nobody answers, and fails when nobody is bound", async () => {
    const { broker: b, exchange } = await fleet(0);
    const silent = defineExchange({ name: exchange.name, type: "direct", durable: false, autoDelete: true });
    // A queue that never answers: bound, but consumed by nobody who replies.
    const mute = createConsumer(b, { bindings: [[silent, [["", "mute"]]]] }, () => "ack");
    await mute.ready();
    const producer = createProducer(b, { exchanges: [[silent, "mute"]] });
    expect(await producer.gather("ping", {}, { timeout: WINDOW })).toEqual([]);
    const error = await producer
      .to({ key: "nobody-here" })
      // The broker's return ends it as soon as it comes back: the timeout only has to outlast the publish.
      .gather("ping", {}, { timeout: 20_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe("UNROUTABLE");
  });

  it("ends early on abort with what it has", async () => {
    const { broker: b, exchange, key } = await fleet(2);
    const producer = createProducer(b, { exchanges: [[exchange, key]] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const replies = await producer.gather("ping", {}, { timeout: 30_000, signal: controller.signal });
    expect(replies).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
