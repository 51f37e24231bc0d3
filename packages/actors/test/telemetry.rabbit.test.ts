import { readFileSync } from "node:fs";
import { SpanKind } from "@opentelemetry/api";
import { defineExchange } from "@postage/core";
import { type Broker, connect, createProducer } from "@postage/transport";
import { connect as amqpConnect, type ConsumeMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parentOf, registerInMemoryTracing, type InMemoryTracing } from "../../transport/test/inMemoryTracing.js";
import { eventually } from "./helpers.js";
import { Scrape } from "./scrape.js";
import { TelemetryServer } from "./telemetryServer.js";

// The server runs in a child process from the built packages, with the OpenTelemetry SDK of its
// own (it prints its finished spans); with POSTAGE_METRICS_PORT set it serves /metrics. This
// process is the caller, with the SDK registered too.
const url = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const skip = process.env.POSTAGE_SKIP_RABBIT === "1";

interface RemoteSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes?: Record<string, unknown> }>;
}

const suffix = Math.random().toString(36).slice(2, 8);
const exchange = defineExchange({ name: `test.traced.${suffix}`, type: "direct", durable: false, autoDelete: true });
const routingKey = "traced";

describe.skipIf(skip)("a component's traces and metrics, in another process, on RabbitMQ", () => {
  let tracing: InMemoryTracing;
  let broker: Broker;
  let server: TelemetryServer;
  const remote = (): RemoteSpan[] => server.events.filter((event) => event.event === "span") as unknown as RemoteSpan[];

  beforeAll(async () => {
    server = await TelemetryServer.start(exchange.name, `test.traced.${suffix}.q`, routingKey, { POSTAGE_URL: url });
    tracing = registerInMemoryTracing();
    broker = connect({ url });
  });

  afterAll(async () => {
    await tracing?.close();
    await server?.stop();
    await broker?.close();
  });

  it("one RPC is one trace: the caller's client and send spans are the parents of the server's process, server and reply spans", async () => {
    const producer = createProducer(broker, { exchanges: [[exchange, routingKey]], commands: ["traced_echo"], rpc: { timeout: 10_000, retries: 0 } });
    const result = await producer.rpc.traced_echo({ n: 1 });
    expect(result.ok).toBe(true);
    expect(result.value).toEqual({ n: 1 });
    await eventually(() => tracing.spans().some((span) => span.kind === SpanKind.CLIENT), 5_000, "the client span");
    const client = tracing.spans().find((span) => span.kind === SpanKind.CLIENT)!;
    const traceId = client.spanContext().traceId;
    await eventually(() => remote().filter((span) => span.traceId === traceId).length >= 3, 10_000, "the server's spans");

    const send = tracing.spans().find((span) => span.kind === SpanKind.PRODUCER && span.spanContext().traceId === traceId)!;
    const inTrace = remote().filter((span) => span.traceId === traceId);
    const processSpan = inTrace.find((span) => span.kind === SpanKind.CONSUMER)!;
    const server = inTrace.find((span) => span.kind === SpanKind.SERVER)!;
    const reply = inTrace.find((span) => span.kind === SpanKind.PRODUCER)!;

    expect(client.name).toBe(`${exchange.name}/traced_echo`);
    expect(parentOf(send)).toBe(client.spanContext().spanId);
    expect(processSpan.name).toBe(`process ${exchange.name}`);
    expect(processSpan.parentSpanId).toBe(send.spanContext().spanId);
    expect(server.name).toBe(`${exchange.name}/traced_echo`);
    expect(server.parentSpanId).toBe(processSpan.spanId);
    expect(reply.parentSpanId).toBe(server.spanId);
    expect(processSpan.attributes).toMatchObject({
      "messaging.system": "rabbitmq",
      "messaging.destination.name": exchange.name,
      "messaging.rabbitmq.destination.routing_key": routingKey,
      "messaging.message.id": client.attributes["messaging.message.id"],
      "messaging.message.conversation_id": client.attributes["messaging.message.id"],
    });
    expect(reply.attributes).toMatchObject({ "messaging.destination.temporary": true, "messaging.destination.anonymous": true });
    // The caller's reply queue (replyMode "shared", the default).
    expect(String(reply.attributes["messaging.rabbitmq.destination.routing_key"])).toMatch(/^amq\.gen-/);
  });

  it("a Python Postage caller (no trace headers, no correlation id) still gets the reply it reads; the server's trace starts there", async () => {
    // The request exactly as Python Postage 1.2.1 (pika) sends it: content type and reply_to only.
    const wire = JSON.parse(readFileSync(new URL("../../transport/test/fixtures/postage-1.2.1-wire.json", import.meta.url), "utf8")) as {
      frames: Array<{ body_utf8: string }>;
    };
    const request = JSON.parse(wire.frames[1]!.body_utf8) as { name: string; content: { parameters: unknown } };
    request.name = "traced_echo";
    const python = await amqpConnect(url);
    try {
      const channel = await python.createChannel();
      const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
      const replied = new Promise<ConsumeMessage>((resolve) => {
        void channel.consume(queue, (message) => message && resolve(message), { noAck: true }); // deliberate: resolved through `replied`
      });
      const before = remote().length;
      channel.publish(exchange.name, routingKey, Buffer.from(JSON.stringify(request)), { contentType: "application/json", replyTo: queue });
      const reply = await replied;
      const body = JSON.parse(reply.content.toString("utf8")) as { type: string; content: { type: string; value: unknown } };
      expect(body.type).toBe("result");
      expect(body.content).toMatchObject({ type: "success", value: "RPC test message" });
      await eventually(() => remote().slice(before).some((span) => span.kind === SpanKind.CONSUMER), 10_000, "the server's process span");
      const processSpan = remote().slice(before).find((span) => span.kind === SpanKind.CONSUMER)!;
      expect(processSpan.parentSpanId).toBeUndefined();
      expect(processSpan.attributes["messaging.message.conversation_id"]).toBeUndefined();
    } finally {
      await python.close();
    }
  });
});

