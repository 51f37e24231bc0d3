// The order demo as a person runs it: `order receive` and `order send` as processes on RabbitMQ,
// a Python-Postage-style client driving the same order, and the order surviving a restart.
import { connect as amqpConnect, type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isolatedOrderDemo } from "./orderDemo.js";
import { demo, ensureBuilt, killAll, postage, type Program, RABBIT_URL } from "./processes.js";

const READY = /order receiver ready/;
// `postage state` and `ps` gather for the whole --timeout, and it also covers declaring their reply
// queue and publishing: the default 1000 ms ran out on a loaded 2-core machine ("could not be sent
// within 1000 ms"). The tests look at what answered, never at how long it took.
const WINDOW = "3000";

/**
 * A call as Python Postage 1.2.1 makes it: a plain JSON body, `reply_to` a private server-named
 * queue, no correlation id and no message id.
 */
async function pythonCall(channel: Channel, exchange: string, key: string, name: string, parameters: unknown): Promise<{ body: Record<string, unknown>; message: ConsumeMessage }> {
  const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
  const reply = new Promise<ConsumeMessage>((resolve) => {
    void channel.consume(queue, (message) => message && resolve(message), { noAck: true }); // deliberate: resolved through `reply`
  });
  const body = {
    type: "command",
    name,
    category: "rpc",
    version: "2",
    fingerprint: { name: "order_client", type: "application", pid: "4242", host: "py-host", user: "alice", vhost: "/" },
    content: { parameters },
    _reserved: {},
  };
  channel.publish(exchange, key, Buffer.from(JSON.stringify(body)), { contentType: "application/json", replyTo: queue });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no reply to ${name} within 10 s`)), 10_000).unref());
  const message = await Promise.race([reply, timeout]);
  return { body: JSON.parse(message.content.toString("utf8")) as Record<string, unknown>, message };
}

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("the order demo on RabbitMQ", () => {
  const orderDemo = isolatedOrderDemo("order-demo");
  const { env, order } = orderDemo;
  let python: ChannelModel;
  let first: Program | undefined;
  let channel: Channel;

  beforeAll(async () => {
    ensureBuilt();
    python = await amqpConnect(RABBIT_URL);
    python.on("error", () => undefined); // an unhandled 'error' would crash the run; failures show in the tests
    channel = await python.createChannel();
  });

  afterAll(async () => {
    await killAll();
    await channel?.close();
    await python?.close();
    await orderDemo.remove();
  });

  it("walks one order through, printing each reply; shipping before paying is refused", async () => {
    const receiver = demo(["order", "receive"], env);
    first = receiver;
    await receiver.waitFor(READY);
    const sender = demo(["order", "send"], env);
    expect(await sender.exited, sender.output).toBe(0);
    expect(sender.stdout).toMatch(/rpc place .*\n.*success\s+state "open\.pending"\s+\(order "A-1001", total 21, paid 0\)/);
    expect(sender.stdout).toMatch(/rpc ship \{\}\n.*!!\s+error "cannot ship in state pending"/);
    expect(sender.stdout).toMatch(/rpc pay .*\n.*success\s+state "open\.paid"/);
    expect(sender.stdout).toMatch(/rpc ship \{"trackingId":"TRK-77"\}\n.*success\s+state "shipped" .*tracking "TRK-77"/);
    await receiver.waitFor(/ship: open\.paid -> shipped/);
  });

  it("is driven by a Python-Postage-style client: plain JSON, reply_to, no correlation id", async () => {
    const exchange = env.POSTAGE_DEMO_APP_EXCHANGE;
    const placed = await pythonCall(channel, exchange, order, "place", { orderId: "PY-7", items: [{ sku: "book", quantity: 1, price: 30 }] });
    // The reply is the result body Python Postage reads, sent without a correlation id.
    expect(placed.body).toMatchObject({ type: "result", category: "message", content: { type: "success", value: { state: "open.pending", context: { orderId: "PY-7", total: 30 } } } });
    expect(placed.message.properties.correlationId).toBeUndefined();
    const early = await pythonCall(channel, exchange, order, "ship", {});
    expect(early.body.content).toEqual({ type: "error", value: null, message: "cannot ship in state pending" });
    expect((await pythonCall(channel, exchange, order, "pay", { amount: 30 })).body.content).toMatchObject({ type: "success", value: { state: "open.paid" } });
    const status = await pythonCall(channel, exchange, order, "status", {});
    expect(status.body.content).toMatchObject({ type: "success", value: { state: "open.paid", context: { orderId: "PY-7", paid: 30 } } });
  });

  it("carries the order over a new receiver process and over `postage restart` (snapshot file), and `postage state` shows it", async () => {
    const onApps = ["--exchange", env.POSTAGE_DEMO_APP_EXCHANGE];
    const before = await postage(["state", order, "--json", "--timeout", WINDOW, ...onApps]);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ machine: "order", state: "open.paid", value: { open: "paid" }, context: { orderId: "PY-7", paid: 30 } });

    expect((await demo(["order", "quit"], env).exited)).toBe(0);
    // Gone before the next one starts: two receivers would both answer `postage state`.
    expect(await first?.exited, first?.output).toBe(0);
    const again = demo(["order", "receive"], env);
    await again.waitFor(READY);
    expect(again.stdout).toContain("in state open.paid");
    const after = await postage(["state", order, "--timeout", WINDOW, ...onApps]);
    expect(after.code, after.stderr).toBe(0);
    // Indented JSON for a reader.
    expect(after.stdout).toContain('\n  "state": "open.paid",\n');
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));

    const ps = await postage(["ps", "--timeout", WINDOW, ...onApps]);
    expect(ps.code, ps.stderr).toBe(0);
    const [header = "", ...rows] = ps.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+TYPE\s+STATE\s+PID\s+HOST\s+INSTANCE\s+GROUPS\s+BEHAVIOUR$/);
    expect(rows.filter((row) => row.startsWith(order))).toEqual([expect.stringMatching(/\scomponent\s+running\s.*\sopen\.paid$/)]);

    // `restart` replaces the process (the seed's default): the new run restores the order too.
    const restart = await postage(["restart", order, ...onApps]);
    expect(restart.code, restart.stderr).toBe(0);
    await again.waitFor(READY, { count: 2 });
    expect(again.stdout.match(/in state open\.paid/g)).toHaveLength(2);
    const restarted = await postage(["state", order, "--json", "--timeout", WINDOW, ...onApps]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(JSON.parse(restarted.stdout)).toEqual(JSON.parse(before.stdout));
    expect((await demo(["order", "quit"], env).exited)).toBe(0);
    expect(await again.exited, again.output).toBe(0);
  });
});
