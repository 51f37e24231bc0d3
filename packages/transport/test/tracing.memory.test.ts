import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { defineExchange, ExceptionResult, SuccessResult } from "@postage/core";
import { connect, createConsumer, createProducer, reject, type Broker, type HandlerOutcome, type Incoming, type RpcOutcome } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { waitFor } from "./helpers.js";
import { parentOf, registerInMemoryTracing, type InMemoryTracing } from "./inMemoryTracing.js";

const exchange = defineExchange({ name: "traced-exchange", type: "direct", durable: false });
let broker: Broker;
let counter = 0;

beforeEach(() => {
  counter += 1;
  broker = connect({ url: `memory://tracing-${counter}`, shared: false });
});
afterEach(async () => {
  await broker.close();
});

describe("without an OpenTelemetry SDK", () => {
  it("publishes no trace headers and gives handlers no trace", async () => {
    const seen: Incoming[] = [];
    const consumer = createConsumer(broker, { bindings: [[exchange, [["plain-q", "k"]]]] }, (incoming) => {
      seen.push(incoming);
    });
    await consumer.ready();
    await createProducer(broker, { exchanges: [[exchange, "k"]] }).command("hello", { a: 1 });
    await waitFor(() => seen.length === 1, "the delivery");
    expect(seen[0]!.trace).toBeUndefined();
    expect(seen[0]!.delivery.properties.headers?.traceparent).toBeUndefined();
  });
});

