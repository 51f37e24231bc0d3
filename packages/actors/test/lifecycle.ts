import { type CommandMessage, defineExchange, type ExchangeDefinition, Fingerprint, SuccessResult } from "@postage/core";
import { type Broker, createConsumer, createProducer, DEAD_LETTER_HEADERS, type Delivery, type Producer } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  addresses,
  GenericApplication,
  type GenericApplicationOptions,
  MessageProcessor,
  type MessageProcessorOptions,
  messageHandler,
  rpcHandler,
  Scheduler,
} from "@postage/actors";

/** How a suite gets its broker and names (memory and RabbitMQ run the same cases). */
export interface LifecycleSuiteSetup {
  /** A broker of its own for one test. */
  broker(): Broker;
  /** A name no other test or run uses. */
  name(prefix: string): string;
  /** Deletes what a test declared on a shared broker (RabbitMQ). */
  cleanup?(broker: Broker, queues: string[], exchanges: string[]): Promise<void>;
}

/** A figure a case measured, printed as a table at the end of the suite. */
export interface Figure {
  defect: string;
  what: string;
  value: string | number;
}

/** Polls `check` until it holds; throws naming `what` after `timeout` ms. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeout = 20_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects naming `what` when `promise` has not settled within `ms` (for "never hangs" checks). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Counts every delivery the broker's driver hands to any consumer made from now on (a spy on
 * `driver.createConsumer`): how many times messages reached consumers, redeliveries included.
 */
