import type { FingerprintDict } from "@postage/core";
import type { ActorMessageEvent, BehaviourView, InspectionEvent, MachineGraph, MessageCounters } from "@postage/actors";

/**
 * Where a component stands, as far as the inspector can tell:
 * `live` (heard from recently), `stopped` (said it stopped, or reached a final state),
 * `vanished` (silent for longer than its heartbeat timeout, without saying goodbye).
 */
export type ComponentStatus = "live" | "stopped" | "vanished";

/** One transition the inspector saw, newest last in {@link ComponentView.transitions}. */
export interface TransitionRecord {
  /** When the actor made it (the actor's clock, ms since the epoch). */
  at: number;
  event: string;
  from: string;
  to: string;
}

/** A component's behaviour machine as the inspector follows it: the announced view and the transitions seen since. */
export interface BehaviourRecord extends BehaviourView {
  /** The last behaviour transitions, oldest first; `event` is the message that caused each. */
  transitions: TransitionRecord[];
}

/** Everything the inspector knows about one actor. Plain data: safe to JSON-encode. */
export interface ComponentView {
  /** The actor's unique id (its fingerprint's instance id). */
  actorId: string;
  /** Undefined until the actor announced itself (events may arrive before its first announce). */
  fingerprint: FingerprintDict | undefined;
  /** `processor` or `application`; `""` until announced. */
  actorType: string;
  /** Current state path. */
  state: string;
  status: ComponentStatus;
  groups: string[];
  /** `[exchange, queue, routingKey]` for each binding. */
  bindings: Array<[exchange: string, queue: string, key: string]>;
  /**
   * As of the last announce, plus the message events seen since (they may be sampled, so the next
   * announce, which carries the actor's own counts, replaces them).
   */
  counters: MessageCounters;
  /** Undefined until announced. */
  machine: MachineGraph | undefined;
  /** The last transitions, oldest first. */
  transitions: TransitionRecord[];
  /** The component's own behaviour machine (components made with `defineComponent`); undefined for others. */
  behaviour: BehaviourRecord | undefined;
  /** The announced heartbeat period (ms); the model's default until announced. */
  heartbeatMs: number;
  /** When the inspector first heard of it (inspector's clock). */
  firstSeen: number;
  /** When the inspector last heard from it (inspector's clock). */
  lastSeen: number;
  /** When it stopped or vanished (inspector's clock); undefined while live. */
  endedAt: number | undefined;
}

/** One message event in the log. `seq` increases by one per entry, for ordering and de-duplication. */
export type MessageLogEntry = Omit<ActorMessageEvent, "kind"> & { seq: number };

/** Narrows {@link FleetModel.messages}. */
export interface MessageFilter {
  /** Only this actor's messages. */
  actorId?: string;
  /** Only messages whose routing key contains this text (case-insensitive). */
  routingKey?: string;
  /** At most this many, the newest. @default all kept */
  limit?: number;
}

/** What changed after {@link FleetModel.apply} or {@link FleetModel.tick}; what the server streams. */
export type FleetChange =
  | { type: "component"; component: ComponentView }
  | { type: "message"; entry: MessageLogEntry }
  | { type: "forgotten"; actorId: string };

/** The whole view at one moment. */
export interface FleetSnapshot {
  /** The inspector's clock when it was taken. */
  at: number;
  /** By name, then actor id (a stopping component keeps its place). */
  components: ComponentView[];
  /** The message log, oldest first. */
  messages: MessageLogEntry[];
}

/** Options of {@link FleetModel}. */
export interface FleetModelOptions {
  /** The clock (ms since the epoch); injected so tests control time. @default Date.now */
  now?: () => number;
  /** Message log entries kept. @default 500 */
  maxMessages?: number;
  /** Transitions kept per component. @default 20 */
  maxTransitions?: number;
  /** A component silent for this many heartbeats is marked vanished. @default 3 */
  vanishAfterHeartbeats?: number;
  /** Heartbeat assumed for a component not yet announced. @default 5000 */
  defaultHeartbeatMs?: number;
  /** Ended (stopped or vanished) components kept; beyond it the oldest ended are forgotten. @default 200 */
  maxEnded?: number;
}

const ZERO_COUNTERS: MessageCounters = { received: 0, handled: 0, rejected: 0, unhandled: 0, invalid: 0, sent: 0 };

