import type { AnyStateMachine, AnyStateNode } from "xstate";
import { processorMachine } from "../machine/processorMachine.js";
import type { MachineGraph } from "./InspectionEvent.js";

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
 * Flattens a machine definition into the states and transitions the inspector draws.
 * Transitions declared on the root (events handled in every state without changing it) are
 * listed as self-transitions of the root's children only when they have a target.
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const states: string[] = [];
  const finalStates: string[] = [];
  const transitions: MachineGraph["transitions"] = [];
  const visit = (node: AnyStateNode): void => {
    if (node.path.length > 0) {
      states.push(pathOf(node));
      if (node.type === "final") finalStates.push(pathOf(node));
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
  return { id: machine.id, initial: initial ? pathOf(initial) : (states[0] ?? ""), states, finalStates, transitions };
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
