import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Component, createFileSnapshotStore, defineComponent, type InspectionEvent } from "@postage/actors";
import { Fingerprint, type ResultMessage } from "@postage/core";
import { createProducer } from "@postage/transport";
import { type DemoContext, whenRunning } from "./DemoContext.js";
import { orderMachine } from "./orderMachine.js";
import { show } from "./Printer.js";

/** The order component's name (after `POSTAGE_DEMO_APP_PREFIX`). */
export const ORDER = "order";

/** Options of {@link receiveOrders}. */
export interface ReceiveOrdersOptions {
  /**
   * Where the order's snapshot is kept between runs (`POSTAGE_DEMO_STATE_DIR`); `false` keeps it
   * in memory only (the tour). @default `<tmpdir>/postage-demo-state`
   */
  stateDirectory?: string | false;
  /** How long an order waits for payment before it cancels itself. @default 15 minutes */
  paymentTimeoutMs?: number;
}

/**
 * Starts the `order` component: a GenericApplication whose behaviour is {@link orderMachine}.
 * Prints every command it gets and every state it moves to. Its snapshot goes to a file, so a
 * receiver stopped and started again carries on with the same order.
 */
export async function receiveOrders(ctx: DemoContext, options: ReceiveOrdersOptions = {}): Promise<Component> {
  const { appExchange, appPrefix } = ctx.names;
  const directory = options.stateDirectory ?? join(tmpdir(), "postage-demo-state");
  const machine = options.paymentTimeoutMs === undefined ? orderMachine : orderMachine.provide({ delays: { paymentTimeout: options.paymentTimeoutMs } });
  const name = `${appPrefix}${ORDER}`;
  const component = ctx.scheduler.add(
    defineComponent({ name, machine, exchange: appExchange, ...(directory === false ? {} : { snapshots: createFileSnapshotStore({ directory }) }) }),
  );
  const unsubscribe = ctx.scheduler.inspect((event: InspectionEvent) => {
    if (event.actorId !== component.id) return;
    if (event.kind === "message" && event.direction === "received") ctx.out.line(name, "<-", `${event.category === "rpc" ? "rpc" : "command"} ${event.name}`);
    // A delayed transition's event is XState's `xstate.after.<delay>.<state>`: say "after <delay>".
    const cause = event.kind === "transition" && event.event.startsWith("xstate.after.") ? `after ${event.event.split(".")[2] ?? "a delay"}` : undefined;
    if (event.kind === "transition" && event.machine === "behaviour") ctx.out.line(name, "  ", `${cause ?? event.event}: ${event.from} -> ${event.to}`);
  });
  void component.whenDone().then(unsubscribe); // whenDone never rejects
  await whenRunning([component]);
  await component.whenBehaviourReady();
  ctx.out.line(name, "  ", `up on ${appExchange.name} in state ${component.behaviourState}${directory === false ? "" : `, snapshot in ${directory}`}`);
  return component;
}

/** What the sender walks an order through: each step an RPC, printed with its reply. */
const WALK: ReadonlyArray<[command: string, params: unknown]> = [
  ["place", { orderId: "A-1001", items: [{ sku: "tea", quantity: 2, price: 4.5 }, { sku: "mug", quantity: 1, price: 12 }] }],
  ["ship", {}], // before paying: the order refuses
  ["pay", { amount: 21 }],
  ["ship", { trackingId: "TRK-77" }],
  ["status", {}],
];

function describeReply(reply: ResultMessage): string {
  if (reply.ok) {
    const value = reply.value as { state?: unknown; context?: { orderId?: unknown; total?: unknown; paid?: unknown; trackingId?: unknown } } | null;
    if (value !== null && typeof value === "object" && "state" in value) {
      const context = value.context ?? {};
      // (no order yet before `place`: idle)
      const facts = [...(context.orderId === undefined || context.orderId === null ? [] : [`order ${show(context.orderId)}`]), `total ${show(context.total)}`, `paid ${show(context.paid)}`];
      if (context.trackingId) facts.push(`tracking ${show(context.trackingId)}`);
      return `success  state ${show(value.state)}  (${facts.join(", ")})`;
    }
    return `success ${show(reply.value)}`;
  }
  return `${reply.resultType} ${show(reply.message)}`;
}

/**
 * The order demo from the sending side: places an order, tries to ship it before paying (the
 * order answers an `ErrorResult`), pays, ships, and asks its status, printing each reply.
 * @returns whether every step answered as the walk expects (only the early ship refused).
 */
export async function sendOrders(ctx: DemoContext, options: { timeout?: number } = {}): Promise<boolean> {
  const { appExchange, appPrefix } = ctx.names;
  const address = `${appPrefix}${ORDER}`;
  const producer = createProducer(ctx.broker, {
    exchanges: [[appExchange, address]],
    fingerprint: Fingerprint.collect({ name: "order_send", type: "application" }),
    rpc: { timeout: options.timeout ?? 5_000, retries: 0 },
  });
  let asExpected = true;
  try {
    // The receiver keeps its order across runs: one left open by an earlier walk is cancelled first.
    // The check is a message like the others, so it is printed as one (the order prints receiving it).
    ctx.out.line("order_send", "->", `${address}  rpc status {}  (is an order of an earlier run still open?)`);
    const before = await producer.call("status", {});
    ctx.out.line("order_send", before.ok ? "<-" : "!!", describeReply(before));
    const state = (before.value as { state?: unknown } | null)?.state;
    if (before.ok && typeof state === "string" && state.startsWith("open")) {
      ctx.out.line("order_send", "->", `${address}  rpc cancel  (an earlier order is still ${state})`);
      ctx.out.line("order_send", "<-", describeReply(await producer.call("cancel", { reason: "replaced by a new order" })));
    }
    for (const [index, [command, params]] of WALK.entries()) {
      ctx.out.line("order_send", "->", `${address}  rpc ${command} ${show(params)}`);
      const reply = await producer.call(command, params);
      ctx.out.line("order_send", reply.ok ? "<-" : "!!", describeReply(reply));
      const shouldFail = index === 1;
      if (reply.ok === shouldFail) asExpected = false;
    }
  } finally {
    await producer.close();
  }
  return asExpected;
}

/** Sends `quit` to the order component. */
export async function quitOrders(ctx: DemoContext): Promise<void> {
  const { appExchange, appPrefix } = ctx.names;
  const address = `${appPrefix}${ORDER}`;
  const producer = createProducer(ctx.broker, { exchanges: [[appExchange, address]], fingerprint: Fingerprint.collect({ name: "order_send", type: "application" }) });
  try {
    ctx.out.line("order_send", "->", `${address}  command quit`);
    await producer.command("quit");
  } finally {
    await producer.close();
  }
}