/**
 * The inspector's live view model: folds {@link InspectionEvent}s into components (by actor id)
 * and a bounded message log. Pure: no I/O, no timers; the clock is injected and {@link tick}
 * must be called periodically to notice components that went silent.
 *
 * Components are never dropped when they stop or vanish: they are marked so, and only forgotten
 * when more than `maxEnded` ended components pile up (oldest first).
 *
 * @example
 * ```ts
 * const fleet = new FleetModel();
 * source.subscribe((event) => broadcast(fleet.apply(event)));
 * setInterval(() => broadcast(fleet.tick()), 1000);
 * ```
 */
export class FleetModel {
  private readonly now: () => number;
  private readonly maxMessages: number;
  private readonly maxTransitions: number;
  private readonly vanishAfter: number;
  private readonly defaultHeartbeatMs: number;
  private readonly maxEnded: number;
  private readonly byId = new Map<string, ComponentView>();
  private log: MessageLogEntry[] = [];
  private nextSeq = 1;

  constructor(options: FleetModelOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxMessages = Math.max(0, options.maxMessages ?? 500);
    this.maxTransitions = Math.max(0, options.maxTransitions ?? 20);
    this.vanishAfter = options.vanishAfterHeartbeats ?? 3;
    this.defaultHeartbeatMs = options.defaultHeartbeatMs ?? 5000;
    this.maxEnded = options.maxEnded ?? 200;
  }

  /** Folds one event in; returns what changed (to stream to viewers). */
  apply(event: InspectionEvent): FleetChange[] {
    const now = this.now();
    const changes: FleetChange[] = [];
    const component = this.byId.get(event.actorId) ?? this.create(event.actorId, now);
    component.lastSeen = now;

    switch (event.kind) {
      case "actor": {
        component.fingerprint = event.fingerprint;
        component.actorType = event.actorType;
        component.machine = event.machine;
        component.state = event.state;
        component.groups = [...event.groups];
        component.bindings = event.bindings.map(([exchange, queue, key]) => [exchange, queue, key]);
        component.counters = { ...event.counters };
        component.heartbeatMs = event.heartbeatMs > 0 ? event.heartbeatMs : this.defaultHeartbeatMs;
        component.behaviour =
          event.behaviour === undefined ? undefined : { ...event.behaviour, active: [...event.behaviour.active], transitions: component.behaviour?.transitions ?? [] };
        this.setStatus(component, this.isFinal(component, event.state) ? "stopped" : "live", now);
        break;
      }
      case "transition": {
        if (event.machine === "behaviour") {
          // Before the first announce there is no behaviour graph to draw yet; the transition is still listed.
          const behaviour = (component.behaviour ??= { machine: { id: "", initial: "", states: [], finalStates: [], transitions: [] }, state: "", active: [], transitions: [] });
          behaviour.state = event.to;
          behaviour.active = [...(event.active ?? [])];
          this.record(behaviour.transitions, event);
          if (component.status === "vanished") this.setStatus(component, "live", now);
          break;
        }
        component.state = event.to;
        this.record(component.transitions, event);
        this.setStatus(component, this.isFinal(component, event.to) ? "stopped" : "live", now);
        break;
      }
      case "stopped": {
        component.state = event.state;
        this.setStatus(component, "stopped", now);
        break;
      }
      case "message": {
        // A message proves the actor is alive, but does not revive one that said it stopped.
        if (component.status === "vanished") this.setStatus(component, "live", now);
        const entry: MessageLogEntry = {
          seq: this.nextSeq++,
          actorId: event.actorId,
          at: event.at,
          direction: event.direction,
          messageType: event.messageType,
          name: event.name,
          category: event.category,
          exchange: event.exchange,
          routingKey: event.routingKey,
        };
        countMessage(component.counters, event.direction);
        if (event.messageId !== undefined) entry.messageId = event.messageId;
        if (event.reason !== undefined) entry.reason = event.reason;
        if (this.maxMessages > 0) {
          this.log.push(entry);
          if (this.log.length > this.maxMessages) this.log = this.log.slice(this.log.length - this.maxMessages);
        }
        changes.push({ type: "message", entry });
        break;
      }
    }
    changes.unshift({ type: "component", component: clone(component) });
    if (component.status !== "live") changes.push(...this.prune());
    return changes;
  }