describe("with the OpenTelemetry SDK registered", () => {
  let tracing: InMemoryTracing;
  beforeEach(() => {
    tracing = registerInMemoryTracing();
  });
  afterEach(async () => {
    await tracing.close();
  });

  it("a command gives a send span (PRODUCER) and a process span (CONSUMER), linked by traceparent", async () => {
    const seen: Incoming[] = [];
    const consumer = createConsumer(broker, { bindings: [[exchange, [["traced-q", "traced-key"]]]] }, (incoming) => {
      seen.push(incoming);
    });
    await consumer.ready();
    const producer = createProducer(broker, { exchanges: [[exchange, "traced-key"]] });
    await producer.command("hello", { a: 1 });
    await waitFor(() => tracing.spans().some((span) => span.name === "process traced-exchange"), "the process span");

    const send = tracing.span("send traced-exchange");
    const processSpan = tracing.span("process traced-exchange");
    const messageId = seen[0]!.delivery.properties.messageId;
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toMatchObject({
      "messaging.system": "rabbitmq",
      "messaging.operation.name": "send",
      "messaging.operation.type": "send",
      "messaging.destination.name": "traced-exchange",
      "messaging.rabbitmq.destination.routing_key": "traced-key",
      "messaging.message.id": messageId,
    });
    expect(processSpan.kind).toBe(SpanKind.CONSUMER);
    expect(processSpan.attributes).toMatchObject({
      "messaging.system": "rabbitmq",
      "messaging.operation.type": "process",
      "messaging.destination.name": "traced-exchange",
      "messaging.rabbitmq.destination.routing_key": "traced-key",
      "messaging.message.id": messageId,
      "postage.message.type": "command",
      "postage.message.name": "hello",
      "postage.outcome": "ack",
    });
    expect(processSpan.spanContext().traceId).toBe(send.spanContext().traceId);
    expect(parentOf(processSpan)).toBe(send.spanContext().spanId);
    const traceparent = seen[0]!.delivery.properties.headers?.traceparent;
    expect(traceparent).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`);
    expect(seen[0]!.trace?.context).toBeDefined();
  });

  it("an RPC gives client, send, process, server and reply spans in one trace, the reply queue temporary and anonymous", async () => {
    const consumer = createConsumer(broker, { bindings: [[exchange, [["rpc-q", "rpc-key"]]]] }, async ({ reply }): Promise<HandlerOutcome> => {
      await reply?.(new SuccessResult("pong"));
    });
    await consumer.ready();
    const producer = createProducer(broker, { exchanges: [[exchange, "rpc-key"]], commands: ["ping"] });
    const result = await producer.rpc.ping({});
    expect(result.ok).toBe(true);
    await waitFor(() => tracing.spans().some((span) => span.name === "traced-exchange/ping" && span.kind === SpanKind.CLIENT), "the client span");
    await waitFor(() => tracing.spans().some((span) => span.name === "process traced-exchange"), "the process span");

    const spans = tracing.spans();
    const byKind = (name: string, kind: SpanKind) => {
      const found = spans.find((span) => span.name === name && span.kind === kind);
      if (found === undefined) throw new Error(`no ${SpanKind[kind]} span ${name}: ${spans.map((s) => `${s.name}/${SpanKind[s.kind]}`).join(", ")}`);
      return found;
    };
    const client = byKind("traced-exchange/ping", SpanKind.CLIENT);
    const send = byKind("send traced-exchange", SpanKind.PRODUCER);
    const processSpan = byKind("process traced-exchange", SpanKind.CONSUMER);
    const server = byKind("traced-exchange/ping", SpanKind.SERVER);
    const replySend = byKind("send amq.default", SpanKind.PRODUCER);
    const traceId = client.spanContext().traceId;
    for (const span of [send, processSpan, server, replySend]) expect(span.spanContext().traceId).toBe(traceId);
    expect(parentOf(send)).toBe(client.spanContext().spanId);
    expect(parentOf(processSpan)).toBe(send.spanContext().spanId);
    expect(parentOf(server)).toBe(processSpan.spanContext().spanId);
    expect(parentOf(replySend)).toBe(server.spanContext().spanId);
    expect(client.attributes).toMatchObject({ "rpc.system": "postage", "rpc.method": "ping", "messaging.destination.name": "traced-exchange", "postage.rpc.reply_mode": "shared" });
    expect(client.attributes["messaging.message.conversation_id"]).toBe(client.attributes["messaging.message.id"]);
    expect(processSpan.attributes["messaging.message.conversation_id"]).toBe(client.attributes["messaging.message.id"]);
    expect(replySend.attributes).toMatchObject({
      "messaging.destination.name": "",
      "messaging.destination.temporary": true,
      "messaging.destination.anonymous": true,
      "messaging.message.conversation_id": client.attributes["messaging.message.id"],
    });
    expect(client.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it("a handler that throws or rejects ends its process span in error with the dead-letter code", async () => {
    const consumer = createConsumer(broker, { bindings: [[exchange, [["bad-q", "bad"]]]] }, ({ message }): HandlerOutcome => {
      if (message.name === "explode") throw new Error("boom");
      return reject("not today", "NOT_TODAY");
    });
    await consumer.ready();
    const producer = createProducer(broker, { exchanges: [[exchange, "bad"]] });
    await producer.command("explode");
    await producer.command("refuse");
    await waitFor(() => tracing.spans().filter((span) => span.name === "process traced-exchange").length === 2, "two process spans");
    const [first, second] = tracing.spans().filter((span) => span.name === "process traced-exchange");
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(first!.attributes).toMatchObject({ "error.type": "HANDLER_ERROR", "postage.outcome": "dead-lettered" });
    expect(second!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "not today" });
    expect(second!.attributes).toMatchObject({ "error.type": "NOT_TODAY" });
  });

  it("a failed delivery retried under the queue's x-delivery-limit ends its span as retried, the last one as dead-lettered", async () => {
    const queue = { name: "limited-q", durable: true, arguments: { "x-queue-type": "quorum", "x-delivery-limit": 1 } };
    const consumer = createConsumer(broker, { bindings: [[exchange, [[queue, "limited"]]]] }, (): HandlerOutcome => {
      throw new Error("always");
    });
    await consumer.ready();
    await createProducer(broker, { exchanges: [[exchange, "limited"]] }).command("fail");
    await waitFor(() => tracing.spans().filter((span) => span.name === "process traced-exchange").length === 2, "two process spans");
    const outcomes = tracing.spans().filter((span) => span.name === "process traced-exchange").map((span) => [span.attributes["postage.outcome"], span.attributes["error.type"]]);
    expect(outcomes).toEqual([
      ["retried", "HANDLER_ERROR"],
      ["dead-lettered", "HANDLER_ERROR"],
    ]);
  });

  it("an RPC nobody answers ends its client span as a TimeoutError after each attempt's send span", async () => {
    const consumer = createConsumer(broker, { bindings: [[exchange, [["silent-q", "silent"]]]] }, () => "ack");
    await consumer.ready();
    const producer = createProducer(broker, { exchanges: [[exchange, "silent"]] });
    const result = await producer.to({ timeout: 50, retries: 1 }).call("ping");
    expect(result).toBeInstanceOf(ExceptionResult);
    await waitFor(() => tracing.spans().some((span) => span.kind === SpanKind.CLIENT), "the client span");
    const client = tracing.spans().find((span) => span.kind === SpanKind.CLIENT)!;
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
    expect(client.attributes["error.type"]).toBe("TimeoutError");
    const sends = tracing.spans().filter((span) => span.name === "send traced-exchange");
    expect(sends).toHaveLength(2);
    for (const send of sends) expect(parentOf(send)).toBe(client.spanContext().spanId);
  });

  it("spans started inside a handler (its own publishes) are children of the delivery's span", async () => {
    const forwarded = createProducer(broker, { exchanges: [[exchange, "second"]] });
    const first = createConsumer(broker, { bindings: [[exchange, [["first-q", "first"]]]] }, async (): Promise<HandlerOutcome> => {
      await forwarded.command("next");
    });
    const second = createConsumer(broker, { bindings: [[exchange, [["second-q", "second"]]]] }, () => "ack");
    await Promise.all([first.ready(), second.ready()]);
    await createProducer(broker, { exchanges: [[exchange, "first"]] }).command("start");
    await waitFor(() => tracing.spans().filter((span) => span.name === "process traced-exchange").length === 2, "both process spans");
    const processes = tracing.spans().filter((span) => span.name === "process traced-exchange");
    const outer = processes.find((span) => span.attributes["postage.message.name"] === "start")!;
    const inner = processes.find((span) => span.attributes["postage.message.name"] === "next")!;
    const innerSend = tracing.spans().find((span) => span.spanContext().spanId === parentOf(inner))!;
    expect(innerSend.name).toBe("send traced-exchange");
    expect(parentOf(innerSend)).toBe(outer.spanContext().spanId);
    expect(inner.spanContext().traceId).toBe(outer.spanContext().traceId);
  });
});

describe("observers (what metrics count)", () => {
  it("are told how RPC calls end and which codes dead-lettered messages got", async () => {
    const finished: Array<[number, RpcOutcome]> = [];
    const deadLettered: string[] = [];
    const consumer = createConsumer(
      broker,
      { bindings: [[exchange, [["observed-q", "observed"]]]], observer: { deadLettered: (code) => deadLettered.push(code) } },
      async ({ message, reply }): Promise<HandlerOutcome> => {
        if (message.name === "silent") return "ack";
        if (message.name === "refuse") return reject("no", "NOPE");
        await reply?.(new SuccessResult(1));
      },
    );
    await consumer.ready();
    const producer = createProducer(broker, { exchanges: [[exchange, "observed"]], observer: { rpcFinished: (seconds, outcome) => finished.push([seconds, outcome]) } });
    await producer.call("answer");
    await producer.to({ timeout: 30, retries: 0 }).call("silent");
    await producer.command("refuse");
    await waitFor(() => finished.length === 2 && deadLettered.length === 1, "the observer calls");
    expect(finished.map(([, outcome]) => outcome)).toEqual(["success", "timeout"]);
    for (const [seconds] of finished) expect(seconds).toBeGreaterThan(0);
    expect(deadLettered).toEqual(["NOPE"]);
  });
});
