import { defineExchange } from "@postage/core";
import { afterEach, describe, expect, it } from "vitest";
import { resolveConnectionSettings, RabbitDriver, type Delivery, type DriverConsumer } from "@postage/transport";
import { RABBIT_URL, randomName, waitFor } from "./helpers.js";

// More consumers than one connection may open channels for (RabbitMQ's channel_max: 2,047).
const CONSUMERS = 2_100;

function openDriver(channelsPerConnection?: number): RabbitDriver {
  const settings = resolveConnectionSettings({ url: RABBIT_URL, connectionName: randomName("channel-limit") }, {});
  if (settings.transport !== "amqp") throw new Error("expected amqp settings");
  return new RabbitDriver(settings, { onError: (error) => errors.push(error), ...(channelsPerConnection === undefined ? {} : { channelsPerConnection }) });
}

const errors: unknown[] = [];
let driver: RabbitDriver | undefined;
afterEach(async () => {
  await driver?.close();
  driver = undefined;
  errors.length = 0;
});

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("RabbitDriver beyond one connection's channel limit", () => {
  it("runs more consumers than channel_max allows on one connection, each on its own queue", async () => {
    driver = openDriver();
    await driver.ready();
    const received = new Map<number, Delivery>();
    const consumers: DriverConsumer[] = [];
    for (let i = 0; i < CONSUMERS; i += 1) {
      consumers.push(
        driver.createConsumer({ queue: { name: "", exclusive: true, autoDelete: true }, prefetch: 1 }, (delivery) => {
          received.set(i, delivery);
          return "ack";
        }),
      );
    }
    // Without room for their channels they would never be ready: fail clearly instead of at the test timeout.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(consumers.map((c) => c.ready)),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not all ${CONSUMERS} consumers ready within 60 s (reported: ${String(errors[0])})`)), 60_000);
      }),
    ]).finally(() => clearTimeout(timer));

    // The last consumers sit on a connection opened for them: they receive, and a run-time binding
    // of their exclusive queue (only possible from the connection that declared it) works.
    const exchange = defineExchange({ name: randomName("channel-limit-x"), type: "direct", durable: false, autoDelete: true });
    await driver.declareExchange(exchange);
    const last = consumers[CONSUMERS - 1]!;
    await last.bind(exchange.name, "last");
    const publisher = driver.createPublisher({ confirm: true });
    await publisher.publish(exchange.name, "last", Buffer.from("to the last"), {});
    await publisher.publish("", consumers[0]!.queue, Buffer.from("to the first"), {});
    await waitFor(() => received.has(0) && received.has(CONSUMERS - 1), "deliveries to the first and the last consumer");
    expect(Buffer.from(received.get(CONSUMERS - 1)!.body).toString()).toBe("to the last");
    expect(Buffer.from(received.get(0)!.body).toString()).toBe("to the first");
    expect(received.size).toBe(2);
    expect(errors).toEqual([]);

    // Consumers closed free their places; close resolves with every connection closed.
    await Promise.all(consumers.slice(0, 100).map((c) => c.close()));
    await driver.close();
  }, 120_000);

  it("binds, checks and deletes an exclusive queue whose consumer is on another connection of the pool, from the driver", async () => {
    // As a GenericApplication does with its own queue when it quits: its consumer may sit on any connection.
    driver = openDriver(1);
    await driver.ready();
    const names = [randomName("pool-excl"), randomName("pool-excl")];
    const consumers = names.map((name) => driver!.createConsumer({ queue: { name, exclusive: true }, prefetch: 1 }, () => "ack"));
    await Promise.all(consumers.map((consumer) => consumer.ready));
    expect(driver.patchStatus()).toHaveLength(2); // one long-lived channel per connection: the second consumer is on a connection of its own
    // Not auto-deleted: unbinding the first queue would take it away before the second is bound.
    const exchange = defineExchange({ name: randomName("pool-excl-x"), type: "direct", durable: false });
    await driver.declareExchange(exchange);
    for (const name of names) {
      await driver.bindQueue({ queue: name, exchange: exchange.name, routingKey: "k" });
      await driver.unbindQueue({ queue: name, exchange: exchange.name, routingKey: "k" });
      expect((await driver.declareQueue({ name, passive: true })).consumerCount).toBe(1);
    }
    await Promise.all(consumers.map((consumer) => consumer.close()));
    for (const name of names) {
      await driver.deleteQueue(name);
      await expect(driver.declareQueue({ name, passive: true })).rejects.toMatchObject({ code: "QUEUE_NOT_FOUND" });
    }
    await driver.deleteExchange(exchange.name);
    expect(errors).toEqual([]);
  });
});
