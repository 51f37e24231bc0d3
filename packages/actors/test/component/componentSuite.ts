import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { defineExchange, type ExchangeDefinition, ResultMessage } from "@postage/core";
import { type Broker, createProducer, type Producer } from "@postage/transport";
import {
  broadcastStatus,
  callRpc,
  type ComponentEvent,
  createFileSnapshotStore,
  defineComponent,
  GenericApplication,
  type InspectionEvent,
  messageHandler,
  reply,
  rpcHandler,
  type RpcReplyEvent,
  Scheduler,
  sendCommand,
} from "@postage/actors";
import { SuccessResult } from "@postage/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import { memorySnapshots } from "../../src/component/memorySnapshots.js";
import { eventually } from "../helpers.js";

/** The demo's order machine, small: pending -> paid -> shipped, cancel while open, a payment deadline. */
type OrderEvent = ComponentEvent<"pay", { amount?: number }> | ComponentEvent<"ship"> | ComponentEvent<"cancel"> | ComponentEvent<"status"> | ComponentEvent<"boom">;
const orderMachine = setup({
  types: { context: {} as { paid: number; reason: string | null }, events: {} as OrderEvent },
  delays: { paymentTimeout: 60_000 },
}).createMachine({
  id: "order",
  initial: "open",
  context: { paid: 0, reason: null },
  on: { status: { actions: reply(({ context, self }) => ({ value: self.getSnapshot().value, context })) } },
  states: {
    open: {
      initial: "pending",
      on: { cancel: { target: "cancelled", actions: assign({ reason: "cancelled" }) } },
      states: {
        pending: {
          on: {
            pay: { target: "paid", actions: assign({ paid: ({ event }) => (event.type === "pay" ? (event.params.amount ?? 0) : 0) }) },
            boom: {
              actions: () => {
                throw new Error("the warehouse is on fire");
              },
            },
          },
          after: { paymentTimeout: { target: "#order.cancelled", actions: assign({ reason: "not paid in time" }) } },
        },
        paid: { on: { ship: "#order.shipped" } },
      },
    },
    shipped: {},
    cancelled: {},
  },
});

const random = (prefix: string): string => `${prefix}-${randomBytes(4).toString("hex")}`;

/**
 * What a component guarantees on any broker. Run by `component.memory.test.ts` and
 * `component.rabbit.test.ts`.
 */
