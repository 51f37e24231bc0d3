import { defineExchange, Fingerprint } from "@postage/core";
import { connect, createConsumer, createProducer, DEAD_LETTER_HEADERS } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { MessageProcessor, messageHandler, Scheduler } from "../../src/index.js";
import { eventually, randomName } from "./support.js";

// A queue's own x-delivery-limit decides how often a failing message is tried, also under a
// processor that suppresses duplicates by message id: a retry is not a duplicate.
describe("a processor on a quorum queue with x-delivery-limit", () => {
  it("retries a failing handler up to the limit (duplicate suppression on), then dead-letters it once", async () => {
    const broker = connect({ url: `memory://${randomName("delivery-limit")}` });
    const exchange = defineExchange({ name: "limit-ex" });
    const dead: Array<Record<string, unknown> | undefined> = [];
    const watch = createConsumer(broker, { bindings: [[defineExchange({ name: "postage.dead-letter", type: "fanout" }), [["dl-watch", ""]]]], deadLetterExchange: false }, ({ delivery }) => {
      dead.push(delivery.properties.headers);
    });
    await watch.ready();
    let attempts = 0;
    const processor = new MessageProcessor({
      fingerprint: { name: "limit-receiver" },
      bindings: [[exchange, [[{ name: "limit-q", durable: true, arguments: { "x-queue-type": "quorum", "x-delivery-limit": 3 } }, "k"]]]],
      duplicates: { windowMs: 60_000 },
      handlers: [
        messageHandler("command", "flaky", () => {
          attempts += 1;
          throw new Error(`attempt ${attempts} failed`);
        }),
      ],
    });
    const scheduler = new Scheduler({ broker, handleSignals: false, log: () => undefined });
    scheduler.add(processor);
    const running = scheduler.run();
    await eventually(() => processor.state === "running", "the processor to run");
    const producer = createProducer(broker, { exchanges: [[exchange, "k"]], fingerprint: Fingerprint.collect({ name: "limit-sender" }) });
    await producer.command("flaky");
    await eventually(() => dead.length === 1, "the dead letter after the last attempt", 5_000);
    expect(attempts).toBe(4); // the first delivery and 3 redeliveries
    expect(processor.counters.duplicates).toBe(0);
    expect(String(dead[0]?.[DEAD_LETTER_HEADERS.reason])).toContain("Error: attempt 4 failed");
    processor.quit();
    await running;
    await producer.close();
    await watch.close();
    await broker.close();
  });
});
