import { randomUUID } from "node:crypto";
import { defineExchange, type ExchangeType } from "@postage/core";
import { afterEach, describe, expect, it } from "vitest";
import type { Delivery, DeliveryHandler, Disposition, DriverConsumerOptions, MessageProperties } from "../driver/BrokerDriver.js";
import { TransportError } from "../errors.js";
import { MemoryDriver } from "./MemoryDriver.js";
import { dropAllMemoryBrokers, dropMemoryBroker, getMemoryBroker, memoryDriver } from "./memoryRegistry.js";

const text = new TextEncoder();
const bytes = (s: string): Uint8Array => text.encode(s);
const str = (d: Delivery): string => new TextDecoder().decode(d.body);
/** Lets every pending microtask and immediate run: deliveries to synchronous handlers are then done. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};
const uniqueUrl = (): string => `memory://t-${randomUUID()}`;

let drivers: MemoryDriver[] = [];
function connect(url: string, onError?: (error: unknown) => void): MemoryDriver {
  const driver = memoryDriver(url, onError === undefined ? {} : { onError });
  drivers.push(driver);
  return driver;
}
function setup(onError?: (error: unknown) => void): { url: string; driver: MemoryDriver; publish: (ex: string, key: string, body: string, props?: MessageProperties, mandatory?: boolean) => Promise<void> } {
  const url = uniqueUrl();
  const driver = connect(url, onError);
  const publisher = driver.createPublisher({ confirm: true });
  return { url, driver, publish: (ex, key, body, props = {}, mandatory = false) => publisher.publish(ex, key, bytes(body), props, { mandatory }) };
}
/** A consumer that records bodies and answers with `disposition`. */
function recorder(driver: MemoryDriver, options: DriverConsumerOptions, disposition: Disposition | ((d: Delivery) => Disposition | Promise<Disposition>) = "ack") {
  const got: string[] = [];
  const deliveries: Delivery[] = [];
  const handler: DeliveryHandler = (d) => {
    got.push(str(d));
    deliveries.push(d);
    return typeof disposition === "function" ? disposition(d) : disposition;
  };
  const consumer = driver.createConsumer(options, handler);
  return { consumer, got, deliveries };
}
async function expectCode(promise: Promise<unknown>, code: string): Promise<TransportError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransportError);
  expect((error as TransportError).code).toBe(code);
  return error as TransportError;
}
const exchange = (name: string, type: ExchangeType = "direct", more: { durable?: boolean; autoDelete?: boolean; passive?: boolean } = {}) =>
  defineExchange({ name, type, ...more });

afterEach(() => {
  // abort, not close: a failed test may leave handlers pending, and close would wait for them.
  for (const driver of drivers) driver.abort();
  drivers = [];
  dropAllMemoryBrokers();
});

