import { SpanKind } from "@opentelemetry/api";
import { defineExchange, SuccessResult } from "@postage/core";
import { type Broker, createConsumer, createProducer } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MessageProcessor, messageHandler, rpcHandler, Scheduler } from "@postage/actors";
import { registerInMemoryTracing, parentOf, type InMemoryTracing } from "../../transport/test/inMemoryTracing.js";
import { eventually, memoryBroker } from "./helpers.js";
import { Scrape } from "./scrape.js";

let broker: Broker;
const exchange = defineExchange({ name: "telemetry-exchange", type: "direct" });

beforeEach(() => {
  broker = memoryBroker();
});
afterEach(async () => {
  await broker.close();
});

describe("an actor's metrics", () => {
  it("count each outcome, handler durations, RPC calls it made and their timeouts, restarts and dead letters, served on /metrics", async () => {
    const scheduler = new Scheduler({ broker, handleSignals: false, log: () => undefined, metrics: { port: 0, host: "127.0.0.1", processMetrics: false } });
    const silent = createConsumer(broker, { bindings: [[exchange, [["silent-q", "silent"]]]] }, () => "ack");
    await silent.ready();
    const processor = scheduler.add(
      new MessageProcessor({
        fingerprint: { name: "metered", type: "worker" },
        bindings: [[exchange, [["metered-q", "metered"]]]],
        handlers: [
          messageHandler("command", "ok", () => undefined),
          messageHandler("command", "boom", () => {
            throw new Error("boom");
          }),
          messageHandler("command", "no", (_content, { reject }) => reject("not today")),
          rpcHandler<MessageProcessor>("command", "ask", async (_content, reply, { processor: self }) => {
            await self.producer.to({ eks: [[exchange, "silent"]], timeout: 20, retries: 0 }).call("anyone");
            await reply(new SuccessResult("asked"));
          }),
        ],
      }),
    );
    await eventually(() => processor.state === "running");
    const producer = createProducer(broker, { exchanges: [[exchange, "metered"]] });
    await producer.command("ok");
    await producer.command("ok");
    await producer.command("boom");
    await producer.command("no");
    await producer.command("unknown");
    await producer.call("ask");
    await producer.forward(new TextEncoder().encode("not json"));
    processor.restart("actor");
    await eventually(() => processor.state === "running" && processor.counters.received >= 6);

    const server = await scheduler.metricsServer!;
    const labels = { component: "metered", type: "worker" };
    let scrape = await Scrape.from(server.url);
    await eventually(async () => {
      scrape = await Scrape.from(server.url);
      return scrape.value("postage_dead_lettered_total", { ...labels, reason: "NOT_JSON" }) === 1;
    });
    expect(scrape.value("postage_messages_processed_total", { ...labels, outcome: "handled" })).toBe(3);
    expect(scrape.value("postage_messages_processed_total", { ...labels, outcome: "failed" })).toBe(1);
    expect(scrape.value("postage_messages_processed_total", { ...labels, outcome: "rejected" })).toBe(1);
    expect(scrape.value("postage_messages_processed_total", { ...labels, outcome: "unhandled" })).toBe(1);
    expect(scrape.value("postage_dead_lettered_total", { ...labels, reason: "HANDLER_ERROR" })).toBe(1);
    expect(scrape.value("postage_dead_lettered_total", { ...labels, reason: "REJECTED" })).toBe(1);
    expect(scrape.value("postage_rpc_client_timeouts_total", labels)).toBe(1);
    expect(scrape.value("postage_actor_restarts_total", labels)).toBe(1);
    expect(scrape.text).toMatch(/postage_handler_duration_seconds_count\{component="metered",type="worker"\} 5\n/);
    expect(scrape.text).toMatch(/postage_rpc_client_duration_seconds_count\{component="metered",type="worker",outcome="timeout"\} 1\n/);
    expect(scrape.value("postage_broker_connected")).toBe(1);
    await scheduler.close();
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it("count the pauses of an actor consuming without acks whose mailbox holds a full window", async () => {
    const scheduler = new Scheduler({ broker, handleSignals: false, log: () => undefined, metrics: { port: 0, host: "127.0.0.1", processMetrics: false } });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const processor = scheduler.add(
      new MessageProcessor({
        fingerprint: { name: "unacked", type: "worker" },
        noAck: true,
        prefetch: 3,
        bindings: [[exchange, [["unacked-q", "unacked"]]]],
        handlers: [messageHandler("command", "slow", () => gate)],
      }),
    );
    await eventually(() => processor.state === "running");
    const producer = createProducer(broker, { exchanges: [[exchange, "unacked"]] });
    for (let n = 0; n < 5; n += 1) await producer.command("slow", n);
    const server = await scheduler.metricsServer!;
    const labels = { component: "unacked", type: "worker" };
    await eventually(async () => (await Scrape.from(server.url)).value("postage_consumer_pauses_total", labels) === 1);
    release();
    await eventually(() => processor.counters.handled === 5);
    await scheduler.close();
  });

  it("are off without the option or POSTAGE_METRICS_PORT", () => {
    const scheduler = new Scheduler({ broker, handleSignals: false });
    expect(scheduler.metrics).toBeUndefined();
    expect(scheduler.metricsServer).toBeUndefined();
  });
});

describe("an actor's traces", () => {
  let tracing: InMemoryTracing;
  beforeEach(() => {
    tracing = registerInMemoryTracing();
  });
  afterEach(async () => {
    await tracing.close();
  });

  it("handlers run in the delivery's trace, and lifecycle transitions are events on its process span", async () => {
    const scheduler = new Scheduler({ broker, handleSignals: false });
    const processor = scheduler.add(
      new MessageProcessor({
        fingerprint: { name: "traced", type: "worker" },
        bindings: [[exchange, [["traced-q", "traced"]]]],
        handlers: [
          messageHandler<MessageProcessor>("command", "relay", async (_content, { processor: self }) => {
            await self.producer.to({ eks: [[exchange, "traced"]] }).command("relayed");
          }),
        ],
      }),
    );
    await eventually(() => processor.state === "running");
    const producer = createProducer(broker, { exchanges: [[exchange, "traced"]] });
    await producer.command("relay");
    await eventually(() => processor.counters.received === 2);
    await producer.command("restart", { mode: "actor" });
    await eventually(() => tracing.spans().filter((span) => span.kind === SpanKind.CONSUMER).length === 3);
    await eventually(() => processor.state === "running");
    await scheduler.close();

    const processes = tracing.spans().filter((span) => span.kind === SpanKind.CONSUMER);
    const relay = processes.find((span) => span.attributes["postage.message.name"] === "relay")!;
    const relayed = processes.find((span) => span.attributes["postage.message.name"] === "relayed")!;
    const restart = processes.find((span) => span.attributes["postage.message.name"] === "restart")!;
    // The handler's own publish is a child of the delivery it handled; the next delivery, of that publish.
    const relaySend = tracing.spans().find((span) => span.spanContext().spanId === parentOf(relayed))!;
    expect(parentOf(relaySend)).toBe(relay.spanContext().spanId);
    expect(restart.events.map((event) => [event.name, event.attributes])).toContainEqual([
      "postage.actor.transition",
      { "postage.actor.from": "running.settled", "postage.actor.to": "restarting", "postage.actor.event": "restart" },
    ]);
    expect(relay.events).toEqual([]);
  });
});