describe.skipIf(skip)("scraping a component's /metrics (POSTAGE_METRICS_PORT) on RabbitMQ", () => {
  let broker: Broker;
  let server: TelemetryServer;
  let metricsUrl = "";
  const metricsExchange = defineExchange({ name: `test.metered.${suffix}`, type: "direct", durable: false, autoDelete: true });

  beforeAll(async () => {
    server = await TelemetryServer.start(metricsExchange.name, `test.metered.${suffix}.q`, routingKey, {
      POSTAGE_URL: url,
      POSTAGE_METRICS_PORT: "0",
      POSTAGE_METRICS_HOST: "127.0.0.1",
    });
    metricsUrl = server.ready?.metricsUrl ?? "";
    broker = connect({ url });
  });

  afterAll(async () => {
    await server?.stop();
    await broker?.close();
  });

  it("counts handled, failed and unhandled deliveries, handler durations and dead letters by reason, parsed by a Prometheus parser", async () => {
    const producer = createProducer(broker, { exchanges: [[metricsExchange, routingKey]], commands: ["traced_echo"], rpc: { timeout: 10_000, retries: 0 } });
    for (let i = 0; i < 3; i += 1) expect((await producer.rpc.traced_echo(i)).ok).toBe(true);
    await producer.command("explode");
    await producer.command("nobody_handles_this");
    const raw = broker.driver.createPublisher({ confirm: true });
    await raw.publish(metricsExchange.name, routingKey, Buffer.from("hello {"), { contentType: "application/json" });
    await raw.close();

    const labels = { component: "traced_server", type: "service" };
    let scrape = await Scrape.from(metricsUrl);
    await eventually(
      async () => {
        scrape = await Scrape.from(metricsUrl);
        return scrape.value("postage_messages_processed_total", { ...labels, outcome: "unhandled" }) === 1 && scrape.value("postage_dead_lettered_total", { ...labels, reason: "NOT_JSON" }) === 1;
      },
      10_000,
      "the counts in the scrape",
    );
    expect(scrape.value("postage_messages_processed_total", { ...labels, outcome: "handled" })).toBe(3);
    expect(scrape.value("postage_messages_processed_total", { ...labels, outcome: "failed" })).toBe(1);
    expect(scrape.value("postage_dead_lettered_total", { ...labels, reason: "HANDLER_ERROR" })).toBe(1);
    expect(scrape.family("postage_messages_processed_total").type).toBe("COUNTER");
    const durations = scrape.family("postage_handler_duration_seconds");
    expect(durations.type).toBe("HISTOGRAM");
    // Handled and failed deliveries ran handlers (4); an unhandled one did not.
    expect(Number(durations.metrics[0]?.buckets?.["+Inf"])).toBe(4);
    expect(scrape.value("postage_mailbox_depth", labels)).toBe(0);
    expect(scrape.value("postage_actors", { ...labels, state: "running" })).toBe(1);
    expect(scrape.value("postage_broker_connected")).toBe(1);
    expect(scrape.family("process_resident_memory_bytes").type).toBe("GAUGE");
    // Bounded cardinality: Postage's families carry no label but these.
    const allowed = new Set(["component", "type", "outcome", "reason", "state", "le"]);
    for (const family of scrape.families.filter((f) => f.name.startsWith("postage_"))) {
      for (const sample of family.metrics) for (const key of Object.keys(sample.labels ?? {})) expect(allowed).toContain(key);
    }
  });
});