  /**
   * Marks components silent for `vanishAfterHeartbeats` heartbeats as vanished; returns them.
   * Call it periodically (e.g. every second); it does nothing when nothing timed out.
   */
  tick(): FleetChange[] {
    const now = this.now();
    const changes: FleetChange[] = [];
    for (const component of this.byId.values()) {
      if (component.status !== "live") continue;
      if (now - component.lastSeen > this.vanishAfter * component.heartbeatMs) {
        this.setStatus(component, "vanished", now);
        changes.push({ type: "component", component: clone(component) });
      }
    }
    if (changes.length > 0) changes.push(...this.prune());
    return changes;
  }

  /** One component by actor id (a copy), or undefined. */
  component(actorId: string): ComponentView | undefined {
    const component = this.byId.get(actorId);
    return component === undefined ? undefined : clone(component);
  }

  /** Every component (copies), by name, then actor id. */
  components(): ComponentView[] {
    return [...this.byId.values()].sort(compareComponents).map(clone);
  }

  /** The message log, oldest first, optionally filtered. */
  messages(filter: MessageFilter = {}): MessageLogEntry[] {
    const needle = filter.routingKey?.toLowerCase();
    let entries = this.log.filter(
      (entry) =>
        (filter.actorId === undefined || entry.actorId === filter.actorId) &&
        (needle === undefined || needle === "" || entry.routingKey.toLowerCase().includes(needle)),
    );
    if (filter.limit !== undefined && entries.length > filter.limit) entries = entries.slice(entries.length - Math.max(0, filter.limit));
    return entries.map((entry) => ({ ...entry }));
  }

  /** Everything, for a viewer that just connected. */
  snapshot(): FleetSnapshot {
    return { at: this.now(), components: this.components(), messages: this.messages() };
  }

  private create(actorId: string, now: number): ComponentView {
    const component: ComponentView = {
      actorId,
      fingerprint: undefined,
      actorType: "",
      state: "",
      status: "live",
      groups: [],
      bindings: [],
      counters: { ...ZERO_COUNTERS },
      machine: undefined,
      transitions: [],
      behaviour: undefined,
      heartbeatMs: this.defaultHeartbeatMs,
      firstSeen: now,
      lastSeen: now,
      endedAt: undefined,
    };
    this.byId.set(actorId, component);
    return component;
  }

  private record(transitions: TransitionRecord[], event: { at: number; event: string; from: string; to: string }): void {
    transitions.push({ at: event.at, event: event.event, from: event.from, to: event.to });
    if (transitions.length > this.maxTransitions) transitions.splice(0, transitions.length - this.maxTransitions);
  }

  private isFinal(component: ComponentView, state: string): boolean {
    return component.machine?.finalStates.includes(state) ?? false;
  }

  private setStatus(component: ComponentView, status: ComponentStatus, now: number): void {
    if (component.status === status) return;
    component.status = status;
    component.endedAt = status === "live" ? undefined : now;
  }

  /** Forgets the oldest ended components beyond `maxEnded`. */
  private prune(): FleetChange[] {
    const ended = [...this.byId.values()].filter((component) => component.status !== "live");
    if (ended.length <= this.maxEnded) return [];
    ended.sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    return ended.slice(0, ended.length - this.maxEnded).map((component) => {
      this.byId.delete(component.actorId);
      return { type: "forgotten", actorId: component.actorId } as const;
    });
  }
}

/** The name to show for a component: its fingerprint's name, else its actor id. */
export function componentName(component: ComponentView): string {
  return component.fingerprint?.name ?? component.actorId;
}

function countMessage(counters: MessageCounters, direction: ActorMessageEvent["direction"]): void {
  if (direction === "acked") counters.handled += 1;
  else counters[direction] += 1;
}

function compareComponents(a: ComponentView, b: ComponentView): number {
  const byName = componentName(a).localeCompare(componentName(b));
  return byName !== 0 ? byName : a.actorId.localeCompare(b.actorId);
}

function clone(component: ComponentView): ComponentView {
  return {
    ...component,
    groups: [...component.groups],
    bindings: component.bindings.map(([exchange, queue, key]) => [exchange, queue, key]),
    counters: { ...component.counters },
    transitions: component.transitions.map((transition) => ({ ...transition })),
    behaviour:
      component.behaviour === undefined
        ? undefined
        : { ...component.behaviour, active: [...component.behaviour.active], transitions: component.behaviour.transitions.map((transition) => ({ ...transition })) },
    // Machine graphs and fingerprints are replaced wholesale on announce, never mutated: share them.
  };
}
