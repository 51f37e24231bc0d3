import { defineExchange } from "@postage/core";
import { createProducer, type Broker } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { inspectExchange, type InspectionEvent, MessageProcessor, messageHandler, Scheduler } from "@postage/actors";
import { eventually, memoryBroker } from "./helpers.js";

let broker: Broker;
beforeEach(() => {
  broker = memoryBroker();
});
afterEach(async () => {
  await broker.close();
});

/** Listens to the inspection exchange as an inspector in another process would. */
async function listen(): Promise<{ events: InspectionEvent[]; close: () => Promise<void> }> {
  const events: InspectionEvent[] = [];
  await broker.declareExchange(inspectExchange);
  const { queue } = await broker.driver.declareQueue({ name: "", exclusive: true, autoDelete: true });
  await broker.driver.bindQueue({ exchange: inspectExchange.name, queue, routingKey: "#" });
  const consumer = broker.driver.createConsumer({ queue: { name: queue, exclusive: true, autoDelete: true, passive: true } }, (delivery) => {
    events.push(JSON.parse(new TextDecoder().decode(delivery.body)) as InspectionEvent);
    return "ack";
  });
  await consumer.ready;
  return { events, close: () => consumer.close() };
}

describe("inspection publishing", () => {
  it("publishes announcements with heartbeats, transitions and rate-limited message events", async () => {
    const inspector = await listen();
    const exchange = defineExchange({ name: "work" });
    const scheduler = new Scheduler({ broker, handleSignals: false, inspect: { maxMessageEventsPerSecond: 10 }, inspectionHeartbeatMs: 50 });
    const processor = scheduler.add(
      new MessageProcessor({ fingerprint: { name: "watched" }, bindings: [[exchange, [["work-q", "w"]]]], handlers: [messageHandler("command", "job", () => undefined)] }),
    );
    await eventually(() => processor.state === "running");
    const producer = createProducer(broker, { exchanges: [[exchange, "w"]] });
    for (let i = 0; i < 50; i += 1) await producer.command("job", i);
    await eventually(() => processor.counters.handled === 50);
    const announcements = () => inspector.events.filter((event) => event.kind === "actor" && event.actorId === processor.id);
    const before = announcements().length;
    await eventually(() => announcements().length >= before + 2, 5_000, "two heartbeats");
    processor.quit();
    await scheduler.run();
    await eventually(() => inspector.events.some((event) => event.kind === "stopped"));
    const messages = inspector.events.filter((event) => event.kind === "message");
    // 50 received + 50 acked were emitted; the limit lets about 10 a second through.
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.length).toBeLessThan(100);
    expect(announcements()[0]).toMatchObject({ fingerprint: { name: "watched" }, heartbeatMs: 50, machine: { id: "postage-actor" } });
    expect(inspector.events.filter((event) => event.kind === "transition").map((event) => event.kind === "transition" && event.to)).toContain("stopped");
    await inspector.close();
  });

  it("publishes nothing when not enabled", async () => {
    const inspector = await listen();
    const scheduler = new Scheduler({ broker, handleSignals: false, inspect: false });
    const processor = scheduler.add(new MessageProcessor({ bindings: [] }));
    await eventually(() => processor.state === "running");
    processor.quit();
    await scheduler.run();
    expect(inspector.events).toEqual([]);
    await inspector.close();
  });
});
