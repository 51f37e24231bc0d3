import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { defineExchange } from "@postage/core";
import { afterEach, describe, expect, it } from "vitest";
import { type AmqpSettings, type ConnectionOptions, resolveConnectionSettings } from "../config/connectionSettings.js";
import type { Delivery, Disposition } from "../driver/BrokerDriver.js";
import { TransportError } from "../errors.js";
import { RabbitDriver, type RabbitDriverOptions } from "./RabbitDriver.js";

// Integration tests against the RabbitMQ at 127.0.0.1:5672 (guest/guest); POSTAGE_SKIP_RABBIT=1 skips them.
const BROKER = "amqp://guest:guest@127.0.0.1:5672";
const run = promisify(execFile);

function randomName(what: string): string {
  return `postage-test-${what}-${randomUUID().slice(0, 8)}`;
}

function settings(options: ConnectionOptions = {}): AmqpSettings {
  const resolved = resolveConnectionSettings({ url: BROKER, ...options }, {});
  if (resolved.transport !== "amqp") throw new Error("expected amqp settings");
  return resolved;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface TestDriver {
  driver: RabbitDriver;
  errors: TransportError[];
  /** When each error was reported (Date.now()). */
  errorTimes: number[];
  lines: string[];
  connectionName: string;
}

function openDriver(options: ConnectionOptions = {}, driverOptions: RabbitDriverOptions = {}): TestDriver {
  const errors: TransportError[] = [];
  const errorTimes: number[] = [];
  const lines: string[] = [];
  const connectionName = randomName("conn");
  const driver = new RabbitDriver(settings({ connectionName, ...options }), {
    onError: (e) => {
      errors.push(e);
      errorTimes.push(Date.now());
    },
    log: (line) => lines.push(line),
    ...driverOptions,
  });
  cleanups.push(() => driver.close());
  return { driver, errors, errorTimes, lines, connectionName };
}

async function failure(promise: Promise<unknown>): Promise<TransportError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TransportError) return err;
    throw err;
  }
  throw new Error("expected the promise to reject");
}

/** Polls `check` until it is true; fails after `timeout` ms. */
/** A consumer of a server-named queue that acks everything and keeps what it got. */
async function collectingConsumer(driver: RabbitDriver): Promise<{ consumer: ReturnType<RabbitDriver["createConsumer"]>; received: Delivery[] }> {
  const received: Delivery[] = [];
  const consumer = driver.createConsumer({ queue: { name: "", exclusive: true } }, (d) => {
    received.push(d);
    return "ack";
  });
  await consumer.ready;
  return { consumer, received };
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Force-closes, broker side, the connection named `connectionName` (what `rabbitmqctl
 * close_all_connections` does, limited to ours: other test files share the broker).
 */
async function forceClose(connectionName: string): Promise<number> {
  const { stdout } = await run("rabbitmqctl", ["list_connections", "-q", "--no-table-headers", "pid", "client_properties"]);
  const pids = stdout
    .split("\n")
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split("\t")[0] ?? "");
  for (const pid of pids) await run("rabbitmqctl", ["close_connection", pid, "postage test: forced close"]);
  return pids.length;
}

const text = (body: Uint8Array): string => Buffer.from(body).toString("utf8");
const bytes = (s: string): Uint8Array => Buffer.from(s, "utf8");

