import type { AnyStateMachine, AnyStateNode } from "xstate";
import { processorMachine } from "../machine/processorMachine.js";
import type { MachineGraph, MachineGraphNode } from "./InspectionEvent.js";

/** Gives XState's internal event names (invocation results, delays, eventless) readable labels. */
function eventLabel(eventType: string): string {
  if (eventType.startsWith("xstate.done.actor.")) return "done";
  if (eventType.startsWith("xstate.error.actor.")) return "error";
  if (eventType.startsWith("xstate.after.")) return `after ${eventType.split(".")[2] ?? "delay"}`;
  if (eventType === "") return "always";
  return eventType;
}

function pathOf(node: AnyStateNode): string {
  return node.path.join(".");
}

/**
 * Describes a machine definition as the states, hierarchy and transitions the inspector draws.
 * Transitions declared on the root (events handled in every state) are left out: they have no
 * state of their own to start from. Transitions without a target (actions only) are left out too.
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const states: string[] = [];
  const finalStates: string[] = [];
  const nodes: MachineGraphNode[] = [];
  const transitions: MachineGraph["transitions"] = [];
  const visit = (node: AnyStateNode): void => {
    if (node.path.length > 0) {
      states.push(pathOf(node));
      if (node.type === "final") finalStates.push(pathOf(node));
      const entry: MachineGraphNode = { path: pathOf(node), key: node.key, kind: node.type };
      if (node.path.length > 1) entry.parent = node.path.slice(0, -1).join(".");
      const initial = node.type === "compound" ? node.initial?.target[0] : undefined;
      if (initial !== undefined) entry.initial = pathOf(initial);
      nodes.push(entry);
    }
    const from = pathOf(node);
    for (const [eventType, list] of node.transitions) {
      for (const transition of list) {
        for (const target of transition.target ?? []) {
          if (from !== "") transitions.push({ from, to: pathOf(target), event: eventLabel(eventType) });
        }
      }
    }
    for (const transition of node.always ?? []) {
      for (const target of transition.target ?? []) transitions.push({ from, to: pathOf(target), event: eventLabel("") });
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  const initial = machine.root.initial?.target[0];
  const graph: MachineGraph = { id: machine.id, initial: initial ? pathOf(initial) : (states[0] ?? ""), states, finalStates, transitions, nodes };
  if (machine.root.type === "parallel") graph.parallel = true;
  return graph;
}

/**
 * Every active state's path in a snapshot value, ancestors included, in document order:
 * `{ fulfilment: { payment: "paid", shipping: "packing" } }` gives
 * `["fulfilment", "fulfilment.payment", "fulfilment.payment.paid", "fulfilment.shipping", "fulfilment.shipping.packing"]`.
 */
export function activeStatePaths(value: unknown, prefix = ""): string[] {
  const join = (key: string): string => (prefix === "" ? key : `${prefix}.${key}`);
  if (typeof value === "string") return [join(value)];
  if (typeof value !== "object" || value === null) return [];
  const paths: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    paths.push(join(key), ...activeStatePaths(child, join(key)));
  }
  return paths;
}

/**
 * A readable name for a snapshot value: the leaf path for one active branch (`"active.paid"`),
 * the leaf paths joined with `", "` when parallel regions are active at once.
 */
export function stateLabel(value: unknown): string {
  const paths = activeStatePaths(value);
  const leaves = paths.filter((path) => !paths.some((other) => other.startsWith(`${path}.`)));
  return leaves.join(", ");
}

/** The state path of a snapshot value (`"running"`, or `"a.b"` for nested states). */
export function statePath(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    const [key, child] = Object.entries(value)[0] ?? [];
    return key === undefined ? "" : child === undefined || (typeof child === "object" && Object.keys(child as object).length === 0) ? key : `${key}.${statePath(child)}`;
  }
  return "";
}

let processorGraphCache: MachineGraph | undefined;

/** The graph of the processor lifecycle machine (computed once). */
export function processorGraph(): MachineGraph {
  processorGraphCache ??= machineGraph(processorMachine);
  return processorGraphCache;
}
