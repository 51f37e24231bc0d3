import { describe, expect, it } from "vitest";
import { createActor, createMachine } from "xstate";
import { activeStatePaths, machineGraph, stateLabel } from "./machineGraph.js";

// A machine with a compound state holding a parallel state: the shapes the inspector must nest.
const nested = createMachine({
  id: "shop",
  initial: "browsing",
  states: {
    browsing: { on: { checkout: "checkout" } },
    checkout: {
      initial: "details",
      on: { abandon: "browsing" },
      states: {
        details: { on: { confirm: "fulfilment" } },
        fulfilment: {
          type: "parallel",
          states: {
            payment: { initial: "due", states: { due: { on: { pay: "paid" } }, paid: {} } },
            shipping: { initial: "packing", states: { packing: { after: { 1000: "sent" } }, sent: {} } },
          },
        },
      },
    },
    done: { type: "final" },
  },
});

describe("machineGraph", () => {
  it("gives every state its parent, kind and (for compound states) initial child", () => {
    const graph = machineGraph(nested);
    expect(graph.initial).toBe("browsing");
    expect(graph.nodes).toEqual([
      { path: "browsing", key: "browsing", kind: "atomic" },
      { path: "checkout", key: "checkout", kind: "compound", initial: "checkout.details" },
      { path: "checkout.details", parent: "checkout", key: "details", kind: "atomic" },
      { path: "checkout.fulfilment", parent: "checkout", key: "fulfilment", kind: "parallel" },
      { path: "checkout.fulfilment.payment", parent: "checkout.fulfilment", key: "payment", kind: "compound", initial: "checkout.fulfilment.payment.due" },
      { path: "checkout.fulfilment.payment.due", parent: "checkout.fulfilment.payment", key: "due", kind: "atomic" },
      { path: "checkout.fulfilment.payment.paid", parent: "checkout.fulfilment.payment", key: "paid", kind: "atomic" },
      { path: "checkout.fulfilment.shipping", parent: "checkout.fulfilment", key: "shipping", kind: "compound", initial: "checkout.fulfilment.shipping.packing" },
      { path: "checkout.fulfilment.shipping.packing", parent: "checkout.fulfilment.shipping", key: "packing", kind: "atomic" },
      { path: "checkout.fulfilment.shipping.sent", parent: "checkout.fulfilment.shipping", key: "sent", kind: "atomic" },
      { path: "done", key: "done", kind: "final" },
    ]);
    // The flat lists older inspectors read are still there, with the same paths.
    expect(graph.states).toEqual(graph.nodes?.map((node) => node.path));
    expect(graph.finalStates).toEqual(["done"]);
  });

  it("keeps transitions between levels, from compound states and after delays", () => {
    const graph = machineGraph(nested);
    expect(graph.transitions).toContainEqual({ from: "checkout", to: "browsing", event: "abandon" });
    expect(graph.transitions).toContainEqual({ from: "checkout.details", to: "checkout.fulfilment", event: "confirm" });
    expect(graph.transitions).toContainEqual({ from: "checkout.fulfilment.payment.due", to: "checkout.fulfilment.payment.paid", event: "pay" });
    expect(graph.transitions).toContainEqual({ from: "checkout.fulfilment.shipping.packing", to: "checkout.fulfilment.shipping.sent", event: "after 1000" });
  });

  it("names the active states of a parallel snapshot", () => {
    const actor = createActor(nested).start();
    actor.send({ type: "checkout" });
    actor.send({ type: "confirm" });
    actor.send({ type: "pay" });
    const value = actor.getSnapshot().value;
    expect(activeStatePaths(value)).toEqual([
      "checkout",
      "checkout.fulfilment",
      "checkout.fulfilment.payment",
      "checkout.fulfilment.payment.paid",
      "checkout.fulfilment.shipping",
      "checkout.fulfilment.shipping.packing",
    ]);
    expect(stateLabel(value)).toBe("checkout.fulfilment.payment.paid, checkout.fulfilment.shipping.packing");
    expect(stateLabel("browsing")).toBe("browsing");
    actor.stop();
  });
});