describe.skipIf(process.env["POSTAGE_SKIP_RABBIT"] === "1")("RabbitDriver against RabbitMQ", () => {
  describe("ready()", () => {
    it("resolves against the running broker", async () => {
      const { driver } = openDriver();
      await driver.ready();
      expect(driver.displayUrl).toBe("amqp://guest:***@127.0.0.1:5672/%2F");
    });

    it("rejects a wrong password with ACCESS_REFUSED naming user and vhost, never the password", async () => {
      const password = `wrong-${randomUUID()}`;
      const { driver } = openDriver({ user: "guest", password });
      const error = await failure(driver.ready({ timeout: 30_000 }));
      expect(error.code).toBe("ACCESS_REFUSED");
      expect(error.message).toContain('user "guest"');
      expect(error.message).toContain('vhost "/"');
      expect(error.message).toContain("127.0.0.1:5672");
      expect(error.user).toBe("guest");
      expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain(password);
      // It gave up: no retry loop left behind, later calls get the same error.
      expect(() => driver.createPublisher({ confirm: true })).toThrow(error);
    });

    it("without a timeout, rejects a closed port at once with CONNECTION_REFUSED naming host and port", async () => {
      const { driver } = openDriver({ url: "amqp://guest:guest@127.0.0.1:1" });
      const error = await failure(driver.ready());
      expect(error.code).toBe("CONNECTION_REFUSED");
      expect(error.message).toContain("127.0.0.1:1");
      expect([error.host, error.port]).toEqual(["127.0.0.1", 1]);
    });

    it("with a timeout, keeps trying a closed port until the timeout, then names the refusal", async () => {
      const { driver } = openDriver({ url: "amqp://guest:guest@127.0.0.1:1" }, { retryLow: 50, retryHigh: 100 });
      const error = await failure(driver.ready({ timeout: 1_000 }));
      expect(error.code).toBe("TIMEOUT");
      expect(error.message).toMatch(/within 1000 ms \(first error: cannot connect to RabbitMQ at 127\.0\.0\.1:1: connection refused/);
    });

    it("connects to the next node of a cluster when the first refuses", async () => {
      const { driver } = openDriver({ url: "amqp://guest:guest@127.0.0.1:1,127.0.0.1:5672" });
      await driver.ready({ timeout: 30_000 });
      const queue = (await driver.declareQueue({ name: "", exclusive: true })).queue;
      expect(queue).toMatch(/^amq\.gen-/);
    });

    it("gives a cluster until the timeout, then names every node", async () => {
      const { driver } = openDriver({ url: "amqp://guest:guest@127.0.0.1:1,127.0.0.1:2" });
      const error = await failure(driver.ready({ timeout: 1_500 }));
      expect(error.code).toBe("TIMEOUT");
      expect(error.message).toContain("127.0.0.1:1, 127.0.0.1:2");
      expect(error.message).toContain("connection refused");
    });

    it("rejects a missing vhost with VHOST_NOT_FOUND", async () => {
      const vhost = randomName("vhost");
      const error = await failure(openDriver({ vhost }).driver.ready());
      expect(error.code).toBe("VHOST_NOT_FOUND");
      expect(error.message).toContain(vhost);
    });
  });

  describe("declarations", () => {
    it("reports missing entities on a passive check, and the driver keeps working", async () => {
      const { driver } = openDriver();
      const exchange = randomName("ex");
      const missing = await failure(driver.declareExchange(defineExchange({ name: exchange, passive: true })));
      expect([missing.code, missing.exchange]).toEqual(["EXCHANGE_NOT_FOUND", exchange]);
      const queue = randomName("q");
      const noQueue = await failure(driver.declareQueue({ name: queue, passive: true }));
      expect([noQueue.code, noQueue.queue]).toEqual(["QUEUE_NOT_FOUND", queue]);

      await driver.declareExchange(defineExchange({ name: exchange, type: "topic", durable: false, autoDelete: false }));
      cleanups.push(() => driver.deleteExchange(exchange));
      const differs = await failure(driver.declareExchange(defineExchange({ name: exchange, type: "direct", durable: false })));
      expect(differs.code).toBe("PRECONDITION_FAILED");
      expect(differs.message).toContain(exchange);

      const declared = await driver.declareQueue({ name: "", exclusive: true });
      expect(declared.queue).toMatch(/^amq\.gen-/);
      expect(declared.messageCount).toBe(0);
    });
  });

  describe("publishing", () => {
    it("rejects a publish to a missing exchange with EXCHANGE_NOT_FOUND naming it, then publishes again", async () => {
      const { driver } = openDriver();
      const publisher = driver.createPublisher({ confirm: true });
      const exchange = randomName("missing");
      const error = await failure(publisher.publish(exchange, "key", bytes("x"), {}));
      expect(error.code).toBe("EXCHANGE_NOT_FOUND");
      expect(error.exchange).toBe(exchange);
      expect(error.message).toContain(`"${exchange}"`);

      const queue = (await driver.declareQueue({ name: "", exclusive: true })).queue;
      await publisher.publish("", queue, bytes("after"), {});
      expect((await driver.declareQueue({ name: queue, passive: true })).messageCount).toBe(1);
    });

    it("rejects an unroutable mandatory publish with UNROUTABLE, and only that one", async () => {
      const { driver } = openDriver();
      const exchange = randomName("ex");
      await driver.declareExchange(defineExchange({ name: exchange, durable: false, autoDelete: false }));
      cleanups.push(() => driver.deleteExchange(exchange));
      const queue = (await driver.declareQueue({ name: "", exclusive: true })).queue;
      await driver.bindQueue({ exchange, queue, routingKey: "bound" });
      const publisher = driver.createPublisher({ confirm: true });

      const results = await Promise.allSettled([
        publisher.publish(exchange, "bound", bytes("1"), { messageId: "a" }),
        publisher.publish(exchange, "nobody", bytes("2"), { messageId: "b" }),
        publisher.publish(exchange, "bound", bytes("3"), { messageId: "c" }),
        publisher.publish(exchange, "nobody", bytes("4"), { messageId: "d" }, { mandatory: false }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
      const rejected = results[1];
      if (rejected?.status !== "rejected" || !(rejected.reason instanceof TransportError)) throw new Error("expected a TransportError");
      expect([rejected.reason.code, rejected.reason.exchange, rejected.reason.routingKey]).toEqual(["UNROUTABLE", exchange, "nobody"]);
      expect((await driver.declareQueue({ name: queue, passive: true })).messageCount).toBe(2);
    });
    it("publishes bodies of many frames, and an empty body, intact (frames within the negotiated frame size)", async () => {
      const { driver, errors } = openDriver();
      const received: Delivery[] = [];
      const consumer = driver.createConsumer({ queue: { name: "", exclusive: true } }, (d) => {
        received.push(d);
        return "ack";
      });
      const queue = await consumer.ready.then(() => consumer.queue);
      const publisher = driver.createPublisher({ confirm: true });
      const big = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 31) % 256));
      const headers = { trace: "x".repeat(3000), n: 7 };
      await Promise.all([publisher.publish("", queue, big, { messageId: "big", headers }), publisher.publish("", queue, new Uint8Array(0), { messageId: "empty" })]);
      await waitFor(() => received.length === 2, "both messages");
      const byId = new Map(received.map((d) => [d.properties.messageId, d]));
      expect(Buffer.from(byId.get("big")?.body ?? []).equals(big)).toBe(true);
      expect(byId.get("big")?.properties.headers).toEqual(headers);
      expect(byId.get("empty")?.body.byteLength).toBe(0);
      expect(errors).toEqual([]);
    });

    it("fails only the publish to a missing exchange when others are in flight on the same channel", async () => {
      const { driver } = openDriver();
      const queue = (await driver.declareQueue({ name: "", exclusive: true })).queue;
      const publisher = driver.createPublisher({ confirm: true });
      await publisher.publish("", queue, bytes("warm-up"), {});
      const missing = randomName("missing");
      const results = await Promise.allSettled([
        ...Array.from({ length: 20 }, (_, i) => publisher.publish("", queue, bytes(`before-${i}`), { persistent: true })),
        publisher.publish(missing, "key", bytes("lost"), {}),
        ...Array.from({ length: 20 }, (_, i) => publisher.publish("", queue, bytes(`after-${i}`), { persistent: true })),
      ]);
      const failed = results.flatMap((r, i) => (r.status === "rejected" ? [[i, (r.reason as TransportError).code, (r.reason as TransportError).exchange]] : []));
      expect(failed).toEqual([[20, "EXCHANGE_NOT_FOUND", missing]]);
      // Those retried on a new channel may arrive twice (same message id): at least every one arrived.
      expect((await driver.declareQueue({ name: queue, passive: true })).messageCount).toBeGreaterThanOrEqual(41);
    });

    it("without confirms, resolves once written and reports a publish to a missing exchange through onError", async () => {
      const { driver, errors } = openDriver();
      const queue = (await driver.declareQueue({ name: "", exclusive: true })).queue;
      const publisher = driver.createPublisher({ confirm: false });
      const missing = randomName("missing");
      await publisher.publish(missing, "key", bytes("lost"), {});
      await waitFor(() => errors.length > 0, "the channel error");
      expect([errors[0]?.code, errors[0]?.exchange]).toEqual(["EXCHANGE_NOT_FOUND", missing]);
      // The next publish opens a new channel.
      await waitFor(async () => {
        await publisher.publish("", queue, bytes("after"), {});
        return (await driver.declareQueue({ name: queue, passive: true })).messageCount > 0;
      }, "a publish on a new channel");
    });
  });

  describe("publishing into a queue that refuses for a while", () => {
    it("publishes a nacked message again until the broker takes it (x-overflow reject-publish, then room)", async () => {
      const { driver } = openDriver();
      const queue = randomName("full");
      await driver.declareQueue({ name: queue, exclusive: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } });
      const publisher = driver.createPublisher({ confirm: true });
      await publisher.publish("", queue, bytes("first"), {});
      // Full: the broker nacks this one (a quorum queue does the same while its leader moves).
      const second = publisher.publish("", queue, bytes("second"), {});
      let settled = false;
      void second.then(
        () => (settled = true),
        () => (settled = true),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled).toBe(false);
      const received: string[] = [];
      const consumer = driver.createConsumer({ queue: { name: queue, exclusive: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } }, prefetch: 1 }, (d) => {
        received.push(text(d.body));
        return "ack";
      });
      await consumer.ready;
      await second;
      await waitFor(() => received.length === 2, "both messages");
      expect(received).toEqual(["first", "second"]);
    });

    it("fails with PUBLISH_FAILED at the deadline when the queue keeps refusing", async () => {
      const { driver } = openDriver({}, { publishTimeout: 600 });
      const queue = randomName("full");
      await driver.declareQueue({ name: queue, exclusive: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } });
      const publisher = driver.createPublisher({ confirm: true });
      await publisher.publish("", queue, bytes("first"), {});
      const error = await failure(publisher.publish("", queue, bytes("second"), {}));
      expect(error.code).toBe("PUBLISH_FAILED");
    });
  });

  describe("consuming", () => {
    it("applies each disposition: ack removes, reject dead-letters, requeue redelivers, a throw dead-letters", async () => {
      const { driver, errors } = openDriver();
      const dlx = randomName("dlx");
      await driver.declareExchange(defineExchange({ name: dlx, type: "fanout", durable: false }));
      cleanups.push(() => driver.deleteExchange(dlx));
      const dead: Delivery[] = [];
      const dlq = driver.createConsumer({ queue: { name: "", exclusive: true }, bindings: [{ exchange: dlx, routingKey: "" }] }, (d) => {
        dead.push(d);
        return "ack";
      });
      await dlq.ready;

      const queue = randomName("work");
      const seen: string[] = [];
      const consumer = driver.createConsumer({ queue: { name: queue, exclusive: true, arguments: { "x-dead-letter-exchange": dlx } } }, (d): Disposition => {
        const body = text(d.body);
        seen.push(`${body}${d.redelivered ? "*" : ""}`);
        if (body === "reject") return "reject";
        if (body === "requeue" && !d.redelivered) return "requeue";
        if (body === "throw") throw new Error("handler failed on purpose");
        return "ack";
      });
      await consumer.ready;
      expect(consumer.queue).toBe(queue);

      const publisher = driver.createPublisher({ confirm: true });
      for (const body of ["ack", "reject", "requeue", "throw"]) await publisher.publish("", queue, bytes(body), { messageId: body });
      await waitFor(() => dead.length === 2 && seen.includes("requeue*"), "dispositions applied");

      expect(seen.filter((s) => s === "ack" || s === "requeue" || s === "requeue*")).toEqual(["ack", "requeue", "requeue*"]);
      expect(dead.map((d) => text(d.body)).sort()).toEqual(["reject", "throw"]);
      expect(dead.every((d) => d.properties.headers?.["x-death"] !== undefined)).toBe(true);
      expect(errors.map((e) => e.code)).toEqual(["HANDLER_FAILED"]);
      await consumer.close();
      // Nothing left behind: acked and requeued-then-acked messages are gone.
      const left = await driver.declareQueue({ name: queue, exclusive: true, arguments: { "x-dead-letter-exchange": dlx } });
      expect(left.messageCount).toBe(0);
    });

    it("rejects `ready` with QUEUE_NOT_FOUND for a passive queue that does not exist", async () => {
      const { driver } = openDriver();
      const queue = randomName("absent");
      const consumer = driver.createConsumer({ queue: { name: queue, passive: true } }, () => "ack");
      const error = await failure(consumer.ready);
      expect([error.code, error.queue]).toEqual(["QUEUE_NOT_FOUND", queue]);
    });

    it("hands bodies over byte for byte, even JSON-typed ones that are not UTF-8, with their properties", async () => {
      const { driver } = openDriver();
      const { consumer, received } = await collectingConsumer(driver);
      const publisher = driver.createPublisher({ confirm: true });
      const invalidUtf8 = Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
      const bigInt = bytes('{"n": 12345678901234567890, "f": 1.0}');
      await publisher.publish("", consumer.queue, invalidUtf8, { contentType: "application/json", messageId: "m1", headers: { "x-k": "v" }, persistent: true });
      await publisher.publish("", consumer.queue, bigInt, { contentType: "application/json", correlationId: "c1", replyTo: "r" });
      await publisher.publish("", consumer.queue, bytes("plain"), { contentType: "text/plain", type: "t" });
      await waitFor(() => received.length === 3, "three deliveries");

      const [first, second, third] = received;
      expect(Buffer.from(first?.body ?? []).equals(Buffer.from(invalidUtf8))).toBe(true);
      expect(first?.properties).toMatchObject({ contentType: "application/json", messageId: "m1", headers: { "x-k": "v" }, persistent: true });
      expect(text(second?.body ?? bytes(""))).toBe('{"n": 12345678901234567890, "f": 1.0}');
      expect(second?.properties).toMatchObject({ contentType: "application/json", correlationId: "c1", replyTo: "r" });
      expect(second?.properties.persistent).toBeUndefined();
      expect(third?.properties).toMatchObject({ contentType: "text/plain", type: "t" });
      expect(third?.routingKey).toBe(consumer.queue);
    });

    it("delivers bodies of every size (none, one frame, exactly frame-max, several frames) intact and in order, with their properties", async () => {
      const { driver } = openDriver();
      const { consumer, received } = await collectingConsumer(driver);
      const publisher = driver.createPublisher({ confirm: true });
      // rabbitmq-client's default frame-max is 8192: 8184 payload bytes per body frame.
      const sizes = [0, 1, 8_183, 8_184, 8_185, 16_368, 100_000, 1_000_000];
      const bodies = sizes.map((size) => Buffer.from(Array.from({ length: size }, (_v, i) => (i * 13 + size) & 0xff)));
      const headers = (index: number): Record<string, unknown> => ({ index, nested: { list: [1, "two", true] } });
      await Promise.all(bodies.map((body, index) => publisher.publish("", consumer.queue, body, { messageId: `m${index}`, contentType: "application/json", headers: headers(index), persistent: index % 2 === 0 })));
      await waitFor(() => received.length === sizes.length, "every delivery");
      expect(received.map((d) => d.properties.messageId)).toEqual(sizes.map((_size, index) => `m${index}`));
      received.forEach((delivery, index) => {
        expect(Buffer.from(delivery.body).equals(bodies[index] as Buffer), `body ${index}`).toBe(true);
        expect(delivery.properties).toMatchObject({ contentType: "application/json", headers: headers(index) });
        expect(delivery.properties.persistent === true).toBe(index % 2 === 0);
        expect(delivery.signal).toBeDefined();
      });
      expect(driver.patchStatus()[0]).toMatchObject({ inboundPath: true });
    });

    it("keeps run-time bindings of a server-named queue across a forced reconnect", async () => {
      const { driver, connectionName, errors, errorTimes } = openDriver();
      const exchange = randomName("ex");
      await driver.declareExchange(defineExchange({ name: exchange, durable: false }));
      cleanups.push(() => driver.deleteExchange(exchange));
      const got: string[] = [];
      const consumer = driver.createConsumer({ queue: { name: "", exclusive: true, autoDelete: true }, bindings: [{ exchange, routingKey: "initial" }] }, (d) => {
        got.push(text(d.body));
        return "ack";
      });
      await consumer.ready;
      const firstQueue = consumer.queue;
      await consumer.bind(exchange, "runtime");
      await consumer.bind(exchange, "dropped");
      await consumer.unbind(exchange, "dropped");
      const publisher = driver.createPublisher({ confirm: true });
      await publisher.publish(exchange, "runtime", bytes("before"), {});
      await waitFor(() => got.includes("before"), "delivery before the reconnect");
      expect(await failure(publisher.publish(exchange, "dropped", bytes("x"), {}))).toMatchObject({ code: "UNROUTABLE" });

      const closedAt = Date.now();
      expect(await forceClose(connectionName)).toBe(1);
      // Back when a publish on the run-time key reaches the new queue.
      let attempt = 0;
      await waitFor(async () => {
        attempt += 1;
        try {
          await publisher.publish(exchange, "runtime", bytes(`after-${attempt}`), {});
          return true;
        } catch {
          return false;
        }
      }, "the run-time binding to come back");
      await waitFor(() => got.some((g) => g.startsWith("after-")), "delivery after the reconnect");
      const backAt = Date.now();
      const lostAt = errorTimes[errors.findIndex((e) => e.code === "CONNECTION_LOST")] ?? closedAt;
      console.info(`[measure] run-time binding delivering again ${backAt - lostAt} ms after the connection loss was noticed (${backAt - closedAt} ms after invoking rabbitmqctl; ${attempt} publish attempts)`);

      expect(consumer.queue).not.toBe(firstQueue);
      expect(consumer.queue).toMatch(/^amq\.gen-/);
      await publisher.publish(exchange, "initial", bytes("initial-after"), {});
      expect(await failure(publisher.publish(exchange, "dropped", bytes("y"), {}))).toMatchObject({ code: "UNROUTABLE" });
      await waitFor(() => got.includes("initial-after"), "the initial binding after the reconnect");
      expect(errors.some((e) => e.code === "CONNECTION_LOST")).toBe(true);
    });
  });

  describe("direct reply-to", () => {
    it("round-trips a request and its reply, also after a forced reconnect", async () => {
      const { driver, connectionName } = openDriver({ debug: true });
      const serverQueue = randomName("rpc");
      const replier = driver.createPublisher({ confirm: true });
      const server = driver.createConsumer({ queue: { name: serverQueue, exclusive: true } }, async (d): Promise<Disposition> => {
        await replier.publish("", d.properties.replyTo ?? "", bytes(`re: ${text(d.body)}`), { correlationId: d.properties.correlationId ?? "" });
        return "ack";
      });
      await server.ready;

      const replies = new Map<string, string>();
      const returned: Array<{ correlationId: string | undefined; code: string }> = [];
      const lost: Array<string | undefined> = [];
      const channel = await driver.createReplyChannel((d) => replies.set(d.properties.correlationId ?? "", text(d.body)), {
        onReturned: (properties, error) => returned.push({ correlationId: properties.correlationId, code: error.code }),
        onLost: (error) => lost.push(error?.code),
      });
      expect(channel.replyTo).toBe("amq.rabbitmq.reply-to");
      await channel.publish("", serverQueue, bytes("ping"), { correlationId: "1", messageId: "req-1" });
      await waitFor(() => replies.has("1"), "the reply");
      expect(replies.get("1")).toBe("re: ping");

      // No confirms: the publish resolves once written, and the return comes to onReturned with the request's ids.
      await channel.publish("", randomName("nobody"), bytes("lost"), { correlationId: "2" });
      await waitFor(() => returned.length === 1, "the return of the unroutable request");
      expect(returned).toEqual([{ correlationId: "2", code: "UNROUTABLE" }]);

      expect(lost).toEqual([]);
      await forceClose(connectionName);
      // A request written on the dead channel gets no reply (its owner sends it again when told):
      // once told, the next publish waits for the reconnect and goes out on a new channel.
      await waitFor(() => lost.length === 1, "the lost channel to be told");
      // Until the server's exclusive queue is declared again, the request comes back: send it again then.
      await waitFor(async () => {
        const returns = returned.length;
        await channel.publish("", serverQueue, bytes("again"), { correlationId: "3" });
        await waitFor(() => replies.has("3") || returned.length > returns, "the reply or the return");
        return replies.has("3");
      }, "the reply after the reconnect");
      expect(replies.get("3")).toBe("re: again");
    });
  });

  describe("debug mode and closing", () => {
    it("logs messages sent and received (exchange, key, size, id), never the password", async () => {
      const password = "guest";
      const { driver, lines } = openDriver({ debug: true, password });
      const consumer = driver.createConsumer({ queue: { name: "", exclusive: true } }, () => "ack");
      await consumer.ready;
      await driver.createPublisher({ confirm: true }).publish("", consumer.queue, bytes("12345"), { messageId: "dbg-1" });
      await waitFor(() => lines.some((l) => l.startsWith("received")), "the receive log line");
      expect(lines).toContain(`sent exchange="" key="${consumer.queue}" 5 B id=dbg-1`);
      expect(lines.find((l) => l.startsWith("received"))).toContain(`key="${consumer.queue}" 5 B id=dbg-1`);
      expect(lines.join("\n")).not.toContain(`:${password}@`);
    });

    it("does not log when debug mode is off", async () => {
      const { driver, lines } = openDriver({ debug: false });
      const queue = (await driver.declareQueue({ name: "", exclusive: true })).queue;
      await driver.createPublisher({ confirm: true }).publish("", queue, bytes("x"), {});
      expect(lines).toEqual([]);
    });

    it("closes with publishers, reply channels and consumers open, and is idempotent", async () => {
      const { driver } = openDriver();
      const publisher = driver.createPublisher({ confirm: true });
      const consumer = driver.createConsumer({ queue: { name: "", exclusive: true } }, () => "ack");
      await consumer.ready;
      await publisher.publish("", consumer.queue, bytes("x"), {});
      await driver.createReplyChannel(() => undefined);
      await Promise.all([driver.close(), driver.close()]);
      await driver.close();
      expect((await failure(publisher.publish("", consumer.queue, bytes("x"), {}))).code).toBe("CLOSED");
      expect((await failure(driver.ready())).code).toBe("CLOSED");
    });

    it("closes promptly while the broker cannot be reached", async () => {
      const { driver } = openDriver({ url: "amqp://guest:guest@127.0.0.1:1" });
      const consumer = driver.createConsumer({ queue: { name: "", exclusive: true } }, () => "ack");
      driver.createPublisher({ confirm: true });
      await driver.close();
      expect((await failure(consumer.ready)).code).toBe("CLOSED");
    });
  });
});
