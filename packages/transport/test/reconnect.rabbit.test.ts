import { defineExchange, SuccessResult, type CommandMessage } from "@postage/core";
import { type Broker, connect, createConsumer, createProducer, type HandlerOutcome, type Incoming } from "@postage/transport";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { Cleanup, forceCloseConnection, latch, RABBIT_URL, randomName, waitFor } from "./helpers.js";

/** Retries `attempt` until it resolves (publishes may fail while the connection is down). */
async function eventually<T>(attempt: () => Promise<T>, what: string, timeout = 30_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} kept failing`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Runs `test` with a broker of its own, named (so it can be force-closed), and cleans up after it. */
async function withNamedBroker(prefix: string, test: (broker: Broker, cleanup: Cleanup, connectionName: string) => Promise<void>): Promise<void> {
  const connectionName = randomName(prefix);
  const broker = connect({ url: RABBIT_URL, connectionName, shared: false, heartbeat: 0 });
  const cleanup = new Cleanup();
  try {
    await broker.ready();
    await test(broker, cleanup, connectionName);
  } finally {
    await cleanup.run(broker);
    await broker.close();
  }
}

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1" || process.getuid?.() !== 0)("after a lost connection (RabbitMQ)", () => {
  it("a private queue comes back with its run-time bindings, and RPC works again", async () => {
    await withNamedBroker("reconnect", async (broker, cleanup, connectionName) => {
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex")), durable: false });
      const received: Incoming[] = [];
      // A server-named exclusive queue: the broker deletes it with the connection, so its bindings
      // exist afterwards only if the consumer declares them again.
      const consumer = createConsumer(broker, { bindings: [[ex, [["", "initial"]]]] }, async (incoming): Promise<HandlerOutcome> => {
        received.push(incoming);
        if (incoming.reply) await incoming.reply(new SuccessResult((incoming.message as CommandMessage).parameters));
        return "ack";
      });
      await consumer.ready();
      const before = consumer.queues[0] ?? "";
      await consumer.bind(ex, before, "added");

      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);

      const producer = createProducer(broker, { exchanges: [[ex, "added"]], commands: ["ping", "echo"] });
      // Mandatory publishes fail (UNROUTABLE, CONNECTION_LOST) until the queue and binding are back.
      await eventually(() => producer.message.ping(), "publishing on the run-time binding");
      await waitFor(() => received.some((incoming) => incoming.message.name === "ping"), "the message on the run-time binding");
      expect(consumer.queues[0]).not.toBe(before);
      const reply = await eventually(() => producer.to({ timeout: 5_000, retries: 0 }).rpc.echo("again"), "an RPC call");
      expect(reply.value).toBe("again");
    });
  });

  it.each(["shared", "direct"] as const)("%s mode: RPC calls whose reply channel died are sent again at once on the new one, not at their timeout", async (replyMode) => {
    const connectionName = randomName("reconnect-rpc");
    const client = connect({ url: RABBIT_URL, connectionName, shared: false, heartbeat: 0 });
    const server = connect({ url: RABBIT_URL, shared: false, heartbeat: 0 });
    const cleanup = new Cleanup();
    try {
      await Promise.all([client.ready(), server.ready()]);
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex")), durable: false });
      const seen: Array<{ id: string | undefined; n: unknown; replyTo: string | undefined }> = [];
      const { wait: released, open: release } = latch();
      // The server holds the first delivery of each call until the client's connection is gone:
      // its reply then goes to a reply channel that no longer exists, and is lost.
      const consumer = createConsumer(server, { prefetch: 10, bindings: [[ex, [["", "rpc"]]]] }, async (incoming): Promise<HandlerOutcome> => {
        const id = incoming.delivery.properties.messageId;
        const again = seen.some((s) => s.id === id);
        seen.push({ id, n: (incoming.message as CommandMessage).parameters, replyTo: incoming.delivery.properties.replyTo });
        if (!again) await released;
        await incoming.reply?.(new SuccessResult((incoming.message as CommandMessage).parameters));
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(client, { exchanges: [[ex, "rpc"]], rpc: { replyMode } });
      // One attempt of ten minutes: only an immediate re-send can answer these within the test's timeout.
      const calls = [1, 2, 3].map((n) => producer.to({ timeout: 600_000, retries: 0 }).call("echo", n));
      await waitFor(() => seen.length === 3, "the three requests");
      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);
      release();
      const results = await Promise.all(calls);
      expect(results.map((result) => [result.ok, result.value])).toEqual([
        [true, 1],
        [true, 2],
        [true, 3],
      ]);
      expect(producer.stats.rpc).toMatchObject({ calls: 3, retries: 0, resent: 3, timeouts: 0 });
      // Each request was seen again under its own message id.
      const ids = seen.map((s) => s.id);
      expect(new Set(ids).size).toBe(3);
      expect(ids.length).toBe(6);
      // Sent again to where replies now come: a new reply queue (shared), or the new channel's direct reply-to.
      const [before, after] = [new Set(seen.slice(0, 3).map((s) => s.replyTo)), new Set(seen.slice(3).map((s) => s.replyTo))];
      expect([before.size, after.size]).toEqual([1, 1]);
      expect([...after][0]).not.toBe([...before][0]);
      expect([...after][0]).toMatch(replyMode === "shared" ? /^amq\.gen-/ : /^amq\.rabbitmq\.reply-to\./);
      await producer.close();
      await consumer.close();
    } finally {
      await cleanup.run(server);
      await Promise.all([client.close(), server.close()]);
    }
  });

  it("an RPC call made as the connection drops gets its reply: a return while the server's queue is not back yet is retried, not UNROUTABLE", async () => {
    // Client and server share the connection: the server's exclusive queue dies with it and is declared again after the reconnect.
    await withNamedBroker("reconnect-rpc-return", async (broker, cleanup, connectionName) => {
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex")), durable: false });
      const consumer = createConsumer(broker, { bindings: [[ex, [["", "rpc"]]]] }, async (incoming): Promise<HandlerOutcome> => {
        await incoming.reply?.(new SuccessResult((incoming.message as CommandMessage).parameters));
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(broker, { exchanges: [[ex, "rpc"]] });
      expect((await producer.to({ timeout: 600_000, retries: 0 }).call("echo", "before")).value).toBe("before");
      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);
      // No retry around it: the call itself must ride out the outage.
      const results = await Promise.all([1, 2, 3].map((n) => producer.to({ timeout: 600_000, retries: 0 }).call("echo", n)));
      expect(results.map((result) => result.value)).toEqual([1, 2, 3]);
      await producer.close();
      await consumer.close();
    });
  });

  /**
   * The race the test above loses under load: a call whose request is written on the new
   * connection while its server (here: on a connection of its own) has not declared its binding
   * again yet. `dropAndCall` loses the client's connection and makes the call at its moment (in an
   * object: an async function would otherwise await the call it returns).
   */
  async function callWhileServerRebinds(
    prefix: string,
    dropAndCall: (broker: Broker, connectionName: string, call: () => Promise<unknown>) => Promise<{ pending: Promise<unknown> }>,
  ): Promise<void> {
    await withNamedBroker(prefix, async (broker, cleanup, connectionName) => {
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex")), durable: false });
      const server = connect({ url: RABBIT_URL, shared: false });
      const echo = async (incoming: Incoming): Promise<HandlerOutcome> => {
        await incoming.reply?.(new SuccessResult((incoming.message as CommandMessage).parameters));
        return "ack";
      };
      const early = createConsumer(server, { bindings: [[ex, [["", "early"]]]] }, echo);
      let late: ReturnType<typeof createConsumer> | undefined;
      try {
        await early.ready();
        const producer = createProducer(broker, { exchanges: [[ex, "early"]] });
        expect((await producer.to({ timeout: 30_000, retries: 0 }).call("echo", "before")).value).toBe("before");
        const call = () => {
          const pending = producer.to({ key: "late", timeout: 30_000, retries: 0 }).call("echo", "after");
          pending.catch(() => undefined); // awaited below; not unhandled meanwhile
          return pending;
        };
        const { pending } = await dropAndCall(broker, connectionName, call);
        // Bound a little later, as a server still re-declaring after the same outage would be.
        await new Promise((resolve) => setTimeout(resolve, 500));
        late = createConsumer(server, { bindings: [[ex, [["", "late"]]]] }, echo);
        await late.ready();
        expect(await pending).toMatchObject({ value: "after" });
        await producer.close();
      } finally {
        await late?.close();
        await early.close();
        await server.close();
      }
    });
  }

  it("an RPC call made just after a reconnect, before its server is bound again, gets its reply rather than UNROUTABLE", async () => {
    await callWhileServerRebinds("reconnect-rpc-late", async (broker, connectionName, call) => {
      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);
      await waitFor(() => !broker.driver.connected, "the client to see its connection drop");
      await waitFor(() => broker.driver.connected, "the client to reconnect");
      return { pending: call() };
    });
  });

  it("an RPC call made as its socket dies, written after the reconnect and returned before its server is bound again, gets its reply", async () => {
    await callWhileServerRebinds("reconnect-rpc-dying", async (broker, _connectionName, call) => {
      // The socket dies (as on a network reset) and the call is made in the same turn: the library
      // has not seen the close yet, so the request waits for a channel and goes out on the new connection.
      const socket = (broker.driver as unknown as { connection: { _socket: Socket } }).connection._socket;
      socket.destroy();
      return { pending: call() };
    });
  });

  it("without acks, what the handler held when the connection died is not delivered again, and the consumer subscribes again", async () => {
    await withNamedBroker("reconnect-noack", async (broker, cleanup, connectionName) => {
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex")), durable: false });
      const name = cleanup.queue(randomName("q"));
      const seen: Array<{ n: unknown; redelivered: boolean }> = [];
      const { wait: gate, open: release } = latch();
      const consumer = createConsumer(broker, { noAck: true, prefetch: 2, bindings: [[ex, [[{ name, durable: true }, "k"]]]] }, async ({ message, delivery }): Promise<HandlerOutcome> => {
        seen.push({ n: (message as CommandMessage).parameters, redelivered: delivery.redelivered });
        await gate;
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(broker, { exchanges: [[ex, "k"]], commands: ["n"] });
      await producer.message.n(0);
      await producer.message.n(1);
      await waitFor(() => seen.length === 2, "a full window");
      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);
      await waitFor(() => !broker.driver.connected, "the client to see its connection drop");
      await waitFor(() => broker.driver.connected, "the client to reconnect");
      for (let n = 2; n < 6; n += 1) await eventually(() => producer.message.n(n), "publishing after the reconnect");
      release();
      await waitFor(() => seen.length === 6, "the rest, once the handler let go");
      expect(seen.map((s) => s.n).sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(seen.some((s) => s.redelivered)).toBe(false);
      await consumer.close();
    });
  });

  it("aborts the signal of deliveries whose channel died, and consumes again without waiting for their handlers", async () => {
    await withNamedBroker("reconnect-signal", async (broker, cleanup, connectionName) => {
      const ex = defineExchange({ name: cleanup.exchange(randomName("ex")), durable: false });
      const name = cleanup.queue(randomName("q"));
      const deliveries: Array<{ n: unknown; redelivered: boolean }> = [];
      let abandoned = 0;
      const consumer = createConsumer(broker, { prefetch: 5, bindings: [[ex, [[{ name, durable: true }, "k"]]]] }, async ({ message, delivery }): Promise<HandlerOutcome> => {
        deliveries.push({ n: (message as CommandMessage).parameters, redelivered: delivery.redelivered });
        if (delivery.redelivered) return "ack";
        // First deliveries wait for their channel to die (a handler far longer than the outage).
        const signal = delivery.signal;
        if (signal === undefined) throw new Error("no signal");
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        abandoned += 1;
        return "ack";
      });
      await consumer.ready();
      const producer = createProducer(broker, { exchanges: [[ex, "k"]], commands: ["n"] });
      for (let n = 0; n < 3; n += 1) await producer.message.n(n);
      await waitFor(() => deliveries.length === 3, "three deliveries");
      expect(await forceCloseConnection(connectionName)).toBeGreaterThan(0);
      await waitFor(() => abandoned === 3, "the three signals to abort");
      await waitFor(() => deliveries.filter((d) => d.redelivered).length === 3, "the three redelivered on the new channel");
      await consumer.close();
    });
  });
});
