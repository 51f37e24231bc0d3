import { defineExchange, type CommandMessage } from "@postage/core";
import { connect, createConsumer, createProducer, RabbitDriver, resolveConnectionSettings, type HandlerOutcome, type TransportError } from "@postage/transport";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup, RABBIT_URL, randomName, waitFor } from "./helpers.js";

/**
 * The producer's fast mode (`confirm: false`) on RabbitMQ: a command resolves once written, and a
 * mandatory one that no queue takes is still reported (through the driver's `onError`), since the
 * broker's `basic.return` needs no confirm mode. (On the memory broker `confirm` changes nothing.)
 */
describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("producer fast mode, no publisher confirms (RabbitMQ)", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  const open = () => {
    const errors: TransportError[] = [];
    const settings = resolveConnectionSettings({ url: RABBIT_URL, heartbeat: 0 }, {});
    if (settings.transport !== "amqp") throw new Error("expected amqp settings");
    const broker = connect({ driver: new RabbitDriver(settings, { onError: (error) => errors.push(error) }) });
    const cleanup = new Cleanup();
    closers.push(async () => {
      await cleanup.run(broker);
      await broker.close();
    });
    return { broker, errors, cleanup };
  };

  it("commands arrive in order, each publish resolving once written", async () => {
    const { broker, cleanup } = open();
    const ex = defineExchange({ name: cleanup.exchange(randomName("fast")), type: "direct", durable: false });
    const received: unknown[] = [];
    const consumer = createConsumer(broker, { bindings: [[ex, [[cleanup.queue(randomName("fast")), "k"]]]] }, async ({ message }): Promise<HandlerOutcome> => {
      received.push((message as CommandMessage).parameters);
      return "ack";
    });
    await consumer.ready();
    const producer = createProducer(broker, { exchanges: [[ex, "k"]], confirm: false });
    const sent = Array.from({ length: 200 }, (_, i) => i);
    await Promise.all(sent.map((i) => producer.command("n", i)));
    expect(producer.stats.sent).toBe(200);
    await waitFor(() => received.length === 200, "the 200 commands");
    expect(received).toEqual(sent);
    await consumer.close();
  });

  it("an unroutable mandatory command resolves, and its return is reported as UNROUTABLE", async () => {
    const { broker, errors, cleanup } = open();
    const ex = defineExchange({ name: cleanup.exchange(randomName("fast-nobody")), type: "direct", durable: false });
    const producer = createProducer(broker, { exchanges: [[ex, "nobody"]], confirm: false });
    await expect(producer.command("lost")).resolves.toBeUndefined();
    await waitFor(() => errors.length > 0, "the return to be reported");
    expect(errors.map((error) => [error.code, error.exchange, error.routingKey])).toEqual([["UNROUTABLE", ex.name, "nobody"]]);
    // Not mandatory: dropped silently. (Returns come in publish order: the next mandatory one's return proves it.)
    await producer.to({ mandatory: false }).command("dropped");
    await producer.to({ key: "nobody-either" }).command("lost");
    await waitFor(() => errors.length > 1, "the second return to be reported");
    expect(errors.map((error) => error.routingKey)).toEqual(["nobody", "nobody-either"]);
    await producer.close();
  });
  it("a stream queue asked to be consumed without acks keeps its acks (RabbitMQ refuses no-ack consumers there)", async () => {
    const { broker, cleanup } = open();
    const ex = defineExchange({ name: cleanup.exchange(randomName("fast")), type: "direct", durable: false });
    const name = cleanup.queue(randomName("fast-stream"));
    const signalled: boolean[] = [];
    const consumer = createConsumer(broker, { noAck: true, bindings: [[ex, [[{ name, durable: true, arguments: { "x-queue-type": "stream" } }, "k"]]]] }, ({ delivery }): HandlerOutcome => {
      signalled.push(delivery.signal !== undefined);
      return "ack";
    });
    await consumer.ready();
    await createProducer(broker, { exchanges: [[ex, "k"]] }).command("n", 1);
    await waitFor(() => signalled.length === 1, "the message");
    // Acked: its delivery has a signal, as any acked delivery.
    expect(signalled).toEqual([true]);
    await consumer.close();
  });
});
