import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { SpanKind } from "@opentelemetry/api";
import { defineExchange } from "@postage/core";
import { type Broker, connect, createProducer } from "@postage/transport";
import { connect as amqpConnect, type ConsumeMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parentOf, registerInMemoryTracing, type InMemoryTracing } from "../../transport/test/inMemoryTracing.js";
import { eventually } from "./helpers.js";

// The server runs in a child process from the built packages, with the OpenTelemetry SDK of its
// own; it prints its finished spans. This process is the caller, with the SDK registered too.
const url = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const script = new URL("./fixtures/traced-server.mjs", import.meta.url).pathname;
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

describe.skipIf(skip)("OpenTelemetry traces across two processes on RabbitMQ", () => {
  let tracing: InMemoryTracing;
  let broker: Broker;
  let child: ChildProcessWithoutNullStreams;
  const remote: RemoteSpan[] = [];
  let ready = false;
  let stderr = "";

  beforeAll(async () => {
    if (!existsSync(new URL("../dist/index.js", import.meta.url))) {
      const built = spawnSync("npx", ["tsc", "--build"], { cwd: new URL("../../..", import.meta.url).pathname, stdio: "inherit" });
      if (built.status !== 0) throw new Error("building the packages for the child process failed");
    }
    child = spawn(process.execPath, [script, exchange.name, `test.traced.${suffix}.q`, routingKey], { env: { ...process.env, POSTAGE_URL: url } });
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (!line.startsWith("{")) continue;
        const event = JSON.parse(line) as { event: string } & RemoteSpan;
        if (event.event === "ready") ready = true;
        if (event.event === "span") remote.push(event);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    await eventually(() => ready, 30_000, `the traced server (stderr: ${stderr})`);
    tracing = registerInMemoryTracing();
    broker = connect({ url });
  });

  afterAll(async () => {
    await tracing?.close();
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
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
    await eventually(() => remote.filter((span) => span.traceId === traceId).length >= 3, 10_000, "the server's spans");

    const send = tracing.spans().find((span) => span.kind === SpanKind.PRODUCER && span.spanContext().traceId === traceId)!;
    const inTrace = remote.filter((span) => span.traceId === traceId);
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
    expect(String(reply.attributes["messaging.rabbitmq.destination.routing_key"])).toMatch(/^amq\.rabbitmq\.reply-to\./);
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
      const before = remote.length;
      channel.publish(exchange.name, routingKey, Buffer.from(JSON.stringify(request)), { contentType: "application/json", replyTo: queue });
      const reply = await replied;
      const body = JSON.parse(reply.content.toString("utf8")) as { type: string; content: { type: string; value: unknown } };
      expect(body.type).toBe("result");
      expect(body.content).toMatchObject({ type: "success", value: "RPC test message" });
      await eventually(() => remote.slice(before).some((span) => span.kind === SpanKind.CONSUMER), 10_000, "the server's process span");
      const processSpan = remote.slice(before).find((span) => span.kind === SpanKind.CONSUMER)!;
      expect(processSpan.parentSpanId).toBeUndefined();
      expect(processSpan.attributes["messaging.message.conversation_id"]).toBeUndefined();
    } finally {
      await python.close();
    }
  });
});
