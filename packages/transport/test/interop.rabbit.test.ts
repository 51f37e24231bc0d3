import { readFileSync } from "node:fs";
import { CommandMessage, defineExchange, Fingerprint, SuccessResult, type ExchangeDefinition } from "@postage/core";
import { connect, createConsumer, createProducer, type Broker, type HandlerOutcome, type Incoming } from "@postage/transport";
import { connect as amqpConnect, type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Cleanup, RABBIT_URL, randomName, waitFor } from "./helpers.js";

/**
 * Wire compatibility with Python Postage 1.2.1, played by a raw amqplib client that does exactly
 * what Postage 1.2.1 (pika) does (see fixtures/postage-1.2.1-wire.json): requests carry
 * `content_type` and `reply_to` (an exclusive, auto-delete, server-named queue per call) and no
 * correlation or message id; replies are published to the default exchange with no properties.
 */

interface WireFrame {
  exchange: string;
  routing_key: string;
  properties: Record<string, string>;
  body_utf8: string;
}
const wire = JSON.parse(readFileSync(new URL("./fixtures/postage-1.2.1-wire.json", import.meta.url), "utf8")) as { frames: WireFrame[] };
const frame = (index: number): WireFrame => {
  const found = wire.frames[index];
  if (found === undefined) throw new Error(`fixture frame ${index} is missing`);
  return found;
};
const commandFrame = frame(0);
const requestFrame = frame(1);
const replyFrame = frame(2);

/** The fingerprint Python's echo_send stamped in the fixture. */
const pythonFingerprint = new Fingerprint({ name: "echo_send", type: "application", pid: "4242", host: "node-a", user: "alice", vhost: "/" });

