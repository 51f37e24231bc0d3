import { type ComponentEvent, reply, stateLabel } from "@postage/actors";
import { assign, setup } from "xstate";

/** One line of an order. */
export interface OrderItem {
  sku: string;
  quantity: number;
  /** Unit price. */
  price: number;
}

/** What the order machine remembers (its context: kept across restarts with the snapshot). */
export interface OrderContext {
  orderId: string | null;
  items: OrderItem[];
  total: number;
  paid: number;
  trackingId: string | null;
  /** Why the order was cancelled. */
  reason: string | null;
}

/** The commands an order takes: each is a message of that name sent to the `order` component. */
export type OrderEvent =
  | ComponentEvent<"place", { orderId?: string; items?: OrderItem[] }>
  | ComponentEvent<"pay", { amount?: number }>
  | ComponentEvent<"ship", { trackingId?: string }>
  | ComponentEvent<"cancel", { reason?: string }>
  | ComponentEvent<"status">;

const EMPTY: OrderContext = { orderId: null, items: [], total: 0, paid: 0, trackingId: null, reason: null };

function itemsOf(params: { items?: OrderItem[] } | undefined): OrderItem[] {
  return Array.isArray(params?.items) ? params.items : [];
}

/**
 * The `order` demo's behaviour: an order is placed (`pending`), paid, then shipped, or
 * cancelled while it is still open. `status` (an RPC) answers where it stands in any state;
 * an order not paid within `paymentTimeout` (15 minutes; the tests make it shorter with
 * `orderMachine.provide({ delays: { paymentTimeout: ms } })`) cancels itself. A shipped or
 * cancelled order makes room for the next one: `place` starts over.
 *
 * ```
 * idle ──place──▶ open ┌ pending ──pay──▶ paid ┐ ──ship──▶ shipped
 *                      └──── cancel / after paymentTimeout ──────▶ cancelled
 * ```
 */
export const orderMachine = setup({
  types: { context: {} as OrderContext, events: {} as OrderEvent },
  delays: { paymentTimeout: 15 * 60_000 },
  actions: {
    takeOrder: assign(({ event }) => {
      const params = event.type === "place" ? event.params : undefined;
      const items = itemsOf(params);
      return {
        ...EMPTY,
        orderId: typeof params?.orderId === "string" ? params.orderId : `order-${Date.now().toString(36)}`,
        items,
        total: items.reduce((sum, item) => sum + item.quantity * item.price, 0),
      };
    }),
  },
}).createMachine({
  id: "order",
  initial: "idle",
  context: EMPTY,
  on: {
    status: { actions: reply(({ context, self }) => ({ state: stateLabel(self.getSnapshot().value), context })) },
  },
  states: {
    idle: { on: { place: { target: "open", actions: "takeOrder" } } },
    open: {
      initial: "pending",
      on: {
        cancel: { target: "cancelled", actions: assign({ reason: ({ event }) => (event.type === "cancel" && event.params?.reason) || "cancelled by the customer" }) },
      },
      states: {
        pending: {
          on: { pay: { target: "paid", actions: assign({ paid: ({ event, context }) => (event.type === "pay" && typeof event.params?.amount === "number" ? event.params.amount : context.total) }) } },
          after: { paymentTimeout: { target: "#order.cancelled", actions: assign({ reason: "not paid in time" }) } },
        },
        paid: {
          on: { ship: { target: "#order.shipped", actions: assign({ trackingId: ({ event, context }) => (event.type === "ship" && event.params?.trackingId) || `TRK-${context.orderId ?? "?"}` }) } },
        },
      },
    },
    shipped: { on: { place: { target: "open", actions: "takeOrder" } } },
    cancelled: { on: { place: { target: "open", actions: "takeOrder" } } },
  },
});
