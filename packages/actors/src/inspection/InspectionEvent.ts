import type { FingerprintDict } from "@postage/core";

/** What kind of state a {@link MachineGraphNode} is (XState's state node types). */
export type MachineNodeKind = "atomic" | "compound" | "parallel" | "final" | "history";

/** One state of a {@link MachineGraph}, with its place in the hierarchy. */
export interface MachineGraphNode {
  /** Dotted path from the root, e.g. `"fulfilment.payment.paid"` (the same string as in `states`). */
  path: string;
  /** The enclosing state's path; absent for a top-level state. */
  parent?: string;
  /** The state's own key, e.g. `"paid"` (what the diagram writes in the box). */
  key: string;
  kind: MachineNodeKind;
  /** For a compound state: the path of the child entered first. */
  initial?: string;
}

/**
 * A state machine's shape, simplified for drawing: every state (dotted path for nested states)
 * and every transition between them. `nodes` adds the hierarchy (compound and parallel states
 * containing their children); graphs published before it existed have only the flat lists, and
 * stay valid.
 */
export interface MachineGraph {
  /** The machine's id, e.g. `"generic-application"`. */
  id: string;
  /** The initial state's path. */
  initial: string;
  /** Every state's path, e.g. `["starting", "running", "stopping", "stopped"]`. */
  states: string[];
  /** Final states (an actor there is done). */
  finalStates: string[];
  /** Transitions: `event` moves the actor from `from` to `to`. */
  transitions: Array<{ from: string; to: string; event: string }>;
  /** Every state with its parent and kind, parents before children; absent in older graphs. */
  nodes?: MachineGraphNode[];
  /** The machine itself is a parallel state: its top-level states are regions, all active at once. */
  parallel?: boolean;
}

/** Counters an actor keeps about the messages it handled. */
export interface MessageCounters {
  received: number;
  handled: number;
  rejected: number;
  unhandled: number;
  invalid: number;
  sent: number;
}

/**
 * A component's own behaviour machine (see `defineComponent`), shown beside its lifecycle.
 */
export interface BehaviourView {
  machine: MachineGraph;
  /** A readable state: the active leaf path, or the leaves joined with `", "` for parallel regions. */
  state: string;
  /** Every active state's path, ancestors included (what the diagram highlights). */
  active: string[];
}

/** What every inspection event carries: which actor, and when (ms since the epoch). */
export interface InspectionEventBase {
  /** Unique id of the actor: its fingerprint's instance id. */
  actorId: string;
  at: number;
}

/** An actor announces itself: on start, on every change of groups/bindings, and with each heartbeat. */
export interface ActorAnnouncedEvent extends InspectionEventBase {
  kind: "actor";
  fingerprint: FingerprintDict;
  /** `processor`, `application`, or `component` (made with `defineComponent`). */
  actorType: string;
  machine: MachineGraph;
  /** Current state path. */
  state: string;
  groups: string[];
  /** The routing keys it is bound with, per exchange: `[exchange, queue, key]`. */
  bindings: Array<[exchange: string, queue: string, key: string]>;
  counters: MessageCounters;
  /** Milliseconds until the next heartbeat; an actor silent for ~3 times this is presumed gone. */
  heartbeatMs: number;
  /** The component's behaviour machine, for components that have one. */
  behaviour?: BehaviourView;
}

/** The actor's machine moved (or stayed) after an event. */
export interface ActorTransitionEvent extends InspectionEventBase {
  kind: "transition";
  /** The event type that caused it, e.g. `"quit"`. */
  event: string;
  from: string;
  to: string;
  /** Which machine moved: the lifecycle (the default, also when absent) or the component's behaviour. */
  machine?: "lifecycle" | "behaviour";
  /** For a behaviour transition: every active state's path afterwards. */
  active?: string[];
}

/** A message went through the actor. */
export interface ActorMessageEvent extends InspectionEventBase {
  kind: "message";
  direction: "received" | "sent" | "acked" | "rejected";
  /** Message type (`command`, `result`, ...) and name; `"?"` when the body did not decode. */
  messageType: string;
  name: string;
  category: string;
  exchange: string;
  routingKey: string;
  messageId?: string;
  /** Why it was rejected (dead-letter reason). */
  reason?: string;
}

/** The actor is gone for good (stopped, or its process is shutting down). */
export interface ActorStoppedEvent extends InspectionEventBase {
  kind: "stopped";
  state: string;
}

/**
 * What the inspection hook reports. Inside a process it comes from
 * `scheduler.inspect(listener)`; across processes it travels on the `postage.inspect` topic
 * exchange (routing key `<kind>.<actorId>`), JSON encoded.
 */
export type InspectionEvent = ActorAnnouncedEvent | ActorTransitionEvent | ActorMessageEvent | ActorStoppedEvent;

/** The topic exchange inspection events are published to. */
export const INSPECT_EXCHANGE = "postage.inspect";