/** An RPC call as Python Postage 1.2.1 makes it: a new private reply queue, no correlation id. */
async function pythonRpcCall(channel: Channel, exchange: string, routingKey: string, body: string): Promise<ConsumeMessage> {
  const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
  const reply = new Promise<ConsumeMessage>((resolve) => {
    void channel.consume(queue, (message) => message && resolve(message), { noAck: true }); // deliberate: resolved through `reply`
  });
  channel.publish(exchange, routingKey, Buffer.from(body), { contentType: "application/json", replyTo: queue });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no reply within 10 s")), 10_000).unref());
  return Promise.race([reply, timeout]);
}

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("interop with Python Postage 1.2.1 (raw amqplib peer)", () => {
  let python: ChannelModel;
  let channel: Channel;
  let broker: Broker;
  let cleanup: Cleanup;
  let exchange: ExchangeDefinition;

  beforeAll(async () => {
    python = await amqpConnect(RABBIT_URL);
    python.on("error", () => undefined); // an unhandled 'error' would crash the run; failures show in the tests
  });

  afterAll(async () => {
    await python.close();
  });

  beforeEach(async () => {
    channel = await python.createChannel();
    broker = connect({ url: RABBIT_URL, heartbeat: 0 });
    await broker.ready();
    cleanup = new Cleanup();
    // Python Postage declares its exchanges durable and direct (e.g. capture-exchange in the fixture).
    exchange = defineExchange({ name: cleanup.exchange(randomName("py-ex")), type: "direct", durable: true });
    await channel.assertExchange(exchange.name, "direct", { durable: true, autoDelete: false });
  });

  afterEach(async () => {
    await channel.close();
    await cleanup.run(broker);
    await broker.close();
  });

  it("our consumer reads a fire-and-forget command exactly as Python sends it", async () => {
    const received: Incoming[] = [];
    const consumer = createConsumer(broker, { bindings: [[exchange, [[cleanup.queue(randomName("q")), "cap-rk"]]]] }, (incoming) => {
      received.push(incoming);
      return "ack";
    });
    await consumer.ready();
    channel.publish(exchange.name, commandFrame.routing_key, Buffer.from(commandFrame.body_utf8), { contentType: commandFrame.properties.content_type });
    await waitFor(() => received.length === 1, "the Python command");
    const message = received[0]?.message;
    expect(message).toBeInstanceOf(CommandMessage);
    expect(message?.name).toBe("echo");
    expect((message as CommandMessage).parameters).toBe("A test message");
    expect(message?.fingerprint).toEqual(pythonFingerprint.toDict());
    expect(received[0]?.reply).toBeUndefined();
  });

  it("our producer sends the body Python sends (same fingerprint), with content type application/json", async () => {
    const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, exchange.name, "cap-rk");
    const got = new Promise<ConsumeMessage>((resolve) => {
      void channel.consume(queue, (message) => message && resolve(message), { noAck: true }); // deliberate: resolved through `got`
    });
    const producer = createProducer(broker, { exchanges: [[exchange, "cap-rk"]], fingerprint: pythonFingerprint, commands: ["echo"] });
    await producer.message.echo("A test message");
    const message = await got;
    expect(JSON.parse(message.content.toString("utf8"))).toEqual(JSON.parse(commandFrame.body_utf8));
    expect(message.properties.contentType).toBe("application/json");
  });

  it("our RPC server answers a Python client: uncorrelated request in, a reply Python reads", async () => {
    const seen: Incoming[] = [];
    const consumer = createConsumer(broker, { bindings: [[exchange, [[cleanup.queue(randomName("rpc")), "cap-rk"]]]] }, async (incoming): Promise<HandlerOutcome> => {
      seen.push(incoming);
      await incoming.reply?.(new SuccessResult("RPC message received"));
      return "ack";
    });
    await consumer.ready();
    const reply = await pythonRpcCall(channel, exchange.name, requestFrame.routing_key, requestFrame.body_utf8);
    // The body is the one a Python Postage server sends.
    expect(JSON.parse(reply.content.toString("utf8"))).toEqual(JSON.parse(replyFrame.body_utf8));
    // Nothing Python does not send: no correlation id was given, none comes back.
    expect(reply.properties.correlationId).toBeUndefined();
    expect(reply.fields.exchange).toBe("");
    expect(seen[0]?.message.category).toBe("rpc");
    expect(seen[0]?.delivery.properties.correlationId).toBeUndefined();
    expect(seen[0]?.delivery.properties.replyTo).toMatch(/^amq\.gen-/);
  });

  describe("our RPC client calling a Python server (replies with no properties)", () => {
    let requests: ConsumeMessage[];

    beforeEach(async () => {
      requests = [];
      const queue = cleanup.queue(randomName("py-rpc"));
      await channel.assertQueue(queue, { durable: false });
      await channel.bindQueue(queue, exchange.name, "cap-rk");
      await channel.consume(queue, (message) => {
        if (message === null) return;
        requests.push(message);
        // Exactly what Postage's rpc_reply does: default exchange, reply_to as key, no properties.
        channel.sendToQueue(message.properties.replyTo as string, Buffer.from(replyFrame.body_utf8));
        channel.ack(message);
      });
    });

    it("in queue reply mode, like Python's own client", async () => {
      const producer = createProducer(broker, { exchanges: [[exchange, "cap-rk"]], rpc: { replyMode: "queue" }, commands: ["echo"] });
      const results = await Promise.all([producer.rpc.echo("one"), producer.rpc.echo("two"), producer.rpc.echo("three")]);
      for (const result of results) {
        expect(result).toBeInstanceOf(SuccessResult);
        expect(result.value).toBe("RPC message received");
      }
      expect(requests).toHaveLength(3);
      expect(requests.every((request) => /^amq\.gen-/.test(String(request.properties.replyTo)))).toBe(true);
      const body = JSON.parse(requests[0]?.content.toString("utf8") ?? "{}") as Record<string, unknown>;
      expect(body).toMatchObject({ type: "command", name: "echo", category: "rpc", version: "2" });
      expect(requests[0]?.properties.contentType).toBe("application/json");
    });

    // shared (the default) and direct match replies by correlation id, which Python servers do not echo.
    describe.each([
      ["shared", /^amq\.gen-/],
      ["direct", /^amq\.rabbitmq\.reply-to/],
    ] as const)("in %s mode", (replyMode, replyTo) => {
      it("one call at a time: an uncorrelated reply is unambiguous", async () => {
        const producer = createProducer(broker, { exchanges: [[exchange, "cap-rk"]], rpc: { replyMode }, commands: ["echo"] });
        const first = await producer.rpc.echo("one");
        const second = await producer.rpc.echo("two");
        expect([first.value, second.value]).toEqual(["RPC message received", "RPC message received"]);
        expect(String(requests[0]?.properties.replyTo)).toMatch(replyTo);
      });

      it("with two calls pending, uncorrelated replies are dropped, counted, and the calls time out", async () => {
        const producer = createProducer(broker, { exchanges: [[exchange, "cap-rk"]], rpc: { replyMode, timeout: 300, retries: 0 }, commands: ["echo"] });
        const results = await Promise.all([producer.rpc.echo("one"), producer.rpc.echo("two")]);
        expect(results.map((result) => result.value)).toEqual(["TimeoutError", "TimeoutError"]);
        expect(producer.stats.rpc.dropped).toBe(2);
      });
    });
  });
});
