import { CommandMessage, defineExchange, Fingerprint } from "@postage/core";
import {
  type Broker,
  connect,
  createConsumer,
  DEAD_LETTER_QUEUE,
  DEAD_LETTER_HEADERS,
  deadLetterQueueArguments,
  type Delivery,
  TransportError,
} from "@postage/transport";
import { describe, expect, it } from "vitest";
import { brokerPerTest, RABBIT_URL, randomName, rawCollect, utf8, waitFor } from "./helpers.js";

const brokers: Array<[string, () => Broker]> = [["memory", () => connect({ url: `memory://${randomName("dlq")}`, shared: false })]];
if (process.env.POSTAGE_SKIP_RABBIT !== "1") brokers.push(["rabbitmq", () => connect({ url: RABBIT_URL, heartbeat: 0, shared: false })]);

const body = (name: string): Uint8Array => Buffer.from(JSON.stringify(new CommandMessage(name, {}).stamp(Fingerprint.collect({ name: "dlq-test" }).toDict()).toBody()));

describe("the dead-letter queue's bounds", () => {
  it("default to 100,000 messages and 7 days, and take other values", () => {
    expect(DEAD_LETTER_QUEUE).toEqual({ name: "postage.dead-letter", durable: true, arguments: { "x-max-length": 100_000, "x-message-ttl": 604_800_000 } });
    expect(deadLetterQueueArguments({ maxLength: 10, messageTtlMs: 60_000 })).toEqual({ "x-max-length": 10, "x-message-ttl": 60_000 });
    expect(() => deadLetterQueueArguments({ maxLength: 0 })).toThrowError(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });
});

describe.each(brokers)("dead-lettering on %s", (_label, open) => {
  const { cleanup, use } = brokerPerTest();

  /** A work queue (given arguments) consumed by a handler that always throws, dead-lettering into a DLQ of its own. */
  async function failingWorker(queueArguments: Record<string, unknown> | undefined, options: { broker?: Broker; deadLetterQueue?: string; limits?: { maxLength: number } } = {}) {
    const b = use(options.broker ?? open());
    const exchange = defineExchange({ name: cleanup.exchange(randomName("dl-work-x")), type: "direct", durable: false });
    const deadLetterExchange = cleanup.exchange(randomName("dl-x"));
    const deadLetterQueue = cleanup.queue(options.deadLetterQueue ?? randomName("dl-q"));
    const queue = cleanup.queue(randomName("dl-work"));
    const seen: Delivery[] = [];
    const errors: unknown[] = [];
    const consumer = createConsumer(
      b,
      {
        bindings: [[exchange, [[{ name: queue, durable: true, ...(queueArguments ? { arguments: queueArguments } : {}) }, "work"]]]],
        deadLetterExchange,
        deadLetterQueue,
        ...(options.limits ? { deadLetterQueueLimits: options.limits } : {}),
        onError: (error) => errors.push(error),
      },
      ({ delivery }) => {
        seen.push(delivery);
        throw new Error("always fails");
      },
    );
    await consumer.ready();
    const publisher = b.driver.createPublisher({ confirm: true });
    const send = async (): Promise<void> => {
      await b.declareExchange(exchange);
      await publisher.publish(exchange.name, "work", body("job"), { contentType: "application/json", messageId: randomName("m"), persistent: true });
    };
    return { b, consumer, seen, errors, send, deadLetterQueue, close: () => publisher.close() };
  }

  it("declares its dead-letter queue bounded, with the limits given", async () => {
    const worker = await failingWorker(undefined, { limits: { maxLength: 50 } });
    await worker.send();
    await waitFor(() => worker.consumer.counters.deadLettered === 1, "the dead letter");
    // Declared with the bounds: the same declaration passes, one without them is refused.
    const bounded = { name: worker.deadLetterQueue, durable: true, arguments: deadLetterQueueArguments({ maxLength: 50 }) };
    await expect(worker.b.driver.declareQueue(bounded)).resolves.toMatchObject({ messageCount: 1 });
    await expect(worker.b.driver.declareQueue({ name: worker.deadLetterQueue, durable: true })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await worker.close();
  });

  it("uses an existing unbounded dead-letter queue as it is, with one warning, and keeps consuming", async () => {
    const existing = randomName("dl-old");
    const b = use(open());
    // What an older version left on the broker: the same durable queue, without arguments.
    await b.driver.declareQueue({ name: existing, durable: true });
    const worker = await failingWorker(undefined, { broker: b, deadLetterQueue: existing });
    await worker.send();
    await worker.send();
    await waitFor(() => worker.consumer.counters.deadLettered === 2, "both dead letters");
    expect((await worker.b.driver.declareQueue({ name: existing, passive: true })).messageCount).toBe(2);
    const warnings = worker.errors.filter((e): e is TransportError => e instanceof TransportError);
    expect(warnings.map((e) => e.code)).toEqual(["PRECONDITION_FAILED"]);
    expect(warnings[0]?.message).toMatch(/already exists with other arguments.*set_policy/);
    await worker.close();
  });

  it("rejects to the queue's own dead-letter exchange instead of copying to the consumer's", async () => {
    const b = use(open());
    const ownDlx = defineExchange({ name: cleanup.exchange(randomName("own-dlx")), type: "fanout", durable: false });
    await b.declareExchange(ownDlx);
    const parked = cleanup.queue(randomName("own-dlq"));
    await b.driver.declareQueue({ name: parked, durable: true });
    await b.driver.bindQueue({ exchange: ownDlx.name, queue: parked, routingKey: "" });
    const worker = await failingWorker({ "x-dead-letter-exchange": ownDlx.name }, { broker: b });
    const collector = rawCollect(worker.b, parked);
    await collector.ready;
    await worker.send();
    await waitFor(() => collector.deliveries.length === 1, "the message in the queue's own dead-letter queue");
    expect(JSON.stringify(collector.deliveries[0]?.properties.headers?.["x-death"])).toContain("rejected");
    expect((await worker.b.driver.declareQueue({ name: worker.deadLetterQueue, passive: true }).catch(() => ({ messageCount: 0 }))).messageCount).toBe(0);
    expect(worker.consumer.counters.deadLettered).toBe(1);
    await collector.close();
    await worker.close();
  });

  it("retries a failing handler up to a quorum queue's x-delivery-limit, then copies the last delivery (no DLX: the broker would drop it)", async () => {
    const worker = await failingWorker({ "x-queue-type": "quorum", "x-delivery-limit": 2 });
    await worker.send();
    await waitFor(() => worker.consumer.counters.deadLettered === 1, "the dead letter after the retries", 20_000);
    expect(worker.seen.map((d) => d.properties.headers?.["x-delivery-count"])).toEqual([undefined, 1, 2]);
    expect(worker.consumer.counters.retried).toBe(2);
    const collector = rawCollect(worker.b, worker.deadLetterQueue);
    await collector.ready;
    await waitFor(() => collector.deliveries.length === 1, "the copy");
    expect(collector.deliveries[0]?.properties.headers?.[DEAD_LETTER_HEADERS.error]).toBe("HANDLER_ERROR");
    expect(utf8(collector.deliveries[0]?.body ?? new Uint8Array())).toContain('"job"');
    await collector.close();
    await worker.close();
  });
});