describe("routing", () => {
  async function bound(type: ExchangeType, bindings: Record<string, string[]>, args?: Record<string, Record<string, unknown>>) {
    const ctx = setup();
    await ctx.driver.declareExchange(exchange("ex", type));
    const got: Record<string, string[]> = {};
    for (const [queue, keys] of Object.entries(bindings)) {
      await ctx.driver.declareQueue({ name: queue });
      for (const key of keys) await ctx.driver.bindQueue({ exchange: "ex", queue, routingKey: key, ...(args?.[queue] ? { arguments: args[queue] } : {}) });
      const r = recorder(ctx.driver, { queue: { name: queue } });
      await r.consumer.ready;
      got[queue] = r.got;
    }
    return { ...ctx, got };
  }

  it("direct: exact key, each matching queue once", async () => {
    const { publish, got } = await bound("direct", { q1: ["a", "b"], q2: ["a"], q3: ["c"] });
    await publish("ex", "a", "1");
    await publish("ex", "b", "2");
    await publish("ex", "z", "3");
    await settle();
    expect(got).toEqual({ q1: ["1", "2"], q2: ["1"], q3: [] });
  });

  it("fanout ignores the key", async () => {
    const { publish, got } = await bound("fanout", { q1: ["x"], q2: [""] });
    await publish("ex", "anything", "1");
    await settle();
    expect(got).toEqual({ q1: ["1"], q2: ["1"] });
  });

  it("topic: wildcards, a queue bound twice gets one copy", async () => {
    const { publish, got } = await bound("topic", { q1: ["a.*", "a.#"], q2: ["#.z"], q3: ["*"], q4: ["#"] });
    for (const key of ["a.b", "a", "x.z", "z", "", "a.b.c"]) await publish("ex", key, key || "(empty)");
    await settle();
    expect(got).toEqual({
      q1: ["a.b", "a", "a.b.c"],
      q2: ["x.z", "z"],
      q3: ["a", "z"],
      q4: ["a.b", "a", "x.z", "z", "(empty)", "a.b.c"],
    });
  });

  it("topic: a binding added later changes the routes (no stale cache)", async () => {
    const { driver, publish, got } = await bound("topic", { q1: ["a.*"] });
    await publish("ex", "b.c", "1");
    await driver.bindQueue({ exchange: "ex", queue: "q1", routingKey: "b.*" });
    await publish("ex", "b.c", "2");
    await driver.unbindQueue({ exchange: "ex", queue: "q1", routingKey: "b.*" });
    await publish("ex", "b.c", "3");
    await settle();
    expect(got.q1).toEqual(["2"]);
  });

  it("headers: x-match all and any", async () => {
    const { publish, got } = await bound("headers", { all: [""], any: [""] }, {
      all: { "x-match": "all", kind: "job", level: 2 },
      any: { "x-match": "any", kind: "job", level: 2 },
    });
    await publish("ex", "", "both", { headers: { kind: "job", level: 2 } });
    await publish("ex", "", "one", { headers: { kind: "job", level: 3 } });
    await publish("ex", "", "none", { headers: { kind: "event" } });
    await publish("ex", "", "no-headers");
    await settle();
    expect(got).toEqual({ all: ["both"], any: ["both", "one"] });
  });

  it("the default exchange routes to the queue named by the key", async () => {
    const { driver, publish } = setup();
    const r = recorder(driver, { queue: { name: "jobs" } });
    await r.consumer.ready;
    await publish("", "jobs", "1");
    await publish("", "nobody", "2");
    await settle();
    expect(r.got).toEqual(["1"]);
  });

  it("cannot declare, bind to or delete the default exchange", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "q" });
    await expectCode(driver.declareExchange(exchange("")), "ACCESS_REFUSED");
    await expectCode(driver.bindQueue({ exchange: "", queue: "q", routingKey: "q" }), "ACCESS_REFUSED");
    await expectCode(driver.deleteExchange(""), "ACCESS_REFUSED");
  });

  it("publishing to a missing exchange rejects naming it", async () => {
    const { publish } = setup();
    const error = await expectCode(publish("nope", "k", "x"), "EXCHANGE_NOT_FOUND");
    expect(error.message).toContain("'nope'");
    expect(error.exchange).toBe("nope");
  });

  it("mandatory: unroutable rejects with UNROUTABLE; without it the message is dropped", async () => {
    const { driver, publish } = setup();
    await driver.declareExchange(exchange("ex"));
    await expectCode(publish("ex", "k", "x", {}, true), "UNROUTABLE");
    await expectCode(publish("", "no-such-queue", "x", {}, true), "UNROUTABLE");
    await expect(publish("ex", "k", "x", {}, false)).resolves.toBeUndefined();
    // The contract's default is mandatory.
    await expectCode(driver.createPublisher({ confirm: true }).publish("ex", "k", bytes("x"), {}), "UNROUTABLE");
    await driver.declareQueue({ name: "q" });
    await driver.bindQueue({ exchange: "ex", queue: "q", routingKey: "k" });
    await expect(publish("ex", "k", "x", {}, true)).resolves.toBeUndefined();
    expect(getMemoryBroker(driver.broker.name).inspectQueue("q")?.messageCount).toBe(1);
  });

  it("copies the body and properties at publish time", async () => {
    const { driver } = setup();
    const r = recorder(driver, { queue: { name: "q" } });
    await r.consumer.ready;
    const body = bytes("abc");
    const headers: Record<string, unknown> = { h: 1 };
    await driver.createPublisher({ confirm: true }).publish("", "q", body, { headers, correlationId: "c1" });
    body[0] = 120;
    headers.h = 2;
    await settle();
    expect(r.got).toEqual(["abc"]);
    expect(r.deliveries[0]?.properties).toEqual({ headers: { h: 1 }, correlationId: "c1" });
    expect(r.deliveries[0]).toMatchObject({ exchange: "", routingKey: "q", redelivered: false });
  });
});

