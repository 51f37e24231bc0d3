import {
  CommandMessage,
  defineExchange,
  ErrorResult,
  ExceptionResult,
  Fingerprint,
  ResultMessage,
  StatusMessage,
  SuccessResult,
  type ExchangeDefinition,
  type ExchangeType,
  type Message,
} from "@postage/core";
import {
  createConsumer,
  createProducer,
  reject,
  TransportError,
  type Broker,
  type Consumer,
  type ConsumerOptions,
  type HandlerOutcome,
  type Incoming,
  type MessageHandler,
} from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Cleanup, latch, randomName, rawCollect, utf8, waitFor } from "./helpers.js";
import { defineBrowseContract } from "./browseContract.js";
import { defineNoAckContract } from "./noAckContract.js";
import { defineQueueDeletedContract } from "./queueDeletedContract.js";

/** Makes a broker handle for one test (closed by the suite). */
export type MakeBroker = (options?: { debug?: boolean; logger?: (line: string) => void }) => Broker;

/**
 * The transport contract: what Producer, Consumer and RPC guarantee on any driver. Run by
 * `contract.memory.test.ts` and `contract.rabbit.test.ts`, so the two drivers cannot drift.
 */
export function defineContractSuite(name: string, makeBroker: MakeBroker): void {
  describe(`transport contract: ${name}`, () => {
    let broker: Broker;
    let cleanup: Cleanup;
    const extraBrokers: Broker[] = [];

    beforeEach(async () => {
      broker = makeBroker();
      cleanup = new Cleanup();
      await broker.ready({ timeout: 10_000 });
    });

    afterEach(async () => {
      const janitor = makeBroker();
      await broker.close();
      for (const extra of extraBrokers.splice(0)) await extra.close();
      await cleanup.run(janitor);
      await janitor.close();
    });

    const exchange = (type: ExchangeType = "direct", options: { durable?: boolean } = {}): ExchangeDefinition =>
      defineExchange({ name: cleanup.exchange(randomName(`ex-${type}`)), type, durable: options.durable ?? false });

    const queue = (prefix = "q"): string => cleanup.queue(randomName(prefix));

    /** A consumer that records every message and acks it. */
    const recorder = (
      target: Broker,
      bindings: NonNullable<ConsumerOptions["bindings"]>,
      more: Omit<ConsumerOptions, "bindings"> = {},
      handler?: MessageHandler,
    ): { consumer: Consumer; received: Incoming[] } => {
      const received: Incoming[] = [];
      const consumer = createConsumer(target, { ...more, bindings }, async (incoming) => {
        received.push(incoming);
        return handler ? handler(incoming) : "ack";
      });
      return { consumer, received };
    };

    const names = (received: Incoming[]): string[] => received.map((incoming) => incoming.message.name);

    describe("routing", () => {
      it("direct: delivers by exact routing key", async () => {
        const ex = exchange("direct");
        const { consumer, received } = recorder(broker, [[ex, [[queue(), "a"]]]]);
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["skipped", "wanted"], exchanges: [[ex, "a"]], mandatory: false });
        await producer.to({ key: "b" }).message.skipped();
        await producer.message.wanted({ n: 1 });
        await waitFor(() => received.length >= 1, "the message on key a");
        // Same publisher, same queue: had "b" been routed, it would have arrived first.
        expect(names(received)).toEqual(["wanted"]);
        expect(received[0]?.message).toBeInstanceOf(CommandMessage);
        expect((received[0]?.message as CommandMessage).parameters).toEqual({ n: 1 });
        expect(received[0]?.delivery.routingKey).toBe("a");
        expect(received[0]?.delivery.exchange).toBe(ex.name);
      });

      it("fanout: every bound queue gets each message, whatever the key", async () => {
        const ex = exchange("fanout");
        const one = recorder(broker, [[ex, [[queue(), ""]]]]);
        const two = recorder(broker, [[ex, [[queue(), "ignored"]]]]);
        await Promise.all([one.consumer.ready(), two.consumer.ready()]);
        const producer = createProducer(broker, { commands: ["hello"], exchanges: [[ex, "any-key"]] });
        await producer.message.hello();
        await waitFor(() => one.received.length === 1 && two.received.length === 1, "both fanout queues");
        expect(names(one.received)).toEqual(["hello"]);
        expect(names(two.received)).toEqual(["hello"]);
      });

      it("topic: * matches one word, # zero or more", async () => {
        const ex = exchange("topic");
        const q = queue();
        const { consumer, received } = recorder(broker, [[ex, [[q, "log.*"], [q, "#.error"]]]]);
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["log", "last"], exchanges: [[ex, "unused"]], mandatory: false });
        for (const key of ["log.info", "log.info.deep", "disk.full.error", "error", "other"]) {
          await producer.to({ key }).message.log(key);
        }
        await producer.to({ key: "log.last" }).message.last();
        await waitFor(() => received.some((incoming) => incoming.message.name === "last"), "the last topic message");
        expect(received.map((incoming) => (incoming.message as CommandMessage).parameters ?? incoming.message.name)).toEqual([
          "log.info",
          "disk.full.error",
          "error",
          {},
        ]);
      });

      it("headers: a binding without match arguments receives every message", async () => {
        const ex = exchange("headers");
        const { consumer, received } = recorder(broker, [[ex, [[queue(), ""]]]]);
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["any"], exchanges: [[ex, "whatever"]] });
        await producer.message.any();
        await waitFor(() => received.length === 1, "the headers-exchange message");
        expect(names(received)).toEqual(["any"]);
      });

      it("eks: one send goes to every exchange/key couple; .to({ eks }) wins over key", async () => {
        const first = exchange("direct");
        const second = exchange("direct");
        const one = recorder(broker, [[first, [[queue(), "k1"]]]]);
        const two = recorder(broker, [[second, [[queue(), "k2"]]]]);
        await Promise.all([one.consumer.ready(), two.consumer.ready()]);
        const producer = createProducer(broker, { commands: ["both", "onlySecond"], exchanges: [[first, "k1"], [second, "k2"]] });
        await producer.message.both();
        await producer.to({ key: "k1", eks: [[second, "k2"]] }).message.onlySecond();
        await waitFor(() => one.received.length === 1 && two.received.length === 2, "deliveries on both exchanges");
        expect(names(one.received)).toEqual(["both"]);
        expect(names(two.received)).toEqual(["both", "onlySecond"]);
      });

      it("round robin: two consumers on one queue share the messages", async () => {
        const ex = exchange("direct");
        const shared = queue("rr");
        const one = recorder(broker, [[ex, [[shared, "work"]]]], { prefetch: 1 });
        const two = recorder(broker, [[ex, [[shared, "work"]]]], { prefetch: 1 });
        await Promise.all([one.consumer.ready(), two.consumer.ready()]);
        const producer = createProducer(broker, { commands: ["job"], exchanges: [[ex, "work"]] });
        for (let i = 0; i < 10; i++) await producer.message.job(i);
        await waitFor(() => one.received.length + two.received.length === 10, "ten jobs");
        expect(one.received.length).toBeGreaterThan(0);
        expect(two.received.length).toBeGreaterThan(0);
        const jobs = [...one.received, ...two.received].map((incoming) => (incoming.message as CommandMessage).parameters as number);
        expect(jobs.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      });

      it("private queues: each consumer's server-named queue gets every message (fan-out)", async () => {
        const ex = exchange("direct");
        const one = recorder(broker, [[ex, [["", "news"]]]]);
        const two = recorder(broker, [[ex, [["", "news"]]]]);
        await Promise.all([one.consumer.ready(), two.consumer.ready()]);
        expect(one.consumer.queues).toHaveLength(1);
        expect(one.consumer.queues[0]).not.toBe("");
        expect(one.consumer.queues[0]).not.toBe(two.consumer.queues[0]);
        const producer = createProducer(broker, { commands: ["extra"], exchanges: [[ex, "news"]] });
        await producer.message.extra();
        await waitFor(() => one.received.length === 1 && two.received.length === 1, "both private queues");
        await one.consumer.close();
        await two.consumer.close();
      });

      it("bind and unbind at run time", async () => {
        const ex = exchange("direct");
        const q = queue();
        const { consumer, received } = recorder(broker, [[ex, [[q, "k1"]]]]);
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["viaK2", "unbound", "viaK1", "viaK3"], exchanges: [[ex, "k1"]], mandatory: false });
        await consumer.bind(ex, q, "k2");
        await producer.to({ key: "k2" }).message.viaK2();
        await waitFor(() => received.length === 1, "the message on the runtime binding");
        await consumer.unbind(ex, q, "k2");
        await producer.to({ key: "k2" }).message.unbound();
        await producer.message.viaK1();
        await waitFor(() => received.length === 2, "the message on k1");
        expect(names(received)).toEqual(["viaK2", "viaK1"]);

        // A queue not consumed yet is declared and consumed by bind.
        const later = queue("later");
        await consumer.bind(ex, later, "k3");
        expect(consumer.queues).toContain(later);
        await producer.to({ key: "k3" }).message.viaK3();
        await waitFor(() => received.length === 3, "the message on the new queue");
        expect(received[2]?.delivery.routingKey).toBe("k3");

        // removeQueue stops consuming it but leaves its bindings.
        await consumer.removeQueue(later);
        expect(consumer.queues).not.toContain(later);
      });

      it("bindings of a server-named queue can be added by its broker name", async () => {
        const ex = exchange("direct");
        const { consumer, received } = recorder(broker, [[ex, [["", "a"]]]]);
        await consumer.ready();
        const actual = consumer.queues[0] ?? "";
        await consumer.bind(ex, actual, "b");
        const producer = createProducer(broker, { commands: ["onB"], exchanges: [[ex, "b"]] });
        await producer.message.onB();
        await waitFor(() => received.length === 1, "the message on b");
        expect(consumer.queues).toEqual([actual]);
      });
    });

    describe("producer", () => {
      it("stamps the fingerprint, sets content type, a message id and persistence", async () => {
        const ex = exchange("direct");
        const { consumer, received } = recorder(broker, [[ex, [[queue(), "k"]]]]);
        await consumer.ready();
        const fingerprint = new Fingerprint({ name: "tester", type: "application", pid: "1", host: "h", user: "u", vhost: "/" });
        const producer = createProducer(broker, { commands: ["first", "second"], exchanges: [[ex, "k"]], fingerprint });
        await producer.message.first();
        await producer.message.second();
        await waitFor(() => received.length === 2, "two messages");
        const [one, two] = received;
        expect(one?.message.fingerprint).toEqual(fingerprint.toDict());
        expect(one?.delivery.properties.contentType).toBe("application/json");
        expect(one?.delivery.properties.persistent).toBe(true);
        expect(one?.delivery.properties.messageId).toMatch(/.{10,}/);
        expect(one?.delivery.properties.messageId).not.toBe(two?.delivery.properties.messageId);
        expect(producer.stats.sent).toBe(2);
      });

      it("typed builders, generic messages and forwarding", async () => {
        const ex = exchange("direct");
        const { consumer, received } = recorder(broker, [[ex, [[queue(), "k"]]]]);
        await consumer.ready();
        const producer = createProducer(broker, {
          exchanges: [[ex, "k"]],
          builders: { message: { online: () => new StatusMessage("online"), sum: (a: number, b: number) => new CommandMessage("sum", { a, b }) } },
        });
        await producer.message.online();
        await producer.message.sum(5, 6);
        await producer.command("plain", [1, 2]);
        await producer.generic([1, "str"], { values: [1, 2, 3] });
        await producer.forward({ type: "command", name: "relayed", category: "message", version: "2", fingerprint: { name: "origin" }, content: { parameters: {} }, _reserved: {} });
        await waitFor(() => received.length === 5, "five messages");
        expect(received.map((incoming) => `${incoming.message.type}/${incoming.message.name}`)).toEqual([
          "status/online",
          "command/sum",
          "command/plain",
          "none/none",
          "command/relayed",
        ]);
        expect(received[1]?.message.content).toEqual({ parameters: { a: 5, b: 6 } });
        expect(received[3]?.message.content).toEqual({ args: [1, "str"], kwds: { values: [1, 2, 3] } });
        expect(received[4]?.message.fingerprint).toEqual({ name: "origin" });
      });

      it("an unroutable mandatory message fails with UNROUTABLE; not mandatory, it is dropped", async () => {
        const ex = exchange("direct");
        await broker.declareExchange(ex);
        const producer = createProducer(broker, { commands: ["lost", "dropped"], exchanges: [[ex, "nobody"]] });
        const error = await producer.message.lost().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(TransportError);
        expect((error as TransportError).code).toBe("UNROUTABLE");
        await expect(producer.to({ mandatory: false }).message.dropped()).resolves.toBeUndefined();
        const fireAndForget = createProducer(broker, { commands: ["lost", "dropped"], exchanges: [[ex, "nobody"]], mandatory: false, confirm: false });
        await expect(fireAndForget.message.dropped()).resolves.toBeUndefined();
      });

      it("a missing (passive) exchange fails with EXCHANGE_NOT_FOUND", async () => {
        const missing = defineExchange({ name: randomName("missing"), passive: true });
        const producer = createProducer(broker, { commands: ["nowhere"], exchanges: [[missing, "k"]] });
        const error = await producer.message.nowhere().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(TransportError);
        expect((error as TransportError).code).toBe("EXCHANGE_NOT_FOUND");
      });

      it("an exchange deleted after its declaration fails the publish, then is declared again", async () => {
        const ex = exchange("fanout");
        const q = queue();
        const producer = createProducer(broker, { commands: ["first", "second", "third"], exchanges: [[ex, ""]], mandatory: false });
        await producer.message.first();
        await broker.driver.deleteExchange(ex.name);
        const error = await producer.message.second().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(TransportError);
        expect((error as TransportError).code).toBe("EXCHANGE_NOT_FOUND");
        const { consumer, received } = recorder(broker, [[ex, [[q, ""]]]]);
        await consumer.ready();
        await producer.message.third();
        await waitFor(() => received.length === 1, "the message after re-declaration");
        expect(names(received)).toEqual(["third"]);
      });

      it("no routing at all is a NO_ROUTE error", async () => {
        const producer = createProducer(broker, { commands: ["x"], });
        await expect(producer.message.x()).rejects.toMatchObject({ code: "NO_ROUTE" });
      });
    });

    describe("dead-lettering", () => {
      const deadLetter = (): { deadLetterExchange: string; deadLetterQueue: string } => ({
        deadLetterExchange: cleanup.exchange(randomName("dlx")),
        deadLetterQueue: cleanup.queue(randomName("dlq")),
      });

      it("undecodable bodies go to the dead-letter exchange with the reason, and are acked", async () => {
        const ex = exchange("direct");
        const q = queue();
        const dl = deadLetter();
        const { consumer, received } = recorder(broker, [[ex, [[q, "k"]]]], dl);
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["valid"], exchanges: [[ex, "k"]] });
        await producer.forward(new TextEncoder().encode("this is not json"));
        await producer.forward(new TextEncoder().encode(JSON.stringify({ type: "command", name: "x" })));
        await producer.message.valid();
        await waitFor(() => received.length === 1 && consumer.counters.deadLettered === 2, "one message and two dead letters");
        expect(consumer.counters).toMatchObject({ received: 3, handled: 1, invalid: 2, rejected: 0 });
        const dlq = rawCollect(broker, dl.deadLetterQueue);
        await waitFor(() => dlq.deliveries.length === 2, "two dead-lettered copies");
        const [notJson, incomplete] = dlq.deliveries;
        expect(utf8(notJson?.body ?? new Uint8Array())).toBe("this is not json");
        expect(notJson?.properties.headers).toMatchObject({
          "x-postage-error": "NOT_JSON",
          "x-original-exchange": ex.name,
          "x-original-routing-key": "k",
        });
        expect(String(notJson?.properties.headers?.["x-postage-reason"])).toMatch(/JSON/);
        expect(incomplete?.properties.headers?.["x-postage-error"]).toBe("MISSING_KEY");
        await dlq.close();
        // The originals were acked: nothing is left in the queue.
        await consumer.close();
        const { messageCount } = await broker.driver.declareQueue({ name: q });
        expect(messageCount).toBe(0);
      });

      it("messages the handler rejects or throws on are dead-lettered with the reason", async () => {
        const ex = exchange("direct");
        const dl = deadLetter();
        const { consumer } = recorder(broker, [[ex, [[queue(), "k"]]]], dl, ({ message }) => {
          if (message.name === "refuse") return reject("not today", "E_REFUSED");
          if (message.name === "plain") return "reject";
          if (message.name === "boom") throw new RangeError("out of range");
          return "ack";
        });
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["refuse", "plain", "boom", "fine"], exchanges: [[ex, "k"]] });
        await producer.message.refuse();
        await producer.message.plain();
        await producer.message.boom();
        await producer.message.fine();
        await waitFor(() => consumer.counters.handled === 1 && consumer.counters.deadLettered === 3, "three dead letters");
        expect(consumer.counters).toMatchObject({ received: 4, handled: 1, rejected: 3, invalid: 0 });
        const dlq = rawCollect(broker, dl.deadLetterQueue);
        await waitFor(() => dlq.deliveries.length === 3, "three dead-lettered copies");
        const headers = dlq.deliveries.map((delivery) => delivery.properties.headers ?? {});
        expect(headers.map((h) => h["x-postage-error"])).toEqual(["E_REFUSED", "REJECTED", "HANDLER_ERROR"]);
        expect(headers[0]?.["x-postage-reason"]).toBe("not today");
        expect(String(headers[2]?.["x-postage-reason"])).toBe("RangeError: out of range");
        expect(JSON.parse(utf8(dlq.deliveries[0]?.body ?? new Uint8Array())).name).toBe("refuse");
        await dlq.close();
      });
    });

    describe("rpc", () => {
      /** An RPC server replying with `answer(message)`; records requests and their deliveries. */
      const rpcServer = async (
        target: Broker,
        answer: (message: Message, attempt: number, incoming: Incoming) => Message | undefined,
      ): Promise<{ ex: ExchangeDefinition; seen: Incoming[]; consumer: Consumer }> => {
        const ex = exchange("direct");
        const seen: Incoming[] = [];
        const consumer = createConsumer(target, { bindings: [[ex, [[queue("rpc"), "rpc"]]]] }, async (incoming): Promise<HandlerOutcome> => {
          seen.push(incoming);
          const result = answer(incoming.message, seen.length, incoming);
          if (result !== undefined) await incoming.reply?.(result);
          return "ack";
        });
        await consumer.ready();
        return { ex, seen, consumer };
      };

      it("success, error and exception results come back typed", async () => {
        const server = await rpcServer(broker, (message) => {
          const parameters = (message as CommandMessage).parameters;
          if (message.name === "echo") return new SuccessResult(parameters, "echoed");
          if (message.name === "fail") return new ErrorResult("bad input");
          return new ExceptionResult("ValueError", "no such command");
        });
        const producer = createProducer(broker, { commands: ["echo", "fail"], exchanges: [[server.ex, "rpc"]] });
        const success = await producer.rpc.echo({ text: "hi" });
        expect(success).toBeInstanceOf(SuccessResult);
        expect(success.ok).toBe(true);
        expect(success.value).toEqual({ text: "hi" });
        expect(success.message).toBe("echoed");
        const error = await producer.rpc.fail();
        expect(error).toBeInstanceOf(ErrorResult);
        expect(error.ok).toBe(false);
        expect(error.message).toBe("bad input");
        const exception = await producer.call("unknown", 1);
        expect(exception).toBeInstanceOf(ExceptionResult);
        expect(exception.value).toBe("ValueError");
        expect(server.seen.map((incoming) => incoming.message.category)).toEqual(["rpc", "rpc", "rpc"]);
        expect(server.seen[0]?.delivery.properties.replyTo).toBeTruthy();
        expect(server.seen[0]?.delivery.properties.correlationId).toBeTruthy();
        expect(producer.stats.rpc).toMatchObject({ calls: 3, replies: 3, timeouts: 0, dropped: 0 });
      });

      it("RPC requests go transient unless the producer or the send asks for persistence; commands stay persistent", async () => {
        const server = await rpcServer(broker, (message) => new SuccessResult((message as CommandMessage).parameters));
        const plain = createProducer(broker, { commands: ["echo"], exchanges: [[server.ex, "rpc"]] });
        const persistentProducer = createProducer(broker, { commands: ["echo"], exchanges: [[server.ex, "rpc"]], persistent: true });
        expect((await plain.rpc.echo(1)).ok).toBe(true);
        expect((await plain.to({ persistent: true }).call("echo", 2)).ok).toBe(true);
        expect((await persistentProducer.rpc.echo(3)).ok).toBe(true);
        await plain.message.echo(4);
        await waitFor(() => server.seen.length === 4, "three requests and a command");
        expect(server.seen.map((incoming) => [incoming.message.category, incoming.delivery.properties.persistent === true])).toEqual([
          ["rpc", false],
          ["rpc", true],
          ["rpc", true],
          ["message", true],
        ]);
      });

      it("client and server on separate connections; concurrent calls are matched by correlation id", async () => {
        const serverBroker = makeBroker();
        extraBrokers.push(serverBroker);
        const server = await rpcServer(serverBroker, (message) => new SuccessResult((message as CommandMessage).parameters));
        const producer = createProducer(broker, { commands: ["square"], exchanges: [[server.ex, "rpc"]] });
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.rpc.square(i)));
        expect(results.map((result) => result.value)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      });

      it("typed RPC builders", async () => {
        const server = await rpcServer(broker, (message) => {
          const { a, b } = (message as CommandMessage).parameters as { a: number; b: number };
          return new SuccessResult(a + b);
        });
        const producer = createProducer(broker, {
          exchanges: [[server.ex, "rpc"]],
          builders: { rpc: { sum: (a: number, b: number) => new CommandMessage("sum", { a, b }) } },
        });
        const result = await producer.rpc.sum(2, 3);
        expect(result.value).toBe(5);
        // The builder made a plain command: the RPC path sends its rpc form.
        expect(server.seen[0]?.message.category).toBe("rpc");
      });

      it("a request no queue takes fails with UNROUTABLE at once, not at its timeout (no publisher confirms needed)", async () => {
        const ex = exchange("direct");
        await broker.declareExchange(ex);
        // Windows far longer than the test's own timeout: only the broker's return can end these calls in time.
        const producer = createProducer(broker, { commands: ["nobody"], exchanges: [[ex, "unbound"]], rpc: { timeout: 600_000, retries: 4 } });
        for (const confirm of [true, false]) {
          const viaProducer = confirm ? producer : createProducer(broker, { commands: ["nobody"], exchanges: [[ex, "unbound"]], confirm, rpc: { timeout: 600_000 } });
          const error = await viaProducer.rpc.nobody().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(TransportError);
          expect((error as TransportError).code).toBe("UNROUTABLE");
          expect(viaProducer.stats.rpc).toMatchObject({ calls: 1, retries: 0, timeouts: 0 });
        }
        // rpcQueued may resolve once written (direct reply-to sends without confirms): then reply() rejects.
        const error = await producer.rpcQueued.nobody().then(
          (pending) => pending.reply(),
          (e: unknown) => Promise.reject(e),
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((error as TransportError | undefined)?.code).toBe("UNROUTABLE");
      });

      it("a call to an exchange deleted after its declaration fails promptly; once bound again, calls work", async () => {
        const server = await rpcServer(broker, (message) => new SuccessResult((message as CommandMessage).parameters));
        const producer = createProducer(broker, { commands: ["echo"], exchanges: [[server.ex, "rpc"]], rpc: { timeout: 600_000 } });
        expect((await producer.rpc.echo(1)).value).toBe(1);
        await broker.driver.deleteExchange(server.ex.name); // the server's binding goes with it
        const error = await producer.rpc.echo(2).then(
          () => undefined,
          (e: unknown) => e,
        );
        // RabbitMQ closes the channel (no confirm to fail): the exchange is declared again and the
        // request comes back unroutable; the memory broker refuses the publish itself.
        expect(["UNROUTABLE", "EXCHANGE_NOT_FOUND"]).toContain((error as TransportError | undefined)?.code);
        await server.consumer.close();
        const again = await rpcServer(broker, (message) => new SuccessResult((message as CommandMessage).parameters));
        const later = createProducer(broker, { commands: ["echo"], exchanges: [[again.ex, "rpc"]], rpc: { timeout: 600_000 } });
        expect((await later.rpc.echo(3)).value).toBe(3);
        expect(producer.stats.rpc.timeouts).toBe(0);
      });

      it("a call nobody answers resolves to a TimeoutError exception result after its retries", async () => {
        const server = await rpcServer(broker, () => undefined);
        const producer = createProducer(broker, { commands: ["silent"], exchanges: [[server.ex, "rpc"]] });
        const result = await producer.to({ timeout: 150, retries: 2 }).rpc.silent();
        expect(result).toBeInstanceOf(ExceptionResult);
        expect(result.value).toBe("TimeoutError");
        expect(result.ok).toBe(false);
        expect(producer.stats.rpc).toMatchObject({ calls: 1, retries: 2, timeouts: 1 });
        // The last attempt's timer starts at its publish, not at its delivery: on a loaded machine the
        // server may see that attempt after the caller gave up, so wait for it rather than assume it.
        await waitFor(() => server.seen.length >= 3, "the server to see all three attempts");
        expect(server.seen).toHaveLength(3);
      });

      it("a retry is sent with the same message id; a late duplicate reply is counted and dropped", async () => {
        const server = await rpcServer(broker, (_message, attempt) => (attempt === 2 ? new SuccessResult("second time lucky") : undefined));
        const producer = createProducer(broker, { commands: ["flaky"], exchanges: [[server.ex, "rpc"]] });
        const result = await producer.to({ timeout: 200, retries: 3 }).rpc.flaky();
        expect(result.value).toBe("second time lucky");
        expect(server.seen).toHaveLength(2);
        const ids = server.seen.map((incoming) => incoming.delivery.properties.messageId);
        expect(ids[0]).toBeTruthy();
        expect(ids[1]).toBe(ids[0]);
        // Answer the first attempt late: no call waits for it any more.
        const first = server.seen[0];
        await first?.reply?.(new SuccessResult("too late"));
        await waitFor(() => producer.stats.rpc.dropped === 1, "the late reply to be dropped");
      });

      it("queue-only calls resolve once published to a handle whose reply() waits", async () => {
        const server = await rpcServer(broker, (message) => new SuccessResult(`done ${message.name}`));
        const producer = createProducer(broker, { commands: ["job"], exchanges: [[server.ex, "rpc"]] });
        const pending = await producer.rpcQueued.job();
        expect(pending.messageId).toBeTruthy();
        expect(pending.replyTo).toBeTruthy();
        const result = await pending.reply();
        expect(result.value).toBe("done job");
        expect(server.seen[0]?.delivery.properties.messageId).toBe(pending.messageId);
      });

      it("queue reply mode: a private reply queue per call; uncorrelated replies are accepted", async () => {
        const server = await rpcServer(broker, (message) => new SuccessResult(message.name));
        const producer = createProducer(broker, { commands: ["one", "two", "three", "bare"], exchanges: [[server.ex, "rpc"]], rpc: { replyMode: "queue" } });
        const results = await Promise.all([producer.rpc.one(), producer.rpc.two(), producer.rpc.three()]);
        expect(results.map((result) => result.value)).toEqual(["one", "two", "three"]);
        const replyQueues = new Set(server.seen.map((incoming) => incoming.delivery.properties.replyTo));
        expect(replyQueues.size).toBe(3);

        // A server that replies with no properties at all (as Python Postage does).
        const bare = await rpcServer(broker, () => undefined);
        const silentProducer = createProducer(broker, { commands: ["one", "two", "three", "bare"], exchanges: [[bare.ex, "rpc"]] });
        const pending = await silentProducer.to({ replyMode: "queue", timeout: 5_000 }).rpcQueued.bare();
        await waitFor(() => bare.seen.length === 1, "the request");
        const request = bare.seen[0]?.delivery;
        expect(request).toBeDefined();
        const body = new TextEncoder().encode(JSON.stringify(new SuccessResult("plain").toBody()));
        const publisher = broker.driver.createPublisher({ confirm: true });
        await publisher.publish("", request?.properties.replyTo ?? "", body, {}, { mandatory: false });
        expect((await pending.reply()).value).toBe("plain");
        await publisher.close();
      });

      it.each(["shared", "direct"] as const)("%s mode accepts an uncorrelated reply while exactly one call is pending", async (replyMode) => {
        const bare = await rpcServer(broker, () => undefined);
        const producer = createProducer(broker, { commands: ["lonely"], exchanges: [[bare.ex, "rpc"]], rpc: { replyMode } });
        const pending = await producer.to({ timeout: 5_000 }).rpcQueued.lonely();
        await waitFor(() => bare.seen.length === 1, "the request");
        const request = bare.seen[0]?.delivery;
        // RabbitMQ rewrites direct reply-to's generic name into the channel's own.
        expect(String(request?.properties.replyTo).startsWith(pending.replyTo)).toBe(true);
        expect(pending.replyTo).toMatch(replyMode === "shared" ? /^amq\.gen-/ : /^amq\.rabbitmq\.reply-to/);
        const body = new TextEncoder().encode(JSON.stringify(new SuccessResult("uncorrelated").toBody()));
        const publisher = broker.driver.createPublisher({ confirm: true });
        await publisher.publish("", request?.properties.replyTo ?? "", body, {}, { mandatory: false });
        expect((await pending.reply()).value).toBe("uncorrelated");
        await publisher.close();
      });

      it("shared mode (the default): one reply queue per producer, beside direct reply-to calls, gone with the producer", async () => {
        const server = await rpcServer(broker, (message) => new SuccessResult((message as CommandMessage).parameters));
        const producer = createProducer(broker, { commands: ["echo"], exchanges: [[server.ex, "rpc"]] });
        const other = createProducer(broker, { commands: ["echo"], exchanges: [[server.ex, "rpc"]] });
        const shared = await Promise.all([1, 2, 3, 4, 5].map((n) => producer.rpc.echo(n)));
        const direct = await Promise.all([6, 7].map((n) => producer.to({ replyMode: "direct" }).call("echo", n)));
        expect((await other.rpc.echo(8)).value).toBe(8);
        expect([...shared, ...direct].map((result) => result.value)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        const replyTo = server.seen.map((incoming) => String(incoming.delivery.properties.replyTo));
        const replyQueue = replyTo[0] ?? "";
        expect(replyQueue).toMatch(/^amq\.gen-/);
        expect(replyTo.slice(0, 5)).toEqual(Array(5).fill(replyQueue));
        for (const address of replyTo.slice(5, 7)) expect(address).toMatch(/^amq\.rabbitmq\.reply-to/);
        expect(replyTo[7]).toMatch(/^amq\.gen-/);
        expect(replyTo[7]).not.toBe(replyQueue);
        expect(await broker.driver.declareQueue({ name: replyQueue, passive: true })).toMatchObject({ queue: replyQueue, consumerCount: 1 });
        await producer.close();
        // Auto-delete: RabbitMQ deletes it once the closed channel's consumer is gone.
        let gone: unknown;
        for (let tries = 0; gone === undefined && tries < 100; tries++) {
          gone = await broker.driver.declareQueue({ name: replyQueue, passive: true }).then(
            () => new Promise((resolve) => setTimeout(resolve, 20)).then(() => undefined),
            (error: unknown) => error,
          );
        }
        expect(gone).toMatchObject({ code: "QUEUE_NOT_FOUND" });
        expect(producer.stats.rpc).toMatchObject({ calls: 7, replies: 7, dropped: 0 });
      });

      it("shared mode: a reply queue deleted under a pending call is replaced at once, and the call sent again to the new one", async () => {
        const ex = exchange("direct");
        const seen: Array<{ id: string | undefined; replyTo: string | undefined }> = [];
        const { wait: released, open: release } = latch();
        // The first delivery of a call waits until its reply queue is gone: that reply is lost.
        const server = createConsumer(broker, { bindings: [[ex, [[queue("rpc"), "rpc"]]]] }, async (incoming): Promise<HandlerOutcome> => {
          const { messageId: id, replyTo } = incoming.delivery.properties;
          const again = seen.some((s) => s.id === id);
          seen.push({ id, replyTo });
          if (!again) await released;
          await incoming.reply?.(new SuccessResult((incoming.message as CommandMessage).parameters));
          return "ack";
        });
        await server.ready();
        const producer = createProducer(broker, { commands: ["echo"], exchanges: [[ex, "rpc"]] });
        // One attempt of ten minutes: only an immediate re-send can answer within the test's timeout.
        const call = producer.to({ timeout: 600_000, retries: 0 }).call("echo", "kept");
        await waitFor(() => seen.length === 1, "the request");
        const first = seen[0]?.replyTo ?? "";
        await broker.driver.deleteQueue(first);
        await waitFor(() => seen.length === 2, "the request sent again");
        release();
        expect((await call).value).toBe("kept");
        expect(seen[1]?.id).toBe(seen[0]?.id);
        expect(seen[1]?.replyTo).toMatch(/^amq\.gen-/);
        expect(seen[1]?.replyTo).not.toBe(first);
        expect(producer.stats.rpc).toMatchObject({ resent: 1, timeouts: 0 });
        // Later calls use the new queue.
        expect((await producer.rpc.echo("next")).value).toBe("next");
        expect(seen[2]?.replyTo).toBe(seen[1]?.replyTo);
      });

      it("an invalid reply becomes an InvalidReply exception result", async () => {
        const bare = await rpcServer(broker, () => undefined);
        const producer = createProducer(broker, { commands: ["garbage"], exchanges: [[bare.ex, "rpc"]] });
        const pending = await producer.to({ timeout: 5_000 }).rpcQueued.garbage();
        await waitFor(() => bare.seen.length === 1, "the request");
        const request = bare.seen[0]?.delivery;
        const publisher = broker.driver.createPublisher({ confirm: true });
        await publisher.publish("", request?.properties.replyTo ?? "", new TextEncoder().encode("{oops"), {
          correlationId: request?.properties.correlationId ?? "",
        }, { mandatory: false });
        const result = await pending.reply();
        expect(result).toBeInstanceOf(ResultMessage);
        expect(result.value).toBe("InvalidReply");
        expect(producer.stats.rpc.invalid).toBe(1);
        await publisher.close();
      });

      it("closing the producer ends pending calls with CLOSED", async () => {
        const server = await rpcServer(broker, () => undefined);
        const producer = createProducer(broker, { commands: ["forever", "again"], exchanges: [[server.ex, "rpc"]] });
        const call = producer.rpc.forever().then(
          () => undefined,
          (e: unknown) => e,
        );
        await waitFor(() => server.seen.length === 1, "the request");
        await producer.close();
        expect(await call).toMatchObject({ code: "CLOSED" });
        await expect(producer.rpc.again()).rejects.toMatchObject({ code: "CLOSED" });
      });
    });

    defineBrowseContract(makeBroker);
    defineQueueDeletedContract(makeBroker);
    defineNoAckContract(makeBroker);

    describe("lifecycle", () => {
      it("close is idempotent and closes producers and consumers; later use fails with CLOSED", async () => {
        const own = makeBroker();
        const ex = exchange("direct");
        const { consumer } = recorder(own, [[ex, [[queue(), "k"]]]]);
        await consumer.ready();
        const producer = createProducer(own, { commands: ["one", "two"], exchanges: [[ex, "k"]] });
        await producer.message.one();
        await Promise.all([own.close(), own.close()]);
        await own.close();
        expect(own.closed).toBe(true);
        await expect(producer.message.two()).rejects.toMatchObject({ code: "CLOSED" });
        expect(() => createProducer(own, { commands: ["one", "two"], })).toThrow(TransportError);
        await consumer.close();
      });

      it("close drains in-flight handlers before returning", async () => {
        const ex = exchange("direct");
        let finished = 0;
        let started = 0;
        const consumer = createConsumer(broker, { bindings: [[ex, [[queue(), "k"]]]] }, async (): Promise<HandlerOutcome> => {
          started += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
          finished += 1;
          return "ack";
        });
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["slow"], exchanges: [[ex, "k"]] });
        await producer.message.slow();
        await waitFor(() => started === 1, "the handler to start");
        await consumer.close();
        expect(finished).toBe(1);
      });

      it("a delivery's signal is aborted when its consumer closes, after the broker stopped sending to it", async () => {
        const ex = exchange("direct");
        const name = queue();
        const seen: string[] = [];
        const { wait: gate, open: release } = latch();
        const consumer = createConsumer(broker, { prefetch: 10, bindings: [[ex, [[name, "k"]]]] }, async ({ message, delivery }): Promise<HandlerOutcome> => {
          seen.push(message.name);
          if (message.name === "first") {
            await gate;
            return "ack";
          }
          // Held until given back: what an actor's mailbox does with deliveries it has not started.
          const signal = delivery.signal;
          if (signal === undefined) throw new Error("the driver gave no signal");
          if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
          return "requeue";
        });
        await consumer.ready();
        const producer = createProducer(broker, { commands: ["first", "second", "third"], exchanges: [[ex, "k"]] });
        await producer.message.first();
        await producer.message.second();
        await producer.message.third();
        await waitFor(() => seen.length === 3, "three deliveries");
        const closing = consumer.close();
        // The held deliveries were given back while "first" still runs: closing waits only for it.
        await new Promise((resolve) => setTimeout(resolve, 50));
        release();
        await closing;
        expect(seen).toEqual(["first", "second", "third"]);
        const { consumer: next, received } = recorder(broker, [[ex, [[name, "k"]]]]);
        await next.ready();
        await waitFor(() => received.length === 2, "the two given back");
        expect(names(received)).toEqual(["second", "third"]);
        expect(received.every((incoming) => incoming.delivery.redelivered)).toBe(true);
      });

      it("debug mode logs messages sent and received", async () => {
        const lines: string[] = [];
        const debugBroker = makeBroker({ debug: true, logger: (line) => lines.push(line) });
        extraBrokers.push(debugBroker);
        const ex = exchange("direct");
        const { consumer, received } = recorder(debugBroker, [[ex, [[queue(), "k"]]]]);
        await consumer.ready();
        await createProducer(debugBroker, { commands: ["traced"], exchanges: [[ex, "k"]] }).message.traced();
        await waitFor(() => received.length === 1, "the traced message");
        expect(lines.some((line) => line.includes("sent command/traced"))).toBe(true);
        expect(lines.some((line) => line.includes("received command/traced"))).toBe(true);
      });
    });
  });
}