export function countDeliveries(broker: Broker): { count: number; redelivered: number } {
  const counter = { count: 0, redelivered: 0 };
  const driver = broker.driver;
  const original = driver.createConsumer.bind(driver);
  driver.createConsumer = (options, handler) =>
    original(options, (delivery: Delivery) => {
      counter.count += 1;
      if (delivery.redelivered) counter.redelivered += 1;
      return handler(delivery);
    });
  return counter;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A gate a handler waits at until the test opens it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/**
 * The lifecycle defects of issue 14, as one suite run against each broker: dispatch by category,
 * group leave, in-place restart, drain, quit in every state, handler timeout.
 */
export function defineLifecycleSuite(label: string, setup: LifecycleSuiteSetup, figures: Figure[]): void {
  describe(`actor lifecycle (${label})`, () => {
    let broker: Broker;
    let scheduler: Scheduler;
    let logged: string[];
    const queues: string[] = [];
    const exchanges: string[] = [];
    const producers: Producer[] = [];

    beforeEach(() => {
      broker = setup.broker();
      logged = [];
      scheduler = new Scheduler({ broker, handleSignals: false, log: (line) => logged.push(line) });
    });

    afterEach(async () => {
      await within(scheduler.close(), 30_000, "closing the scheduler");
      for (const producer of producers.splice(0)) await producer.close();
      await setup.cleanup?.(broker, queues.splice(0), exchanges.splice(0));
      await broker.close();
    });

    const exchange = (): ExchangeDefinition => {
      const definition = defineExchange({ name: setup.name("ex"), type: "direct", durable: false });
      exchanges.push(definition.name);
      return definition;
    };
    const queue = (): string => {
      const name = setup.name("q");
      queues.push(name);
      return name;
    };
    const producerFor = (target: ExchangeDefinition, key: string): Producer => {
      const producer = createProducer(broker, { exchanges: [[target, key]], fingerprint: Fingerprint.collect({ name: "lifecycle-test" }) });
      producers.push(producer);
      return producer;
    };
    const app = (options: Omit<GenericApplicationOptions, "exchange">, ex: ExchangeDefinition): GenericApplication => {
      const application = scheduler.add(new GenericApplication({ roundRobinExpiresMs: 60_000, ...options, exchange: ex }));
      for (const key of [addresses.nameRoundRobin(options.name), addresses.nameOnHostRoundRobin(options.name, application.identity.host)]) queues.push(key);
      for (const group of options.groups ?? []) queues.push(addresses.groupRoundRobin(options.name, group));
      return application;
    };
    const processor = (options: MessageProcessorOptions<never>): MessageProcessor => scheduler.add(new MessageProcessor(options));

    it("defect 1: dispatches by category — a fire-and-forget echo runs the message handler only, an RPC echo the RPC handler only (the README's receiver)", async () => {
      const ex = exchange();
      const ran: string[] = [];
      // The README's EchoReceiver: a message handler and an RPC handler for command "echo".
      const receiver = processor({
        fingerprint: { name: "echo_receive", type: "controller" },
        bindings: [[ex, [[queue(), "echo-rk"]]]],
        handlers: [
          messageHandler("command", "echo", (content) => void ran.push(`message:${String(content.parameters)}`)),
          rpcHandler("command", "echo", async (content, reply) => {
            ran.push(`rpc:${String(content.parameters)}`);
            await reply(new SuccessResult("RPC message received"));
          }),
          rpcHandler("command", "echo", async (_content, reply) => {
            ran.push("rpc-second");
            await reply(new SuccessResult("a second reply, not sent"));
          }),
        ],
      });
      await receiver.whenState("running", { timeout: 20_000 });
      const producer = producerFor(ex, "echo-rk");
      await producer.command("echo", "fire");
      await until(() => ran.length >= 1, "the fire-and-forget echo");
      const reply = await producer.call("echo", "call");
      expect(reply.value).toBe("RPC message received");
      await until(() => ran.length >= 3, "the RPC handlers");
      await sleep(50); // a handler wrongly run for the other category would show up now
      expect(ran).toEqual(["message:fire", "rpc:call", "rpc-second"]);
      expect(receiver.counters).toMatchObject({ handled: 2, unhandled: 0 });
    });

    it("defect 2: a member leaving a group does not break it — the others keep its round robin, the leaver stops consuming it, fan-out reaches members only", async () => {
      const ex = exchange();
      const name = setup.name("svc");
      const got = new Map<string, string[]>();
      const member = (tag: string): GenericApplication => {
        got.set(tag, []);
        return app({ name, groups: ["blue"], handlers: [messageHandler("command", "hello", (content) => void got.get(tag)?.push(String(content.parameters)))] }, ex);
      };
      const stays = member("stays");
      const leaver = member("leaver");
      await Promise.all([stays.whenState("running", { timeout: 20_000 }), leaver.whenState("running", { timeout: 20_000 })]);
      await producerFor(ex, addresses.instance(leaver.id)).command("leave_group", { group_name: "blue" });
      await until(() => !leaver.groups.includes("blue"), "the leaver to leave blue");
      await sleep(100);

      const roundRobin = producerFor(ex, addresses.groupRoundRobin(name, "blue"));
      let unroutable = 0;
      for (let i = 0; i < 10; i += 1) {
        await roundRobin.command("hello", `rr${i}`).catch((error: { code?: string }) => {
          if (error.code !== "UNROUTABLE") throw error;
          unroutable += 1;
        });
      }
      await producerFor(ex, addresses.group(name, "blue")).command("hello", "fanout");
      figures.push({ defect: "2", what: `${label}: sends to {name}#blue/rr after one of two members left that failed UNROUTABLE`, value: `${unroutable} of 10` });
      expect(unroutable).toBe(0);
      await until(() => (got.get("stays") ?? []).length === 11, "the remaining member to get the 10 round-robin messages and the fan-out");
      await sleep(100);
      expect(got.get("leaver")).toEqual([]);
      expect(stays.groups).toEqual(["blue"]);
    });

    it("defect 3: an in-place restart loses nothing confirmed for the own queue (and does not hang)", async () => {
      const ex = exchange();
      const handled = new Set<number>();
      const application = app(
        {
          name: setup.name("keeper"),
          prefetch: 20,
          handlers: [
            messageHandler("command", "n", async (content) => {
              await sleep(2);
              handled.add(content.parameters as number);
            }),
          ],
        },
        ex,
      );
      await application.whenState("running", { timeout: 20_000 });
      const own = producerFor(ex, addresses.instance(application.id));
      const confirmed: number[] = [];
      let failed = 0;
      const send = async (n: number): Promise<void> => {
        try {
          await own.command("n", n);
          confirmed.push(n);
        } catch {
          failed += 1;
        }
      };
      const first = Array.from({ length: 60 }, (_, n) => send(n));
      await Promise.all(first);
      await own.command("restart", { mode: "actor" });
      const second = Array.from({ length: 60 }, (_, n) => send(60 + n));
      await Promise.all(second);
      await within(application.whenState("running", { timeout: 20_000 }), 25_000, "the restart");
      const lost = (): number[] => confirmed.filter((n) => !handled.has(n));
      await within(until(() => lost().length === 0, "every confirmed message to be handled", 20_000).catch(() => undefined), 25_000, "handling (the memory broker hung here before)");
      figures.push({ defect: "3", what: `${label}: confirmed commands to id:{instance} around restart {mode:"actor"} never handled`, value: `${lost().length} of ${confirmed.length} confirmed (${failed} not confirmed)` });
      expect(lost()).toEqual([]);
    });

    it("defect 4: quit while a handler runs with a full mailbox — cancel, give back, await, close: no requeue loop", async () => {
      const ex = exchange();
      const name = queue();
      const deliveries = countDeliveries(broker);
      const slow = gate();
      let started = 0;
      const worker = processor({
        bindings: [[ex, [[{ name, durable: true }, "work"]]]],
        handlers: [
          messageHandler("command", "work", async () => {
            started += 1;
            await slow.wait;
          }),
        ],
      });
      await worker.whenState("running", { timeout: 20_000 });
      const producer = producerFor(ex, "work");
      await Promise.all(Array.from({ length: 200 }, (_, n) => producer.command("work", n)));
      await until(() => started === 1 && deliveries.count >= 100, "the handler to start with a full mailbox");
      const before = deliveries.count;
      worker.quit();
      // The handler in progress takes a while; a requeue loop would spin all that time.
      await sleep(500);
      slow.open();
      await within(worker.whenDone(), 20_000, "the drain");
      const redeliveredDuringDrain = deliveries.count - before;
      figures.push({ defect: "4", what: `${label}: deliveries to the draining actor after quit (handler in progress 0.5 s, 200 queued, prefetch 100)`, value: redeliveredDuringDrain });
      expect(worker.state).toBe("stopped");
      expect(started).toBe(1);
      expect(redeliveredDuringDrain).toBeLessThanOrEqual(5);
      // Everything not handled is back in the queue, in order.
      const left: number[] = [];
      const after = createConsumer(broker, { bindings: [[ex, [[{ name, durable: true }, "work"]]]] }, ({ message }) => void left.push((message as CommandMessage).parameters as number));
      await until(() => left.length === 199, "the 199 given back");
      await after.close();
      expect(left).toEqual(Array.from({ length: 199 }, (_, n) => n + 1));
    });

    it("without acks, quit while a handler runs with a full mailbox publishes the unstarted work back to the queue: none lost, none handled twice", async () => {
      const ex = exchange();
      const name = queue();
      const slow = gate();
      const handled: number[] = [];
      const worker = processor({
        noAck: true,
        prefetch: 20,
        bindings: [[ex, [[{ name, durable: true }, "work"]]]],
        handlers: [
          messageHandler("command", "work", async (content) => {
            handled.push(content.parameters as number);
            await slow.wait;
          }),
        ],
      });
      await worker.whenState("running", { timeout: 20_000 });
      const producer = producerFor(ex, "work");
      await Promise.all(Array.from({ length: 100 }, (_, n) => producer.command("work", n)));
      await until(() => handled.length === 1 && worker.mailboxDepth >= 19, "the handler to start with a full mailbox");
      worker.quit();
      await sleep(200);
      slow.open();
      await within(worker.whenDone(), 20_000, "the drain");
      expect(handled).toEqual([0]);
      expect(worker.counters.givenBack).toBeGreaterThanOrEqual(19);
      const left: number[] = [];
      const after = createConsumer(broker, { bindings: [[ex, [[{ name, durable: true }, "work"]]]] }, ({ message }) => void left.push((message as CommandMessage).parameters as number));
      await until(() => left.length === 99, "the 99 not handled");
      await sleep(100);
      await after.close();
      expect([...left].sort((a, b) => a - b)).toEqual(Array.from({ length: 99 }, (_, n) => n + 1));
    });

    it("defect 6: quit during restarting is honoured (run() resolves), and a restart asked while starting restarts", async () => {
      const ex = exchange();
      const slow = gate();
      let started = 0;
      const worker = processor({
        bindings: [[ex, [[queue(), "work"]]]],
        handlers: [
          messageHandler("command", "work", async () => {
            started += 1;
            await slow.wait;
          }),
        ],
      });
      const states: string[] = [];
      worker.subscribe((snapshot) => states.push(String(typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value)[0])));
      // Asked while starting: not dropped.
      worker.restart("actor");
      await worker.whenState("running", { timeout: 20_000 });
      expect(states).toContain("restarting");

      await producerFor(ex, "work").command("work", 1);
      await until(() => started === 1, "the handler to start");
      worker.restart("actor");
      expect(worker.state).toBe("restarting");
      worker.quit();
      slow.open();
      const running = scheduler.run();
      await within(running, 20_000, "scheduler.run() after quit during restarting");
      expect(worker.state).toBe("stopped");
    });

    it("defect 8: handlerTimeoutMs — a stuck handler's message is dead-lettered with HANDLER_TIMEOUT, the actor moves on, and quit does not wait for it", async () => {
      const ex = exchange();
      const deadLetters: Array<Record<string, unknown> | undefined> = [];
      const dlq = queue();
      const watcher = createConsumer(
        broker,
        { bindings: [[defineExchange({ name: "postage.dead-letter", type: "fanout" }), [[{ name: dlq, durable: false }, ""]]]], deadLetterExchange: false },
        ({ delivery }) => void deadLetters.push(delivery.properties.headers),
      );
      await watcher.ready();
      const handled: unknown[] = [];
      const worker = processor({
        handlerTimeoutMs: 300,
        bindings: [[ex, [[queue(), "work"]]]],
        handlers: [
          messageHandler("command", "work", async (content) => {
            if (content.parameters === "stuck") await new Promise(() => undefined); // never settles
            handled.push(content.parameters);
          }),
          rpcHandler("command", "slow_rpc", async () => {
            await new Promise(() => undefined);
          }),
        ],
      });
      await worker.whenState("running", { timeout: 20_000 });
      const producer = producerFor(ex, "work");
      await producer.command("work", "stuck");
      await producer.command("work", "fine");
      await until(() => handled.includes("fine"), "the next message after the stuck one");
      await until(() => deadLetters.some((headers) => headers?.[DEAD_LETTER_HEADERS.error] === "HANDLER_TIMEOUT"), "the HANDLER_TIMEOUT dead letter");
      expect(worker.counters.timedOut).toBe(1);
      // An RPC caller is told at once instead of waiting for its own timeout.
      const answer = await producer.to({ timeout: 10_000, retries: 0 }).call("slow_rpc", "stuck");
      expect([answer.ok, answer.content.message]).toEqual([false, expect.stringContaining("did not finish within 300 ms")]);
      expect(worker.counters.timedOut).toBe(2);
      await producer.command("work", "stuck");
      await until(() => worker.counters.received === 4, "the third stuck one to start");
      worker.quit();
      await within(worker.whenDone(), 10_000, "quit with a stuck handler");
      expect(worker.counters.timedOut).toBe(3);
      await watcher.close();
    });
  });
}