describe("declarations", () => {
  it("redeclaring an exchange differently fails with PRECONDITION_FAILED; the same way is fine", async () => {
    const { driver } = setup();
    await driver.declareExchange(exchange("ex", "direct"));
    await driver.declareExchange(exchange("ex", "direct"));
    const error = await expectCode(driver.declareExchange(exchange("ex", "fanout")), "PRECONDITION_FAILED");
    expect(error.message).toContain("inequivalent arg 'type'");
    await expectCode(driver.declareExchange(exchange("ex", "direct", { durable: false })), "PRECONDITION_FAILED");
    await expectCode(driver.declareExchange(exchange("ex", "direct", { autoDelete: true })), "PRECONDITION_FAILED");
  });

  it("passive declarations check existence only", async () => {
    const { driver } = setup();
    const error = await expectCode(driver.declareExchange(exchange("missing", "direct", { passive: true })), "EXCHANGE_NOT_FOUND");
    expect(error.message).toContain("missing");
    await driver.declareExchange(exchange("ex", "topic"));
    await driver.declareExchange(exchange("ex", "fanout", { passive: true }));
    await expectCode(driver.declareQueue({ name: "nq", passive: true }), "QUEUE_NOT_FOUND");
    await driver.declareQueue({ name: "q" });
    await expect(driver.declareQueue({ name: "q", passive: true, durable: true })).resolves.toEqual({ queue: "q", messageCount: 0, consumerCount: 0 });
  });

  it("refuses new amq.* names but accepts equivalent redeclarations of built-ins", async () => {
    const { driver } = setup();
    await expectCode(driver.declareExchange(exchange("amq.mine")), "ACCESS_REFUSED");
    await expectCode(driver.declareQueue({ name: "amq.mine" }), "ACCESS_REFUSED");
    await driver.declareExchange(exchange("amq.topic", "topic"));
    await expectCode(driver.deleteExchange("amq.topic"), "ACCESS_REFUSED");
  });

  it("redeclaring a queue differently fails with PRECONDITION_FAILED", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "q", durable: true, arguments: { "x-message-ttl": 1000 } });
    await driver.declareQueue({ name: "q", durable: true, arguments: { "x-message-ttl": 1000 } });
    await expectCode(driver.declareQueue({ name: "q", durable: false, arguments: { "x-message-ttl": 1000 } }), "PRECONDITION_FAILED");
    const error = await expectCode(driver.declareQueue({ name: "q", durable: true }), "PRECONDITION_FAILED");
    expect(error.message).toContain("x-message-ttl");
  });

  it("validates quorum queue properties and arguments", async () => {
    const { driver } = setup();
    await expectCode(driver.declareQueue({ name: "qq", arguments: { "x-queue-type": "quorum" } }), "PRECONDITION_FAILED");
    await expectCode(driver.declareQueue({ name: "qq", durable: true, exclusive: true, arguments: { "x-queue-type": "quorum" } }), "PRECONDITION_FAILED");
    await expectCode(driver.declareQueue({ name: "q", arguments: { "x-message-ttl": -1 } }), "PRECONDITION_FAILED");
    await expectCode(driver.declareQueue({ name: "q", arguments: { "x-dead-letter-routing-key": "k" } }), "PRECONDITION_FAILED");
    await expect(driver.declareQueue({ name: "qq", durable: true, arguments: { "x-queue-type": "quorum", "x-delivery-limit": 2 } })).resolves.toMatchObject({ queue: "qq" });
  });

  it("server-named queues", async () => {
    const { driver } = setup();
    const a = await driver.declareQueue({ name: "", exclusive: true });
    const b = await driver.declareQueue({ name: "", exclusive: true });
    expect(a.queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
    expect(b.queue).not.toBe(a.queue);
  });

  it("deleting missing things is fine; deleting a queue drops its messages and bindings", async () => {
    const { driver, publish } = setup();
    await driver.deleteQueue("nothing");
    await driver.deleteExchange("nothing");
    await driver.declareExchange(exchange("ex"));
    await driver.declareQueue({ name: "q" });
    await driver.bindQueue({ exchange: "ex", queue: "q", routingKey: "k" });
    await publish("ex", "k", "1");
    await driver.deleteQueue("q");
    expect(await driver.declareQueue({ name: "q" })).toEqual({ queue: "q", messageCount: 0, consumerCount: 0 });
    await expectCode(publish("ex", "k", "2", {}, true), "UNROUTABLE");
  });

  it("binding needs both ends", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "q" });
    await expectCode(driver.bindQueue({ exchange: "nope", queue: "q", routingKey: "k" }), "EXCHANGE_NOT_FOUND");
    await driver.declareExchange(exchange("ex"));
    await expectCode(driver.bindQueue({ exchange: "ex", queue: "nq", routingKey: "k" }), "QUEUE_NOT_FOUND");
    await driver.unbindQueue({ exchange: "ex", queue: "q", routingKey: "never-bound" });
  });

  it("an auto-delete exchange goes when its last binding goes", async () => {
    const { driver } = setup();
    await driver.declareExchange(exchange("ax", "direct", { autoDelete: true }));
    await driver.declareQueue({ name: "q" });
    await driver.bindQueue({ exchange: "ax", queue: "q", routingKey: "k" });
    expect(driver.broker.exchangeNames()).toContain("ax");
    await driver.unbindQueue({ exchange: "ax", queue: "q", routingKey: "k" });
    expect(driver.broker.exchangeNames()).not.toContain("ax");
  });
});

