import type { FingerprintDict } from "@postage/core";
import type { BehaviourView, InspectionEvent, MachineGraph, MachineGraphNode, MessageCounters } from "@postage/actors";
import { InspectorError } from "./errors.js";

type Json = Record<string, unknown>;

/**
 * Checks that an event received from the broker (already JSON-parsed) has the shape of an
 * {@link InspectionEvent}, and returns it typed. Unknown extra keys are kept; missing optional
 * parts are filled in (counters default to zero, lists to empty) so that a slightly older or newer
 * publisher still shows up.
 *
 * @throws {InspectorError} `INVALID_EVENT` with a sentence saying what is wrong.
 */
export function parseInspectionEvent(value: unknown): InspectionEvent {
  const event = object(value, "event");
  const actorId = string(event.actorId, "actorId");
  const at = number(event.at, "at");
  switch (event.kind) {
    case "actor":
      return {
        kind: "actor",
        actorId,
        at,
        fingerprint: fingerprint(event.fingerprint),
        actorType: typeof event.actorType === "string" ? event.actorType : "",
        machine: machine(event.machine),
        state: string(event.state, "state"),
        groups: stringList(event.groups, "groups"),
        bindings: bindings(event.bindings),
        counters: counters(event.counters),
        heartbeatMs: typeof event.heartbeatMs === "number" && event.heartbeatMs > 0 ? event.heartbeatMs : 5000,
        ...(event.behaviour === undefined ? {} : { behaviour: behaviour(event.behaviour) }),
      };
    case "transition": {
      const transition = { kind: "transition", actorId, at, event: string(event.event, "event"), from: string(event.from, "from"), to: string(event.to, "to") } as const;
      // Older publishers send no `machine`: their transitions are the lifecycle's.
      if (event.machine !== "behaviour") return transition;
      return { ...transition, machine: "behaviour", active: stringList(event.active, "active") };
    }
    case "stopped":
      return { kind: "stopped", actorId, at, state: string(event.state, "state") };
    case "message": {
      const direction = event.direction;
      if (direction !== "received" && direction !== "sent" && direction !== "acked" && direction !== "rejected") {
        throw invalid(`"direction" must be received, sent, acked or rejected, got ${JSON.stringify(direction)}`);
      }
      return {
        kind: "message",
        actorId,
        at,
        direction,
        messageType: string(event.messageType, "messageType"),
        name: string(event.name, "name"),
        category: typeof event.category === "string" ? event.category : "",
        exchange: typeof event.exchange === "string" ? event.exchange : "",
        routingKey: string(event.routingKey, "routingKey"),
        ...(typeof event.messageId === "string" ? { messageId: event.messageId } : {}),
        ...(typeof event.reason === "string" ? { reason: event.reason } : {}),
      };
    }
    default:
      throw invalid(`"kind" must be actor, transition, message or stopped, got ${JSON.stringify(event.kind)}`);
  }
}

function invalid(reason: string): InspectorError {
  return new InspectorError("INVALID_EVENT", `invalid inspection event: ${reason}`);
}

function object(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`${what} must be an object`);
  return value as Json;
}

function string(value: unknown, key: string): string {
  if (typeof value !== "string") throw invalid(`"${key}" must be a string`);
  return value;
}

function number(value: unknown, key: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw invalid(`"${key}" must be a number`);
  return value;
}

function stringList(value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) throw invalid(`"${key}" must be a list of strings`);
  return value as string[];
}

function fingerprint(value: unknown): FingerprintDict {
  const dict = object(value, '"fingerprint"');
  const text = (key: string): string => (typeof dict[key] === "string" ? (dict[key] as string) : typeof dict[key] === "number" ? String(dict[key]) : "");
  const result: FingerprintDict = {
    ...dict,
    name: typeof dict.name === "string" ? dict.name : null,
    type: typeof dict.type === "string" ? dict.type : null,
    pid: text("pid"),
    host: text("host"),
    user: text("user"),
    vhost: text("vhost"),
  };
  if (typeof dict.instance === "string") result.instance = dict.instance;
  return result;
}

function machine(value: unknown): MachineGraph {
  const graph = object(value, '"machine"');
  const transitions = graph.transitions === undefined ? [] : graph.transitions;
  if (!Array.isArray(transitions)) throw invalid('"machine.transitions" must be a list');
  return {
    id: typeof graph.id === "string" ? graph.id : "",
    initial: typeof graph.initial === "string" ? graph.initial : "",
    states: stringList(graph.states, "machine.states"),
    finalStates: stringList(graph.finalStates, "machine.finalStates"),
    transitions: transitions.map((item: unknown) => {
      const transition = object(item, "a machine transition");
      return { from: string(transition.from, "from"), to: string(transition.to, "to"), event: string(transition.event, "event") };
    }),
    ...(graph.nodes === undefined ? {} : { nodes: nodes(graph.nodes) }),
    ...(graph.parallel === true ? { parallel: true } : {}),
  };
}

const NODE_KINDS: ReadonlySet<string> = new Set(["atomic", "compound", "parallel", "final", "history"]);

function nodes(value: unknown): MachineGraphNode[] {
  if (!Array.isArray(value)) throw invalid('"machine.nodes" must be a list');
  return value.map((item: unknown) => {
    const node = object(item, "a machine node");
    const path = string(node.path, "path");
    const kind = typeof node.kind === "string" && NODE_KINDS.has(node.kind) ? (node.kind as MachineGraphNode["kind"]) : "atomic";
    const entry: MachineGraphNode = { path, key: typeof node.key === "string" ? node.key : path, kind };
    if (typeof node.parent === "string") entry.parent = node.parent;
    if (typeof node.initial === "string") entry.initial = node.initial;
    return entry;
  });
}

function behaviour(value: unknown): BehaviourView {
  const view = object(value, '"behaviour"');
  return { machine: machine(view.machine), state: string(view.state, "behaviour.state"), active: stringList(view.active, "behaviour.active") };
}

function bindings(value: unknown): Array<[string, string, string]> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('"bindings" must be a list');
  return value.map((item: unknown) => {
    if (!Array.isArray(item) || item.length !== 3 || !item.every((part) => typeof part === "string")) {
      throw invalid('each binding must be [exchange, queue, key]');
    }
    return [item[0] as string, item[1] as string, item[2] as string];
  });
}

function counters(value: unknown): MessageCounters {
  const dict = value === undefined ? {} : object(value, '"counters"');
  const count = (key: string): number => (typeof dict[key] === "number" ? (dict[key] as number) : 0);
  return {
    received: count("received"),
    handled: count("handled"),
    rejected: count("rejected"),
    unhandled: count("unhandled"),
    invalid: count("invalid"),
    sent: count("sent"),
  };
}
