// What the action helpers' types promise inside a machine: the callbacks see the machine's own
// context, the transition's event and the machine's events, and wrong uses do not type-check.
// `npm run typecheck` checks this file (the expectations are types); vitest runs it as a smoke test.
import { broadcastStatus, callRpc, type ComponentEvent, reply, type RpcReplyEvent, sendCommand } from "@postage/actors";
import { describe, expect, expectTypeOf, it } from "vitest";
import { setup } from "xstate";

type Context = { orderId: string; total: number };
type Event = ComponentEvent<"checkout", { total: number }> | ComponentEvent<"status"> | RpcReplyEvent<"charged">;

const machine = setup({ types: { context: {} as Context, events: {} as Event } }).createMachine({
  id: "typed",
  initial: "idle",
  context: { orderId: "o-1", total: 0 },
  on: {
    status: {
      actions: reply(({ context, event }) => {
        expectTypeOf(context).toEqualTypeOf<Context>();
        expectTypeOf(event).toEqualTypeOf<ComponentEvent<"status">>();
        return { orderId: context.orderId };
      }),
    },
  },
  states: {
    idle: {
      on: {
        checkout: {
          target: "charging",
          actions: [
            callRpc(
              ({ context }) => {
                expectTypeOf(context).toEqualTypeOf<Context>();
                return "billing/rr";
              },
              "charge",
              ({ event }) => {
                // the transition's own event, not the machine's union
                expectTypeOf(event).toEqualTypeOf<ComponentEvent<"checkout", { total: number }>>();
                return { amount: event.params.total };
              },
              { onReply: "charged", timeout: 1_000 },
            ),
            sendCommand("mailer/rr", "send_receipt", ({ context, self }) => {
              // `self` takes the machine's events
              expectTypeOf<Parameters<typeof self.send>[0]>().toExtend<Event>();
              expectTypeOf<Event>().toExtend<Parameters<typeof self.send>[0]>();
              return { orderId: context.orderId };
            }),
          ],
        },
      },
    },
    charging: {
      on: {
        charged: {
          target: "done",
          actions: broadcastStatus(({ event }) => {
            expectTypeOf(event).toEqualTypeOf<RpcReplyEvent<"charged">>();
            return event.ok ? "paid" : "unpaid";
          }),
        },
      },
    },
    done: {},
  },
});

setup({ types: { context: {} as Context, events: {} as Event } }).createMachine({
  context: { orderId: "o-2", total: 0 },
  entry: [
    // @ts-expect-error: the context has no such field
    sendCommand("mailer/rr", "send", ({ context }) => ({ id: context.missing })),
    // @ts-expect-error: a status is a string
    broadcastStatus(({ context }) => context.total),
    // @ts-expect-error: callRpc needs the event its reply comes back as
    callRpc("billing/rr", "charge", {}, {}),
    // @ts-expect-error: a destination is a key or an exchange and key
    sendCommand(({ context }) => context.total, "send"),
  ],
});

// As named actions of setup() too.
setup({
  types: { context: {} as Context, events: {} as Event },
  actions: {
    announce: broadcastStatus(({ context }) => {
      expectTypeOf(context).toEqualTypeOf<Context>();
      return `order ${context.orderId}`;
    }),
  },
}).createMachine({ context: { orderId: "o-3", total: 0 }, entry: "announce" });

describe("component action helpers' types", () => {
  it("build a machine (the checks above are the test: npm run typecheck)", () => {
    expect(machine.id).toBe("typed");
  });
});
