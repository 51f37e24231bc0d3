import { defineExchange } from "@postage/core";
import { connect, createProducer, type MemoryDriver } from "@postage/transport";
import { afterAll, expect, it } from "vitest";
import { MessageProcessor, messageHandler, Scheduler } from "@postage/actors";
import { defineLifecycleSuite, type Figure, until, within } from "./lifecycle.js";
import { memoryBroker } from "./helpers.js";
import { markdownTable } from "./reliability/support.js";

const figures: Figure[] = [];
let counter = 0;

defineLifecycleSuite("memory broker", { broker: memoryBroker, name: (prefix) => `${prefix}-${(counter += 1)}` }, figures);

it("defect 5 (memory broker): deliveries of a dropped connection are given back unhandled, not handled", async () => {
  const url = `memory://drop-${Math.random().toString(36).slice(2)}`;
  const broker = connect({ url, shared: false });
  const other = connect({ url, shared: false });
  const scheduler = new Scheduler({ broker, handleSignals: false, log: () => undefined });
  const exchange = defineExchange({ name: "drop-ex", type: "direct", durable: false });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const handled: unknown[] = [];
  const worker = scheduler.add(
    new MessageProcessor({
      prefetch: 10,
      bindings: [[exchange, [["drop-q", "k"]]]],
      handlers: [
        messageHandler("command", "n", async (content) => {
          handled.push(content.parameters);
          await gate;
        }),
      ],
    }),
  );
  await worker.whenState("running", { timeout: 10_000 });
  const sender = createProducer(other, { exchanges: [[exchange, "k"]] });
  for (let n = 0; n < 5; n += 1) await sender.command("n", n);
  await until(() => handled.length === 1, "the first to start");
  // The actor's connection drops (as a crashed channel): what waits in its mailbox is stale.
  (broker.driver as MemoryDriver).abort();
  release();
  await until(() => worker.counters.givenBack === 4, "the 4 waiting deliveries to be given back");
  figures.push({ defect: "5", what: "memory broker: deliveries of a dropped connection handled after the drop", value: handled.length - 1 });
  expect(handled).toEqual([0]);
  worker.quit();
  await within(worker.whenDone(), 10_000, "quit after the drop");
  await scheduler.close();
  await other.close();
  await broker.close();
});

afterAll(() => {
  console.log(`\nLifecycle figures (memory broker)\n${markdownTable(["defect", "what", "value"], figures.map((f) => [f.defect, f.what, f.value]))}\n`);
});
