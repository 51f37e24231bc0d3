import type { FingerprintDict } from "@postage/core";

/**
 * A state machine's shape, simplified for drawing: every state (dotted path for nested states)
 * and every transition between them.
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
  /** `processor` or `application`. */
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
}

/** The actor's machine moved (or stayed) after an event. */
export interface ActorTransitionEvent extends InspectionEventBase {
  kind: "transition";
  /** The event type that caused it, e.g. `"quit"`. */
  event: string;
  from: string;
  to: string;
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
