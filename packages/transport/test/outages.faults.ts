import { execFile } from "node:child_process";
import { createConnection } from "node:net";
import { fileURLToPath } from "node:url";
import { defineExchange, SuccessResult } from "@postage/core";
import { type Broker, connect, createConsumer, createProducer, type HandlerOutcome, TransportError } from "@postage/transport";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { randomName, waitFor } from "./helpers.js";

// Outages of the disposable fault node (scripts/rabbit.sh, 127.0.0.1:5673): never the main broker.
// Run with `npm run test:faults` (under `flock /tmp/postage-faults.lock` when others share the machine).
const FAULT_URL = "amqp://guest:guest@127.0.0.1:5673";
const RABBIT_SH = fileURLToPath(new URL("../../../scripts/rabbit.sh", import.meta.url));

function rabbitSh(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(RABBIT_SH, args, { timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/rabbit.sh ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:5673. */
function faultPortOpen(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port: 5673 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: TransportError }> {
  try {
    return { value: await promise };
  } catch (error) {
    if (error instanceof TransportError) return { error };
    throw error;
  }
}

describe("transport through outages (fault node on 5673)", () => {
  const brokers: Broker[] = [];
  const open = (options: { connectionName?: string } = {}): Broker => {
    const broker = connect({ url: FAULT_URL, shared: false, heartbeat: 0, ...options });
    brokers.push(broker);
    return broker;
  };

  beforeAll(async () => {
    await rabbitSh("fault-start");
  }, 120_000);

  afterEach(async () => {
    for (const broker of brokers.splice(0).reverse()) await broker.close().catch(() => undefined);
  });

  afterAll(async () => {
    // The other fault suites expect the node up; leave it as we found it.
    await rabbitSh("fault-start");
  }, 120_000);

  /**
   * An RPC server whose queue is its own (server-named, re-declared on reconnect). It answers only
   * once `answering()` says so: requests before that go unanswered, so the call has to retry, which
   * is where a stale reply_to would show.
   */
  async function server(broker: Broker, answering: () => boolean) {
    const exchange = defineExchange({ name: randomName("outage-rpc"), type: "direct", durable: false });
    const seen: string[] = [];
    const answered: string[] = [];
    const consumer = createConsumer(broker, { bindings: [[exchange, [["", "svc"]]]] }, async ({ message, reply, delivery }): Promise<HandlerOutcome> => {
      const replyTo = delivery.properties.replyTo ?? "";
      seen.push(replyTo);
      // A redelivery (its ack lost with the connection) carries the reply_to it was sent with: not a retry.
      if (answering() && !delivery.redelivered && reply) {
        answered.push(replyTo);
        await reply(new SuccessResult(message.content.parameters));
      }
      return "ack";
    });
    await consumer.ready();
    return { exchange, seen, answered };
  }

  it("a queue-mode RPC retried after a reconnect carries its new reply queue and gets the reply", async () => {
    await broker0Ready();
    const serverBroker = open();
    const clientBroker = open();
    let reconnected = false;
    const { exchange, seen, answered } = await server(serverBroker, () => reconnected);
    const producer = createProducer(clientBroker, { exchanges: [[exchange, "svc"]] });
    const call = producer.to({ timeout: 1_500, retries: 8, replyMode: "queue" }).call("echo", "after-reconnect");
    await waitFor(() => seen.length === 1, "the first request");
    // Every connection drops: the client's server-named reply queue is gone and comes back under a new name.
    await rabbitSh("fault-close-all", "postage outage test");
    // Only requests from now on are answered (retries sent before the drop carried the old name, rightly).
    reconnected = true;
    const result = await call;
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.every((replyTo) => replyTo !== seen[0])).toBe(true); // the retries after the drop carried the new reply queue
    expect([result.ok, result.value]).toEqual([true, "after-reconnect"]);
  }, 60_000);

  describe("while the node blocks publishers (memory alarm: connection.blocked)", () => {
    const ctl = (...args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile("rabbitmqctl", ["-q", "-n", "fault@localhost", ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`rabbitmqctl ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
          else resolve(stdout.trim());
        });
      });
    let watermark = "0.4";

    beforeAll(async () => {
      await rabbitSh("fault-start");
      watermark = await ctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().");
    }, 120_000);

    afterEach(async () => {
      await ctl("set_vm_memory_high_watermark", watermark);
    }, 60_000);

    it("a publish waits while the broker blocks the connection and completes once it unblocks, confirmed or not", async () => {
      const broker = open();
      await broker.ready();
      const queue = randomName("blocked");
      await broker.driver.declareQueue({ name: queue, durable: false, autoDelete: false });
      const confirmed = broker.driver.createPublisher({ confirm: true });
      const unconfirmed = broker.driver.createPublisher({ confirm: false });
      const body = (text: string): Uint8Array => new TextEncoder().encode(text);
      await confirmed.publish("", queue, body("before"), {});
      await ctl("set_vm_memory_high_watermark", "0.0000001");
      // Published while the alarm is on: the broker reads no more publishes from the connection (and says so).
      let settled = false;
      const during = confirmed.publish("", queue, body("during"), {}).finally(() => (settled = true));
      const unconfirmedDuring = outcome(unconfirmed.publish("", queue, body("during, without confirm"), {}));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(settled).toBe(false);
      await waitFor(() => !broker.driver.connected, "the connection to be blocked", 10_000);
      await ctl("set_vm_memory_high_watermark", watermark);
      await during;
      expect((await unconfirmedDuring).error).toBeUndefined();
      let count = 0;
      for (let i = 0; i < 100 && count < 3; i++) {
        count = (await broker.driver.declareQueue({ name: queue, passive: true })).messageCount;
        if (count < 3) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(count).toBe(3);
      await broker.driver.deleteQueue(queue);
    }, 60_000);
  });

  describe("while the node is down", () => {
    let bounce: Promise<string> | undefined;
    let producerBroker: Broker;
    let exchangeName = "";

    beforeAll(async () => {
      producerBroker = connect({ url: FAULT_URL, shared: false, heartbeat: 0 });
      await producerBroker.ready();
      const exchange = defineExchange({ name: randomName("outage-gather"), type: "direct", durable: false });
      await producerBroker.declareExchange(exchange);
      exchangeName = exchange.name;
      // Long enough for every wait below to have to end on its own timeout, not on the node's return.
      bounce = rabbitSh("fault-bounce", "25");
      for (let i = 0; i < 200 && (await faultPortOpen()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await faultPortOpen()).toBe(false);
    }, 60_000);

    afterAll(async () => {
      await bounce;
      await producerBroker.close();
    }, 120_000);

    const exchange = () => defineExchange({ name: exchangeName, type: "direct", durable: false });

    it("producer.gather and RPC (both reply modes) end at their own timeouts, counted from the call, with TIMEOUT", async () => {
      const producer = createProducer(producerBroker, { exchanges: [[exchange(), "anyone"]] });
      // All started at once, while the node is down: none may wait for it to come back.
      const started = Date.now();
      const [gathered, direct, queued] = await Promise.all([
        outcome(producer.gather("ping", {}, { timeout: 1_000 })),
        outcome(producer.to({ timeout: 800, retries: 2, replyMode: "direct" }).call("echo", "x")),
        outcome(producer.to({ timeout: 800, retries: 2, replyMode: "queue" }).call("echo", "x")),
      ]);
      // Down for 25 s and a channel waits 20 s for a connection: settling within 12 s means nothing waited for either.
      expect(Date.now() - started).toBeLessThan(12_000);
      expect(await faultPortOpen()).toBe(false);
      expect([gathered.error?.code, gathered.error?.message]).toEqual(["TIMEOUT", expect.stringMatching(/could not be sent within 1000 ms/)]);
      for (const rpc of [direct, queued]) {
        expect([rpc.error?.code, rpc.error?.message]).toEqual(["TIMEOUT", expect.stringMatching(/could not be sent within 2400 ms \(3 attempt\(s\) of 800 ms\)/)]);
      }
    });
  });

  describe("connecting while the node is not up", () => {
    it("a failed first connect() does not poison the URL: the next connect() after the node is up succeeds", async () => {
      await rabbitSh("fault-stop");
      const first = connect({ url: FAULT_URL, heartbeat: 0 });
      brokers.push(first);
      const refused = await outcome(first.ready());
      expect(refused.error?.code).toBe("CONNECTION_REFUSED");
      await rabbitSh("fault-start");
      const second = connect({ url: FAULT_URL, heartbeat: 0 });
      brokers.push(second);
      const later = await outcome(second.ready({ timeout: 20_000 }));
      expect(later.error).toBeUndefined();
    }, 120_000);

    it("ready({ timeout }) waits for a broker that is still booting", async () => {
      await rabbitSh("fault-stop");
      const starting = rabbitSh("fault-start");
      const broker = connect({ url: FAULT_URL, shared: false, heartbeat: 0 });
      brokers.push(broker);
      const ready = await outcome(broker.ready({ timeout: 90_000 }));
      await starting;
      expect(ready.error).toBeUndefined();
    }, 120_000);
  });

  /** Makes sure the node is up before a test that needs it (a previous test may have stopped it). */
  async function broker0Ready(): Promise<void> {
    if (!(await faultPortOpen())) await rabbitSh("fault-start");
  }
});
