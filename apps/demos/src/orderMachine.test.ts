import { CommandMessage, RpcCommandMessage } from "@postage/core";
import { describe, expect, it } from "vitest";
import { createActor, waitFor } from "xstate";
import { type OrderEvent, orderMachine } from "./orderMachine.js";

// The machine alone, without a broker: events shaped as a component delivers them.
function event<T extends OrderEvent["type"]>(type: T, params: unknown = {}): { event: Extract<OrderEvent, { type: T }>; replies: unknown[] } {
  const replies: unknown[] = [];
  const message = new RpcCommandMessage(type, params);
  const built = { type, params, message: message as CommandMessage, rpc: true, reply: (value: unknown) => (replies.push(value), true) };
  return { event: built as unknown as Extract<OrderEvent, { type: T }>, replies };
}

describe("the order machine", () => {
  it("walks an order from placed to shipped", () => {
    const order = createActor(orderMachine).start();
    order.send(event("place", { orderId: "A-1", items: [{ sku: "tea", quantity: 2, price: 4.5 }] }).event);
    expect(order.getSnapshot().value).toEqual({ open: "pending" });
    expect(order.getSnapshot().context).toMatchObject({ orderId: "A-1", total: 9 });
    order.send(event("pay", { amount: 9 }).event);
    expect(order.getSnapshot().value).toEqual({ open: "paid" });
    order.send(event("ship", { trackingId: "TRK-9" }).event);
    expect(order.getSnapshot().value).toBe("shipped");
    expect(order.getSnapshot().context).toMatchObject({ paid: 9, trackingId: "TRK-9" });
    order.stop();
  });

  it("answers status in every state with the state and the context", () => {
    const order = createActor(orderMachine).start();
    const first = event("status");
    order.send(first.event);
    expect(first.replies).toEqual([{ state: "idle", context: expect.objectContaining({ orderId: null }) }]);
    order.send(event("place", { orderId: "B-2", items: [] }).event);
    const second = event("status");
    order.send(second.event);
    expect(second.replies).toEqual([{ state: "open.pending", context: expect.objectContaining({ orderId: "B-2" }) }]);
    order.stop();
  });

  it("does not take ship before pay, and cancels only open orders", () => {
    const order = createActor(orderMachine).start();
    order.send(event("place", { orderId: "C-3", items: [] }).event);
    // What the component turns into "cannot ship in state pending": the state does not accept it.
    expect(order.getSnapshot().can(event("ship").event)).toBe(false);
    expect(order.getSnapshot().can(event("cancel").event)).toBe(true);
    order.send(event("cancel", { reason: "changed my mind" }).event);
    expect(order.getSnapshot().value).toBe("cancelled");
    expect(order.getSnapshot().context.reason).toBe("changed my mind");
    expect(order.getSnapshot().can(event("cancel").event)).toBe(false);
    expect(order.getSnapshot().can(event("place").event)).toBe(true);
    order.stop();
  });

  it("cancels an order not paid in time", async () => {
    const order = createActor(orderMachine.provide({ delays: { paymentTimeout: 20 } })).start();
    order.send(event("place", { orderId: "D-4", items: [] }).event);
    const cancelled = await waitFor(order, (snapshot) => snapshot.matches("cancelled"), { timeout: 10_000 });
    expect(cancelled.context.reason).toBe("not paid in time");
    order.stop();
  });

  it("takes a fire-and-forget command the same way (no reply to give)", () => {
    const order = createActor(orderMachine).start();
    const replies: unknown[] = [];
    order.send({ type: "place", params: { orderId: "E-5" }, message: new CommandMessage("place", { orderId: "E-5" }), rpc: false, reply: () => (replies.push(1), false) });
    expect(order.getSnapshot().value).toEqual({ open: "pending" });
    expect(replies).toEqual([]);
    order.stop();
  });
});
