import { describe, expect, it } from "vitest";
import { parseInspectionEvent } from "./parseInspectionEvent.js";
import { InspectorError } from "./errors.js";

describe("parseInspectionEvent", () => {
  it("accepts an announce and fills in what an older publisher left out", () => {
    const event = parseInspectionEvent({
      kind: "actor",
      actorId: "a1",
      at: 5,
      fingerprint: { name: "orders", type: null, pid: 12, host: "box", user: "me", vhost: "/", instance: "a1", extra: true },
      actorType: "application",
      machine: { id: "m", initial: "s", states: ["s"], finalStates: [], transitions: [{ from: "s", to: "s", event: "e" }] },
      state: "s",
      groups: ["g"],
      bindings: [["x", "q", "k"]],
      counters: { handled: 3 },
      heartbeatMs: 2000,
    });
    expect(event).toMatchObject({ kind: "actor", fingerprint: { name: "orders", pid: "12", instance: "a1", extra: true }, groups: ["g"], heartbeatMs: 2000 });
    expect(event.kind === "actor" && event.counters).toEqual({ received: 0, handled: 3, rejected: 0, unhandled: 0, invalid: 0, sent: 0 });
  });

  it("keeps a machine's hierarchy and a component's behaviour machine", () => {
    const graph = {
      id: "order",
      initial: "open",
      states: ["open", "open.pending", "closed"],
      finalStates: ["closed"],
      transitions: [{ from: "open.pending", to: "closed", event: "cancel" }],
      nodes: [
        { path: "open", key: "open", kind: "compound", initial: "open.pending" },
        { path: "open.pending", parent: "open", key: "pending", kind: "atomic" },
        { path: "closed", key: "closed", kind: "final" },
      ],
    };
    const event = parseInspectionEvent({
      kind: "actor",
      actorId: "a1",
      at: 5,
      fingerprint: { name: "order" },
      machine: { id: "m", initial: "s", states: ["s"], finalStates: [], transitions: [] },
      state: "running",
      behaviour: { machine: graph, state: "open.pending", active: ["open", "open.pending"] },
    });
    expect(event.kind === "actor" && event.behaviour).toEqual({ machine: graph, state: "open.pending", active: ["open", "open.pending"] });
    const moved = parseInspectionEvent({ kind: "transition", actorId: "a1", at: 6, event: "cancel", from: "open.pending", to: "closed", machine: "behaviour", active: ["closed"] });
    expect(moved).toEqual({ kind: "transition", actorId: "a1", at: 6, event: "cancel", from: "open.pending", to: "closed", machine: "behaviour", active: ["closed"] });
    // An older publisher's flat graph and plain transition still parse, as the lifecycle's.
    const old = parseInspectionEvent({ kind: "transition", actorId: "a1", at: 7, event: "quit", from: "running", to: "stopping" });
    expect(old).toEqual({ kind: "transition", actorId: "a1", at: 7, event: "quit", from: "running", to: "stopping" });
  });

  it("accepts transitions, messages and stops", () => {
    expect(parseInspectionEvent({ kind: "transition", actorId: "a", at: 1, event: "quit", from: "r", to: "s" }).kind).toBe("transition");
    expect(parseInspectionEvent({ kind: "stopped", actorId: "a", at: 1, state: "s" }).kind).toBe("stopped");
    const message = parseInspectionEvent({ kind: "message", actorId: "a", at: 1, direction: "rejected", messageType: "command", name: "n", category: "message", exchange: "x", routingKey: "k", reason: "bad" });
    expect(message).toMatchObject({ direction: "rejected", reason: "bad" });
  });

  it.each([
    ["not an object", 42],
    ["unknown kind", { kind: "nope", actorId: "a", at: 1 }],
    ["missing actorId", { kind: "stopped", at: 1, state: "s" }],
    ["bad direction", { kind: "message", actorId: "a", at: 1, direction: "sideways", messageType: "c", name: "n", routingKey: "k" }],
    ["bad bindings", { kind: "actor", actorId: "a", at: 1, fingerprint: {}, machine: {}, state: "s", bindings: [["x"]] }],
    ["bad machine nodes", { kind: "actor", actorId: "a", at: 1, fingerprint: {}, machine: { nodes: [{ key: "k" }] }, state: "s" }],
    ["a behaviour without a state", { kind: "actor", actorId: "a", at: 1, fingerprint: {}, machine: {}, state: "s", behaviour: { machine: {} } }],
  ])("rejects %s with INVALID_EVENT", (_, value) => {
    let caught: unknown;
    try {
      parseInspectionEvent(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InspectorError);
    expect((caught as InspectorError).code).toBe("INVALID_EVENT");
  });
});