describe("consuming", () => {
  it("round robin among the consumers of one queue", async () => {
    const { driver, publish } = setup();
    const a = recorder(driver, { queue: { name: "q" } });
    const b = recorder(driver, { queue: { name: "q" } });
    const c = recorder(driver, { queue: { name: "q" } });
    await Promise.all([a.consumer.ready, b.consumer.ready, c.consumer.ready]);
    for (let i = 0; i < 9; i++) await publish("", "q", String(i));
    await settle();
    expect([a.got, b.got, c.got]).toEqual([
      ["0", "3", "6"],
      ["1", "4", "7"],
      ["2", "5", "8"],
    ]);
  });

  it("a consumer never holds more than its prefetch; the others take the rest", async () => {
    const { driver, publish } = setup();
    const pending: Array<(d: Disposition) => void> = [];
    let maxHeld = 0;
    const slow = driver.createConsumer({ queue: { name: "q" }, prefetch: 3 }, () => {
      const held = new Promise<Disposition>((resolve) => pending.push(resolve));
      maxHeld = Math.max(maxHeld, pending.length);
      return held;
    });
    await slow.ready;
    for (let i = 0; i < 10; i++) await publish("", "q", String(i));
    await settle();
    expect(pending.length).toBe(3);
    expect(driver.broker.inspectQueue("q")?.messageCount).toBe(7);
    const fast = recorder(driver, { queue: { name: "q" } });
    await fast.consumer.ready;
    await settle();
    expect(fast.got).toEqual(["3", "4", "5", "6", "7", "8", "9"]);
    // Settling frees room one for one.
    pending.shift()?.("ack");
    await publish("", "q", "10");
    await publish("", "q", "11");
    await settle();
    expect(pending.length).toBe(3);
    expect(maxHeld).toBe(3);
    for (const resolve of pending.splice(0)) resolve("ack");
    await settle();
  });

  it("without acks: what a dropped consumer held is gone, its dispositions change nothing, and deliveries carry no signal", async () => {
    const { url, driver, publish } = setup();
    const pending: Array<(d: Disposition) => void> = [];
    const signals: Array<AbortSignal | undefined> = [];
    const unacked = driver.createConsumer({ queue: { name: "q" }, prefetch: 2, noAck: true }, (delivery) => {
      signals.push(delivery.signal);
      return new Promise<Disposition>((resolve) => pending.push(resolve));
    });
    await unacked.ready;
    for (let i = 0; i < 5; i++) await publish("", "q", String(i));
    await settle();
    // The window holds two; the queue keeps the rest, and no longer counts the two.
    expect(pending.length).toBe(2);
    expect(driver.broker.inspectQueue("q")?.messageCount).toBe(3);
    expect(signals).toEqual([undefined, undefined]);
    driver.abort();
    for (const resolve of pending.splice(0)) resolve("requeue");
    const other = connect(url);
    const after = recorder(other, { queue: { name: "q" } });
    await after.consumer.ready;
    await settle();
    expect(after.got).toEqual(["2", "3", "4"]);
  });

  it("requeue puts the message back at the head, marked redelivered", async () => {
    const { driver, publish } = setup();
    let first = true;
    const r = recorder(driver, { queue: { name: "q" }, prefetch: 1 }, () => {
      if (first) {
        first = false;
        return "requeue";
      }
      return "ack";
    });
    await r.consumer.ready;
    await publish("", "q", "a");
    await publish("", "q", "b");
    await settle();
    expect(r.got).toEqual(["a", "a", "b"]);
    expect(r.deliveries.map((d) => d.redelivered)).toEqual([false, true, false]);
  });

  it("requeued messages go back in their original order", async () => {
    const { driver, publish } = setup();
    const holders: Array<(d: Disposition) => void> = [];
    const c = driver.createConsumer({ queue: { name: "q" }, prefetch: 3 }, () => new Promise<Disposition>((resolve) => holders.push(resolve)));
    await c.ready;
    for (const m of ["1", "2", "3", "4"]) await publish("", "q", m);
    await settle();
    expect(holders.length).toBe(3);
    const closing = c.close();
    // Requeued in reverse order, they still line up as published, in front of "4".
    holders[2]?.("requeue");
    holders[1]?.("requeue");
    holders[0]?.("requeue");
    await closing;
    const r = recorder(driver, { queue: { name: "q" } });
    await r.consumer.ready;
    await settle();
    expect(r.got).toEqual(["1", "2", "3", "4"]);
  });

  it("reject dead-letters through x-dead-letter-exchange with x-death", async () => {
    const { driver, publish } = setup();
    await driver.declareExchange(exchange("dlx", "fanout"));
    const dead = recorder(driver, { queue: { name: "dead" }, bindings: [{ exchange: "dlx", routingKey: "" }] });
    await dead.consumer.ready;
    const work = recorder(driver, { queue: { name: "work", arguments: { "x-dead-letter-exchange": "dlx" } } }, "reject");
    await work.consumer.ready;
    await publish("", "work", "bad", { headers: { reason: "x" } });
    await settle();
    expect(work.got).toEqual(["bad"]);
    expect(dead.got).toEqual(["bad"]);
    const d = dead.deliveries[0];
    expect(d).toMatchObject({ exchange: "dlx", routingKey: "work", redelivered: false });
    expect(d?.properties.headers).toMatchObject({
      reason: "x",
      "x-first-death-reason": "rejected",
      "x-first-death-queue": "work",
      "x-first-death-exchange": "",
      "x-death": [{ count: 1, reason: "rejected", queue: "work", exchange: "", "routing-keys": ["work"] }],
    });
  });

  it("x-dead-letter-routing-key replaces the key; without a DLX a rejected message is dropped", async () => {
    const { driver, publish } = setup();
    await driver.declareExchange(exchange("dlx", "direct"));
    const dead = recorder(driver, { queue: { name: "dead" }, bindings: [{ exchange: "dlx", routingKey: "failed" }] });
    await dead.consumer.ready;
    const work = recorder(driver, { queue: { name: "work", arguments: { "x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "failed" } } }, "reject");
    const plain = recorder(driver, { queue: { name: "plain" } }, "reject");
    await Promise.all([work.consumer.ready, plain.consumer.ready]);
    await publish("", "work", "1");
    await publish("", "plain", "2");
    await settle();
    expect(dead.got).toEqual(["1"]);
    expect(dead.deliveries[0]?.routingKey).toBe("failed");
    expect(plain.got).toEqual(["2"]);
    expect(driver.broker.inspectQueue("plain")?.messageCount).toBe(0);
  });

  it("a throwing or rejecting handler dead-letters the delivery and reports the error", async () => {
    const errors: unknown[] = [];
    const { driver, publish } = setup((e) => errors.push(e));
    await driver.declareQueue({ name: "dead" });
    let n = 0;
    const work = recorder(driver, { queue: { name: "work", arguments: { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead" } } }, () => {
      n++;
      if (n === 1) throw new Error("sync boom");
      if (n === 2) return Promise.reject(new Error("async boom"));
      return "bogus" as Disposition;
    });
    await work.consumer.ready;
    for (const m of ["1", "2", "3"]) await publish("", "work", m);
    await settle();
    expect(errors.map((e) => (e as Error).message)).toEqual(["sync boom", "async boom", expect.stringContaining("invalid disposition")]);
    expect(driver.broker.inspectQueue("dead")?.messageCount).toBe(3);
  });

  it("quorum x-delivery-limit: redeliveries carry x-delivery-count, then the message is dead-lettered", async () => {
    const { driver, publish } = setup();
    await driver.declareQueue({ name: "dead" });
    const dead = recorder(driver, { queue: { name: "dead" } });
    await dead.consumer.ready;
    const work = recorder(
      driver,
      { queue: { name: "work", durable: true, arguments: { "x-queue-type": "quorum", "x-delivery-limit": 2, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead" } } },
      "requeue",
    );
    await work.consumer.ready;
    await publish("", "work", "m");
    await settle();
    expect(work.got).toEqual(["m", "m", "m"]);
    expect(work.deliveries.map((d) => d.properties.headers?.["x-delivery-count"])).toEqual([undefined, 1, 2]);
    expect(dead.got).toEqual(["m"]);
    expect(dead.deliveries[0]?.properties.headers?.["x-first-death-reason"]).toBe("delivery_limit");
  });

  it("x-delivery-limit without a DLX drops the message", async () => {
    const { driver, publish } = setup();
    const work = recorder(driver, { queue: { name: "w", durable: true, arguments: { "x-queue-type": "quorum", "x-delivery-limit": 0 } } }, "requeue");
    await work.consumer.ready;
    await publish("", "w", "m");
    await settle();
    expect(work.got).toEqual(["m"]);
    expect(driver.broker.inspectQueue("w")?.messageCount).toBe(0);
  });

  it("x-message-ttl dead-letters expired messages (reason expired)", async () => {
    const { driver, publish } = setup();
    await driver.declareQueue({ name: "dead" });
    const gotDead = new Promise<Delivery>((resolve) => {
      driver.createConsumer({ queue: { name: "dead" } }, (d) => {
        resolve(d);
        return "ack";
      });
    });
    await driver.declareQueue({ name: "ttl", arguments: { "x-message-ttl": 5, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead" } });
    await publish("", "ttl", "old");
    const d = await gotDead;
    expect(str(d)).toBe("old");
    expect(d.properties.headers?.["x-first-death-reason"]).toBe("expired");
    expect(driver.broker.inspectQueue("ttl")?.messageCount).toBe(0);
  });

  it("per-message expiration is honoured and invalid values are refused", async () => {
    const { driver, publish } = setup();
    await driver.declareQueue({ name: "q" });
    await publish("", "q", "short", { expiration: "1" });
    await publish("", "q", "long", { expiration: "600000" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const r = recorder(driver, { queue: { name: "q" } });
    await r.consumer.ready;
    await settle();
    expect(r.got).toEqual(["long"]);
    await expectCode(publish("", "q", "x", { expiration: "soon" }), "PRECONDITION_FAILED");
  });

  it("exclusive consumers", async () => {
    const { driver } = setup();
    const a = driver.createConsumer({ queue: { name: "q" }, exclusiveConsumer: true }, () => "ack");
    await a.ready;
    await expectCode(driver.createConsumer({ queue: { name: "q" } }, () => "ack").ready, "ACCESS_REFUSED");
    await a.close();
    const b = driver.createConsumer({ queue: { name: "q" } }, () => "ack");
    await b.ready;
    await expectCode(driver.createConsumer({ queue: { name: "q" }, exclusiveConsumer: true }, () => "ack").ready, "ACCESS_REFUSED");
  });

  it("consumer bind/unbind at run time", async () => {
    const { driver, publish } = setup();
    await driver.declareExchange(exchange("ex"));
    const r = recorder(driver, { queue: { name: "", exclusive: true }, bindings: [{ exchange: "ex", routingKey: "a" }] });
    await r.consumer.ready;
    expect(r.consumer.queue).toMatch(/^amq\.gen-/);
    await r.consumer.bind("ex", "b");
    await publish("ex", "a", "1");
    await publish("ex", "b", "2");
    await r.consumer.unbind("ex", "a");
    await publish("ex", "a", "3");
    await settle();
    expect(r.got).toEqual(["1", "2"]);
  });

  it("a consumer's ready rejects when its queue cannot be declared", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "q", durable: true });
    const c = driver.createConsumer({ queue: { name: "q" } }, () => "ack");
    await expectCode(c.ready, "PRECONDITION_FAILED");
    await c.close();
  });
});

describe("lifecycle", () => {
  it("close awaits running handlers and applies their dispositions", async () => {
    const { driver, publish } = setup();
    const holders: Array<(d: Disposition) => void> = [];
    const c = driver.createConsumer({ queue: { name: "q" }, prefetch: 2 }, () => new Promise<Disposition>((resolve) => holders.push(resolve)));
    await c.ready;
    for (const m of ["1", "2", "3"]) await publish("", "q", m);
    await settle();
    let closed = false;
    const closing = c.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(false);
    holders[1]?.("requeue");
    holders[0]?.("ack");
    await closing;
    // "3" was never delivered, "2" came back in front of it.
    const r = recorder(driver, { queue: { name: "q" } });
    await r.consumer.ready;
    await settle();
    expect(r.got).toEqual(["2", "3"]);
    expect(r.deliveries.map((d) => d.redelivered)).toEqual([true, false]);
    await c.close(); // idempotent
  });

  it("abort returns unsettled deliveries to the queue and ignores late dispositions", async () => {
    const { url, publish } = setup();
    const a = connect(url);
    const holders: Array<(d: Disposition) => void> = [];
    const c = a.createConsumer({ queue: { name: "q" }, prefetch: 5 }, () => new Promise<Disposition>((resolve) => holders.push(resolve)));
    await c.ready;
    for (const m of ["1", "2", "3"]) await publish("", "q", m);
    await settle();
    expect(holders.length).toBe(3);
    a.abort();
    for (const resolve of holders) resolve("ack");
    await settle();
    const b = connect(url);
    const r = recorder(b, { queue: { name: "q" } });
    await r.consumer.ready;
    await settle();
    expect(r.got).toEqual(["1", "2", "3"]);
    expect(r.deliveries.every((d) => d.redelivered)).toBe(true);
    await expectCode(a.declareQueue({ name: "x" }), "CLOSED");
  });

  it("exclusive queues belong to their driver and go when it closes", async () => {
    const { url, driver } = setup();
    const other = connect(url);
    await driver.declareQueue({ name: "mine", exclusive: true });
    await expectCode(other.declareQueue({ name: "mine", exclusive: true }), "RESOURCE_LOCKED");
    await expectCode(other.declareQueue({ name: "mine", passive: true }), "RESOURCE_LOCKED");
    await expectCode(other.deleteQueue("mine"), "RESOURCE_LOCKED");
    await expectCode(other.createConsumer({ queue: { name: "mine", exclusive: true } }, () => "ack").ready, "RESOURCE_LOCKED");
    // Exclusivity must match on redeclaration, even by the owner.
    await expectCode(driver.declareQueue({ name: "mine" }), "RESOURCE_LOCKED");
    // Anyone may publish to it.
    await other.createPublisher({ confirm: true }).publish("", "mine", bytes("x"), {});
    expect(driver.broker.inspectQueue("mine")?.messageCount).toBe(1);
    await driver.close();
    expect(other.broker.queueNames()).not.toContain("mine");
    await other.declareQueue({ name: "mine", exclusive: true });
  });

  it("auto-delete queues go when their last consumer leaves, not before they had one", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "ad", autoDelete: true });
    expect(driver.broker.queueNames()).toContain("ad");
    const a = driver.createConsumer({ queue: { name: "ad", autoDelete: true } }, () => "ack");
    const b = driver.createConsumer({ queue: { name: "ad", autoDelete: true } }, () => "ack");
    await Promise.all([a.ready, b.ready]);
    expect((await driver.declareQueue({ name: "ad", autoDelete: true })).consumerCount).toBe(2);
    await a.close();
    expect(driver.broker.queueNames()).toContain("ad");
    await b.close();
    expect(driver.broker.queueNames()).not.toContain("ad");
  });

  it("x-expires deletes an unused queue", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "idle", arguments: { "x-expires": 5 } });
    const c = driver.createConsumer({ queue: { name: "busy", arguments: { "x-expires": 5 } } }, () => "ack");
    await c.ready;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(driver.broker.queueNames()).not.toContain("idle");
    expect(driver.broker.queueNames()).toContain("busy");
  });

  it("two drivers on one broker: one publishes, the other consumes; other brokers are separate", async () => {
    const url = uniqueUrl();
    const producer = connect(url);
    const consumerSide = connect(url);
    const elsewhere = connect(uniqueUrl());
    await consumerSide.declareExchange(exchange("events", "fanout"));
    const r = recorder(consumerSide, { queue: { name: "", exclusive: true }, bindings: [{ exchange: "events", routingKey: "" }] });
    await r.consumer.ready;
    await producer.createPublisher({ confirm: true }).publish("events", "", bytes("hello"), {});
    await expectCode(elsewhere.createPublisher({ confirm: true }).publish("events", "", bytes("hello"), {}), "EXCHANGE_NOT_FOUND");
    await settle();
    expect(r.got).toEqual(["hello"]);
    expect(memoryDriver(url).broker).toBe(producer.broker);
    expect(memoryDriver("memory://").broker).toBe(memoryDriver("memory://default").broker);
  });

  it("close is idempotent and everything rejects with CLOSED afterwards", async () => {
    const { driver } = setup();
    const publisher = driver.createPublisher({ confirm: true });
    const reply = await driver.createReplyChannel(() => undefined);
    await Promise.all([driver.close(), driver.close()]);
    await driver.close();
    await expectCode(publisher.publish("", "q", bytes("x"), {}), "CLOSED");
    await expectCode(reply.publish("", "q", bytes("x"), {}), "CLOSED");
    await expectCode(driver.declareQueue({ name: "q" }), "CLOSED");
    await expectCode(driver.declareExchange(exchange("x")), "CLOSED");
    await expectCode(driver.ready(), "CLOSED");
    await expectCode(driver.createReplyChannel(() => undefined), "CLOSED");
    await expectCode(driver.createConsumer({ queue: { name: "q" } }, () => "ack").ready, "CLOSED");
    await expectCode(driver.createPublisher({ confirm: true }).publish("", "q", bytes("x"), {}), "CLOSED");
    await publisher.close();
    await reply.close();
  });

  it("dropMemoryBroker starts the name afresh", async () => {
    const url = uniqueUrl();
    const first = connect(url);
    await first.declareQueue({ name: "q" });
    expect(dropMemoryBroker(first.broker.name)).toBe(true);
    expect(dropMemoryBroker(first.broker.name)).toBe(false);
    const second = connect(url);
    expect(second.broker).not.toBe(first.broker);
    await expectCode(second.declareQueue({ name: "q", passive: true }), "QUEUE_NOT_FOUND");
  });

  it("rejects URLs that are not memory://", () => {
    expect(() => memoryDriver("amqp://localhost")).toThrow(TransportError);
  });
});

/** A driver on `url` consuming queue `rpc` and replying `re:<body>` to each request's `replyTo`. */
async function replyingServer(url: string): Promise<MemoryDriver> {
  const server = connect(url);
  const publisher = server.createPublisher({ confirm: true });
  const rpc = server.createConsumer({ queue: { name: "rpc" } }, async (d): Promise<Disposition> => {
    await publisher.publish("", d.properties.replyTo ?? "", bytes(`re:${str(d)}`), { correlationId: d.properties.correlationId ?? "" });
    return "ack";
  });
  await rpc.ready;
  return server;
}

describe("direct reply-to", () => {
  it("replies published to the replyTo name reach the channel", async () => {
    const { url, driver } = setup();
    const server = await replyingServer(url);
    const replies: Delivery[] = [];
    const channel = await driver.createReplyChannel((d) => replies.push(d));
    expect(channel.replyTo).toMatch(/^amq\.rabbitmq\.reply-to\..+/);
    await channel.publish("", "rpc", bytes("one"), { replyTo: channel.replyTo, correlationId: "c1" });
    // The generic name is rewritten to the channel's own, as RabbitMQ does.
    await channel.publish("", "rpc", bytes("two"), { replyTo: "amq.rabbitmq.reply-to", correlationId: "c2" });
    await settle();
    expect(replies.map((d) => [str(d), d.properties.correlationId, d.routingKey])).toEqual([
      ["re:one", "c1", channel.replyTo],
      ["re:two", "c2", channel.replyTo],
    ]);
  });

  it("a plain publisher cannot ask for direct reply-to", async () => {
    const { driver } = setup();
    await driver.declareQueue({ name: "rpc" });
    await expectCode(driver.createPublisher({ confirm: true }).publish("", "rpc", bytes("x"), { replyTo: "amq.rabbitmq.reply-to" }), "PRECONDITION_FAILED");
  });

  it("replies to a closed channel are dropped, even with mandatory", async () => {
    const { driver, publish } = setup();
    const replies: Delivery[] = [];
    const channel = await driver.createReplyChannel((d) => replies.push(d));
    const inFlight = publish("", channel.replyTo, "in flight", {}, true);
    const closing = channel.close();
    await inFlight;
    await closing;
    await channel.close();
    await expect(publish("", channel.replyTo, "late", {}, true)).resolves.toBeUndefined();
    await settle();
    expect(replies).toEqual([]);
  });
});

describe("reply queue (address: queue)", () => {
  it("declares a server-named exclusive queue whose deliveries reach the channel, and deletes it on close", async () => {
    const { url, driver } = setup();
    const server = await replyingServer(url);
    const replies: Delivery[] = [];
    const channel = await driver.createReplyChannel((d) => replies.push(d), {}, { address: "queue" });
    expect(channel.replyTo).toMatch(/^amq\.gen-/);
    expect(await driver.declareQueue({ name: channel.replyTo, passive: true })).toMatchObject({ consumerCount: 1 });
    // Exclusive to this connection, as RabbitMQ's server-named queues are.
    await expectCode(server.declareQueue({ name: channel.replyTo, passive: true }), "RESOURCE_LOCKED");
    // Whatever replyTo a request carries, the channel puts its own queue on it.
    await channel.publish("", "rpc", bytes("one"), { replyTo: "elsewhere", correlationId: "c1" });
    await channel.publish("", "rpc", bytes("two"), { replyTo: channel.replyTo, correlationId: "c2" });
    await settle();
    expect(replies.map((d) => [str(d), d.properties.correlationId, d.routingKey])).toEqual([
      ["re:one", "c1", channel.replyTo],
      ["re:two", "c2", channel.replyTo],
    ]);
    await channel.close();
    await expectCode(driver.declareQueue({ name: channel.replyTo, passive: true }), "QUEUE_NOT_FOUND");
    await server.close();
  });
});