export function defineComponentSuite(name: string, makeBroker: () => Broker): void {
  describe(`defineComponent on ${name}`, () => {
    let broker: Broker;
    let exchange: ExchangeDefinition;
    let schedulers: Scheduler[];
    let producers: Producer[];
    let directory: string;
    let logged: string[];

    beforeEach(async () => {
      broker = makeBroker();
      exchange = defineExchange({ name: random("test.component"), type: "direct", durable: false, autoDelete: true });
      schedulers = [];
      producers = [];
      logged = [];
      directory = await mkdtemp(join(tmpdir(), "postage-component-"));
    });
    afterEach(async () => {
      for (const scheduler of schedulers) await scheduler.close();
      for (const producer of producers) await producer.close();
      await broker.close();
      await rm(directory, { recursive: true, force: true });
    });

    const scheduler = (): Scheduler => {
      const made = new Scheduler({ broker, handleSignals: false, log: (line) => logged.push(line) });
      schedulers.push(made);
      return made;
    };
    const caller = (key: string): Producer => {
      const made = createProducer(broker, { exchanges: [[exchange, key]], rpc: { timeout: 10_000, retries: 0 } });
      producers.push(made);
      return made;
    };
    const order = (componentName: string, options: Partial<Parameters<typeof defineComponent>[0]> = {}, machine = orderMachine) =>
      defineComponent({ name: componentName, machine, exchange, ...options });
    const running = async (component: { whenBehaviourReady(): Promise<void>; state: string }) => {
      await eventually(() => component.state === "running", 10_000, "the component to run");
      await component.whenBehaviourReady();
    };
    const success = (result: ResultMessage) => {
      expect(result.resultType, result.message).toBe("success");
      return result.value as Record<string, unknown>;
    };

    it("turns commands and RPCs into events named after the message, and replies", async () => {
      const componentName = random("order");
      const component = scheduler().add(order(componentName));
      await running(component);
      const client = caller(componentName);
      // status: the machine's own reply action.
      expect(success(await client.call("status"))).toEqual({ value: { open: "pending" }, context: { paid: 0, reason: null } });
      // pay as an RPC the machine takes without replying: the caller gets where it now stands.
      expect(success(await client.call("pay", { amount: 12 }))).toEqual({ state: "open.paid", context: { paid: 12, reason: null } });
      // ship as a fire-and-forget command.
      await client.command("ship");
      await eventually(() => component.behaviourState === "shipped", 10_000, "the order to ship");
      expect(component.describe().behaviour).toEqual({
        machine: "order",
        state: "shipped",
        value: "shipped",
        context: { paid: 12, reason: null },
        counters: { events: 3, illegal: 0, failed: 0 },
      });
      // The application's own commands still answer.
      expect(success(await client.call("describe"))).toMatchObject({ state: "running", behaviour: { state: "shipped" } });
    });

    it("answers an event the state does not take with an ErrorResult naming state and event; counts and acks such a command", async () => {
      const componentName = random("order");
      const component = scheduler().add(order(componentName));
      await running(component);
      const client = caller(componentName);
      const refused = await client.call("ship");
      expect(refused.ok).toBe(false);
      expect(refused.resultType).toBe("error");
      expect(refused.message).toBe("cannot ship in state pending");
      expect((await client.call("refund")).message).toBe("cannot refund in state pending");
      await client.command("ship");
      // The next message is handled: the refused one was acked, not left in the way.
      expect(success(await client.call("pay", { amount: 1 }))).toMatchObject({ state: "open.paid" });
      expect(component.behaviourCounters).toEqual({ events: 1, illegal: 3, failed: 0 });
      expect(component.counters.rejected).toBe(0);
    });

    it("dead-letters a refused command when asked to, with the reason", async () => {
      const componentName = random("order");
      const events: InspectionEvent[] = [];
      const runner = scheduler();
      runner.inspect((event) => events.push(event));
      const component = runner.add(order(componentName, { illegalCommands: "dead-letter" }));
      await running(component);
      await caller(componentName).command("ship");
      await eventually(() => component.counters.rejected === 1, 10_000, "the refused command to be dead-lettered");
      expect(events).toContainEqual(expect.objectContaining({ kind: "message", direction: "rejected", name: "ship", reason: "cannot ship in state pending" }));
    });

    it("answers an action that throws with an ExceptionResult and goes back to the last snapshot", async () => {
      const componentName = random("order");
      const component = scheduler().add(order(componentName));
      await running(component);
      const client = caller(componentName);
      const failed = await client.call("boom");
      expect(failed.resultType).toBe("exception");
      expect(failed.message).toBe("the warehouse is on fire");
      expect(success(await client.call("pay", { amount: 3 }))).toMatchObject({ state: "open.paid", context: { paid: 3 } });
      expect(component.behaviourCounters.failed).toBe(1);
      expect(logged.join("\n")).toContain("the warehouse is on fire");
    });

    it("keeps the behaviour across an in-place restart", async () => {
      const componentName = random("order");
      const component = scheduler().add(order(componentName));
      await running(component);
      const client = caller(componentName);
      await client.call("pay", { amount: 7 });
      // Watched through the machine, not polled: a restart on a fast broker is over in a few ms.
      const seen: string[] = [];
      const watching = component.subscribe((snapshot) => seen.push(typeof snapshot.value === "string" ? snapshot.value : Object.keys(snapshot.value)[0] ?? ""));
      await client.command("restart", { mode: "actor" });
      await eventually(() => seen.includes("restarting") && component.state === "running", 10_000, "the restart to happen");
      watching.unsubscribe();
      await running(component);
      expect(success(await client.call("status"))).toEqual({ value: { open: "paid" }, context: { paid: 7, reason: null } });
    });

    it("carries on after quit when the component is made again in the same process", async () => {
      const componentName = random("order");
      const first = scheduler().add(order(componentName));
      await running(first);
      await caller(componentName).call("pay", { amount: 5 });
      first.quit();
      await first.whenDone();
      const second = scheduler().add(order(componentName));
      await running(second);
      expect(second.behaviourState).toBe("open.paid");
      expect(success(await caller(componentName).call("status"))).toMatchObject({ context: { paid: 5 } });
    });

    it("restores from a file store after a process restart, and its after timer still fires", async () => {
      const componentName = random("order");
      const snapshots = createFileSnapshotStore({ directory });
      // A short payment deadline, started before the "process" ends.
      const machine = orderMachine.provide({ delays: { paymentTimeout: 1_500 } });
      const first = scheduler().add(order(componentName, { snapshots }, machine));
      await running(first);
      first.quit();
      await first.whenDone();
      const saved = JSON.parse(await readFile(join(directory, `${componentName}.snapshot.json`), "utf8")) as { snapshot: { value: unknown }; timers: Array<{ event: { type: string } }> };
      expect(saved.snapshot.value).toEqual({ open: "pending" });
      expect(saved.timers.map((timer) => timer.event.type)).toEqual(["xstate.after.paymentTimeout.order.open.pending"]);
      // A new process has nothing in memory: only the file.
      await memorySnapshots.delete(componentName);
      const second = scheduler().add(order(componentName, { snapshots: createFileSnapshotStore({ directory }) }, machine));
      await running(second);
      expect(second.behaviourState).toBe("open.pending");
      const events: InspectionEvent[] = [];
      schedulers.at(-1)?.inspect((event) => events.push(event));
      await eventually(() => second.behaviourState === "cancelled", 20_000, "the restored payment deadline to cancel the order");
      // The inspector hears what moved it: the timer, named as XState names it.
      expect(events).toContainEqual(expect.objectContaining({ kind: "transition", machine: "behaviour", event: "xstate.after.paymentTimeout.order.open.pending", to: "cancelled" }));
      expect(second.behaviourContext).toEqual({ paid: 0, reason: "not paid in time" });
      // The timer's transition was saved too.
      await eventually(async () => (JSON.parse(await readFile(join(directory, `${componentName}.snapshot.json`), "utf8")) as { snapshot: { value: unknown } }).snapshot.value === "cancelled", 10_000, "the file to say cancelled");
    });

    it("reports the behaviour to the inspector: its machine, its state, and each transition with the message that caused it", async () => {
      const componentName = random("order");
      const events: InspectionEvent[] = [];
      const runner = scheduler();
      runner.inspect((event) => events.push(event));
      const component = runner.add(order(componentName));
      await running(component);
      component.announce();
      const announced = events.filter((event) => event.kind === "actor" && event.behaviour !== undefined).at(-1);
      expect(announced).toMatchObject({ behaviour: { state: "open.pending", active: ["open", "open.pending"], machine: { id: "order" } } });
      expect(announced?.kind === "actor" && announced.behaviour?.machine.nodes?.find((node) => node.path === "open.pending")).toMatchObject({ parent: "open" });
      await caller(componentName).call("pay", { amount: 2 });
      expect(events).toContainEqual(expect.objectContaining({ kind: "transition", machine: "behaviour", event: "pay", from: "open.pending", to: "open.paid", active: ["open", "open.paid"] }));
    });

    it("runs parallel regions: both move on their own messages, and a refusal names every active state", async () => {
      type Event = ComponentEvent<"pay"> | ComponentEvent<"pack"> | ComponentEvent<"deliver">;
      const fulfilment = setup({ types: { events: {} as Event } }).createMachine({
        id: "fulfilment",
        type: "parallel",
        states: {
          payment: { initial: "due", states: { due: { on: { pay: "paid" } }, paid: {} } },
          packing: { initial: "picking", states: { picking: { on: { pack: "packed" } }, packed: { on: { deliver: "sent" } }, sent: {} } },
        },
      });
      const componentName = random("fulfilment");
      const events: InspectionEvent[] = [];
      const runner = scheduler();
      runner.inspect((event) => events.push(event));
      const component = runner.add(defineComponent({ name: componentName, machine: fulfilment, exchange }));
      await running(component);
      const client = caller(componentName);
      expect(component.behaviourState).toBe("payment.due, packing.picking");
      // Drawn as regions: the graph says the machine itself is parallel.
      expect(component.describe().behaviour).toMatchObject({ machine: "fulfilment" });
      component.announce();
      expect(events.filter((event) => event.kind === "actor").at(-1)).toMatchObject({ behaviour: { machine: { parallel: true }, active: ["payment", "payment.due", "packing", "packing.picking"] } });
      expect((await client.call("deliver")).message).toBe("cannot deliver in state due, picking");
      expect(success(await client.call("pack"))).toMatchObject({ state: "payment.due, packing.packed" });
      expect(success(await client.call("pay"))).toMatchObject({ state: "payment.paid, packing.packed" });
      expect(events).toContainEqual(
        expect.objectContaining({ kind: "transition", machine: "behaviour", event: "pay", active: ["payment", "payment.paid", "packing", "packing.packed"] }),
      );
    });

    it("sends commands, calls other components and broadcasts statuses from its actions, through its own producer", async () => {
      type Event = ComponentEvent<"checkout", { total: number }> | RpcReplyEvent<"charged">;
      const shop = setup({ types: { context: {} as { receipt: unknown }, events: {} as Event } }).createMachine({
        id: "shop",
        initial: "idle",
        context: { receipt: null },
        states: {
          idle: { on: { checkout: { target: "charging", actions: callRpc("billing", "charge", ({ event }) => (event.type === "checkout" ? event.params : {}), { onReply: "charged" }) } } },
          charging: {
            on: {
              charged: {
                target: "done",
                actions: [assign({ receipt: ({ event }) => (event.type === "charged" ? event.value : null) }), sendCommand("mailer", "send_receipt", ({ event }) => ({ receipt: event.type === "charged" ? event.value : null })), broadcastStatus("checked_out", { to: "watchers" })],
              },
            },
          },
          done: {},
        },
      });
      const runner = scheduler();
      const mail: unknown[] = [];
      const statuses: string[] = [];
      runner.add(new GenericApplication({ name: "billing", exchange, handlers: [rpcHandler("command", "charge", async (content, answer) => answer(new SuccessResult({ charged: (content.parameters as { total: number }).total })))] }));
      runner.add(new GenericApplication({ name: "mailer", exchange, handlers: [messageHandler("command", "send_receipt", (content, { message }) => void mail.push({ parameters: content.parameters, from: message.fingerprint?.name }))] }));
      const watcher = runner.add(new GenericApplication({ name: "watchers", exchange, handlers: [messageHandler("status", "checked_out", (_content, { message }) => void statuses.push(message.name))] }));
      const componentName = random("shop");
      const component = runner.add(defineComponent({ name: componentName, machine: shop, exchange }));
      await eventually(() => runner.list().every((actor) => actor.state === "running"), 10_000, "everyone to run");
      await component.whenBehaviourReady();
      await caller(componentName).command("checkout", { total: 30 });
      await eventually(() => component.behaviourState === "done" && mail.length === 1 && statuses.length === 1, 10_000, "the checkout to finish");
      expect(component.behaviourContext).toEqual({ receipt: { charged: 30 } });
      expect(mail).toEqual([{ parameters: { receipt: { charged: 30 } }, from: componentName }]);
      expect(statuses).toEqual(["checked_out"]);
      expect(watcher.state).toBe("running");
    });
  });
}
