import { CommandMessage, defineExchange, ExceptionResult, SuccessResult } from "@postage/core";
import { type Broker, createConsumer, createProducer, DEAD_LETTER_HEADERS } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  Handler,
  handlerClass,
  type InspectionEvent,
  MessageProcessor,
  messageHandler,
  messageHandlerFullBody,
  rpcHandler,
  Scheduler,
} from "@postage/actors";
import { eventually, memoryBroker } from "./helpers.js";

let broker: Broker;
const exchange = defineExchange({ name: "echo-exchange", type: "direct" });
const eqk = [[exchange, [["echo-queue", "echo-rk"]]]] as const;

beforeEach(() => {
  broker = memoryBroker();
});
afterEach(async () => {
  await broker.close();
});

function setup(options: ConstructorParameters<typeof MessageProcessor>[0]) {
  const errors: string[] = [];
  const scheduler = new Scheduler({ broker, handleSignals: false, log: (line) => errors.push(line) });
  const processor = scheduler.add(new MessageProcessor({ bindings: eqk, ...options }));
  const producer = createProducer(broker, { exchanges: [[exchange, "echo-rk"]] });
  return { scheduler, processor, producer, errors };
}

describe("MessageProcessor", () => {
  it("handles commands in order, running every handler for a key, and stops on quit", async () => {
    const seen: unknown[] = [];
    const { scheduler, processor, producer } = setup({
      fingerprint: { name: "echo_receive" },
      handlers: [
        messageHandler("command", "echo", (content) => void seen.push(content.parameters)),
        messageHandlerFullBody("command", "echo", (body) => void seen.push(body.fingerprint.name)),
      ],
    });
    await eventually(() => processor.state === "running");
    for (let i = 0; i < 3; i += 1) await producer.command("echo", i);
    await producer.command("quit");
    const result = await scheduler.run();
    expect(result.reason).toBe("stopped");
    expect(processor.state).toBe("stopped");
    const sender = producer.fingerprint.name;
    expect(seen).toEqual([0, sender, 1, sender, 2, sender]);
    expect(processor.counters).toMatchObject({ received: 4, handled: 4 });
  });

  it("answers RPC, and turns a throwing RPC handler into an exception result for the caller", async () => {
    const { scheduler, producer, errors } = setup({
      handlers: [
        rpcHandler("command", "echo", async (content, reply) => {
          await reply(new SuccessResult(`got ${String(content.parameters)}`));
        }),
        rpcHandler("command", "divide", (content) => {
          const { a, b } = content.parameters as { a: number; b: number };
          if (b === 0) throw new RangeError("division by zero");
          return a / b;
        }),
      ],
    });
    const ok = await producer.call("echo", "hi");
    expect(ok).toBeInstanceOf(SuccessResult);
    expect(ok.value).toBe("got hi");
    const failed = await producer.call("divide", { a: 1, b: 0 });
    expect(failed).toBeInstanceOf(ExceptionResult);
    expect([failed.value, failed.message]).toEqual(["RangeError", "division by zero"]);
    await eventually(() => errors.join("\n").includes("division by zero"));
    await scheduler.shutdown();
  });

  it("keeps running when a handler throws: the message is dead-lettered with the reason and counted", async () => {
    const dead: Array<Record<string, unknown> | undefined> = [];
    const deadConsumer = createConsumer(broker, { bindings: [[defineExchange({ name: "postage.dead-letter", type: "fanout" }), [["dl-watch", ""]]]], deadLetterExchange: false }, ({ delivery }) => {
      dead.push(delivery.properties.headers);
    });
    await deadConsumer.ready();
    const handled: unknown[] = [];
    const { scheduler, processor, producer, errors } = setup({
      handlers: [
        messageHandler("command", "echo", (content) => {
          if (content.parameters === "bad") throw new Error("cannot echo bad");
          handled.push(content.parameters);
        }),
      ],
    });
    await producer.command("echo", "bad");
    await producer.command("echo", "good");
    await eventually(() => handled.length === 1 && dead.length === 1, 5_000, "the good message and the dead letter");
    expect(handled).toEqual(["good"]);
    expect(String(dead[0]?.[DEAD_LETTER_HEADERS.reason])).toContain("cannot echo bad");
    expect(processor.counters).toMatchObject({ rejected: 1, handled: 1, handlerErrors: 1 });
    expect(errors.filter((line) => line.includes("cannot echo bad"))).toHaveLength(1);
    expect(processor.state).toBe("running");
    await scheduler.shutdown();
  });

  it("lets a handler reject a message explicitly, and acks and counts messages nobody handles", async () => {
    const { scheduler, processor, producer } = setup({
      handlers: [messageHandler("command", "echo", (_content, context) => context.reject("not today"))],
    });
    await producer.command("echo", 1);
    await producer.command("unknown_command", 1);
    await eventually(() => processor.counters.rejected === 1 && processor.counters.unhandled === 1);
    await scheduler.shutdown();
  });

  it("applies filters to a copy of the content (the body for full-body handlers), per handler: a filter error discards the message for that handler only", async () => {
    const seen: string[] = [];
    const { scheduler, producer } = setup({
      handlers: [
        messageHandler("command", "echo", (content) => void seen.push(`plain:${JSON.stringify(content.parameters)}`)),
        messageHandler("command", "echo", (content) => void seen.push(`upgraded:${JSON.stringify(content.parameters)}`), {
          // An old format carried a bare string; the new one wants { text }. The filter gets the content and returns it.
          filters: [(content) => (typeof content.parameters === "string" ? { ...content, parameters: { text: content.parameters } } : content)],
        }),
        messageHandlerFullBody("command", "echo", (body) => void seen.push(`body:${String(body.fingerprint.name)}:${JSON.stringify(body.content.parameters)}`), {
          filters: [
            (body) => {
              body.fingerprint = { ...body.fingerprint, name: "renamed" };
              return body;
            },
          ],
        }),
        messageHandler("command", "echo", () => void seen.push("never"), {
          filters: [() => {
            throw new Error("refused");
          }],
        }),
      ],
    });
    await producer.command("echo", "old");
    await eventually(() => seen.length === 3);
    expect(seen).toEqual(['plain:"old"', 'upgraded:{"text":"old"}', 'body:renamed:"old"']);
    await scheduler.shutdown();
  });

  it("runs handler classes that reach their processor", async () => {
    class WhoAmI extends Handler {
      async call() {
        await this.reply(new SuccessResult({ me: this.processor.fingerprint.name, asked: (this.data as { parameters: unknown }).parameters }));
      }
    }
    const { scheduler, producer } = setup({ fingerprint: { name: "whoami" }, handlers: [handlerClass("command", "who", WhoAmI, { rpc: true })] });
    const reply = await producer.call("who", 7);
    expect(reply.value).toEqual({ me: "whoami", asked: 7 });
    await scheduler.shutdown();
  });

  it("runs timers in turn with messages and cancels them when it stops", async () => {
    const fired: string[] = [];
    const { scheduler, processor } = setup({});
    await eventually(() => processor.state === "running");
    processor.addTimeout(5, () => void fired.push("soon"));
    processor.addTimeout(60_000, () => void fired.push("never"));
    const cancelled = processor.addTimeout(5, () => void fired.push("cancelled"));
    cancelled();
    await eventually(() => fired.length === 1);
    processor.quit();
    await scheduler.run();
    expect(fired).toEqual(["soon"]);
  });

  it("restarts in place: a new consumer with the same and run-time bindings", async () => {
    const seen: unknown[] = [];
    const { scheduler, processor, producer } = setup({ handlers: [messageHandler("command", "echo", (content) => void seen.push(content.parameters))] });
    await eventually(() => processor.state === "running");
    await processor.bind(exchange, "echo-queue", "extra-rk");
    const states: string[] = [];
    scheduler.inspect((event) => {
      if (event.kind === "transition") states.push(event.to);
    });
    await producer.to({ key: "extra-rk" }).command("echo", "before");
    await producer.command("restart", { mode: "actor" });
    await eventually(() => states.includes("restarting") && processor.state === "running");
    await producer.to({ key: "extra-rk" }).command("echo", "after");
    await eventually(() => seen.length === 2);
    expect(seen).toEqual(["before", "after"]);
    await scheduler.shutdown();
  });

  it("interleaves actors fairly: a quiet actor answers while its neighbour is flooded", async () => {
    const quietExchange = defineExchange({ name: "quiet-exchange" });
    const scheduler = new Scheduler({ broker, handleSignals: false });
    let floodHandled = 0;
    const flooded = scheduler.add(
      new MessageProcessor({ bindings: eqk, prefetch: 100, handlers: [messageHandler("command", "work", () => void (floodHandled += 1))] }),
    );
    scheduler.add(
      new MessageProcessor({
        bindings: [[quietExchange, [["quiet-queue", "quiet"]]]],
        handlers: [rpcHandler("command", "ping", (_c, reply) => reply(new SuccessResult(floodHandled)))],
      }),
    );
    await eventually(() => scheduler.list().every((actor) => actor.state === "running"));
    const flood = createProducer(broker, { exchanges: [[exchange, "echo-rk"]], confirm: false });
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => flood.command("work", i)));
    const quiet = createProducer(broker, { exchanges: [[quietExchange, "quiet"]] });
    const reply = await quiet.call("ping");
    // The quiet actor answered long before the flood was worked off.
    expect(reply.value as number).toBeLessThan(5_000);
    await eventually(() => floodHandled === 5_000, 20_000, "the flood to be handled");
    expect(flooded.counters.handled).toBe(5_000);
    await scheduler.shutdown();
  });

  it("drains gracefully on shutdown: the handler in progress finishes and is acked, unstarted messages return to the queue", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: unknown[] = [];
    const { scheduler, processor, producer } = setup({
      prefetch: 10,
      handlers: [
        messageHandler("command", "slow", async (content) => {
          started.push(content.parameters);
          await gate;
        }),
      ],
    });
    for (let i = 0; i < 5; i += 1) await producer.command("slow", i);
    await eventually(() => started.length === 1);
    const stopping = scheduler.shutdown();
    await eventually(() => processor.state === "stopping");
    release();
    await stopping;
    expect(started).toEqual([0]);
    expect(processor.counters.handled).toBe(1);
    const leftover: unknown[] = [];
    const after = createConsumer(broker, { bindings: eqk }, ({ message }) => void leftover.push((message as CommandMessage).parameters));
    await eventually(() => leftover.length === 4);
    expect(leftover).toEqual([1, 2, 3, 4]);
    await after.close();
  });

  it("reports transitions and messages to inspectors", async () => {
    const events: InspectionEvent[] = [];
    const { scheduler, processor, producer } = setup({ handlers: [messageHandler("command", "echo", () => undefined)] });
    await eventually(() => processor.state === "running");
    const stop = scheduler.inspect((event) => events.push(event));
    await producer.command("echo", 1);
    await eventually(() => events.some((event) => event.kind === "message" && event.direction === "acked"));
    processor.quit();
    await scheduler.run();
    stop();
    expect(events[0]).toMatchObject({ kind: "actor", actorId: processor.id, actorType: "processor" });
    expect(events.filter((event) => event.kind === "message").map((event) => event.kind === "message" && event.direction)).toEqual(["received", "acked"]);
    expect(events.filter((event) => event.kind === "transition").map((event) => event.kind === "transition" && event.to)).toEqual(["stopping", "stopped"]);
  });
});
