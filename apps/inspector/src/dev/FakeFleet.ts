import type { ActorAnnouncedEvent, BehaviourView, InspectionEvent, MachineGraph, MessageCounters } from "@postage/actors";
import type { FingerprintDict } from "@postage/core";

/** The application machine the fake fleet uses (the shape the actors package describes). */
export const FAKE_APPLICATION_MACHINE: MachineGraph = {
  id: "generic-application",
  initial: "starting",
  states: ["starting", "running", "restarting", "stopping", "stopped", "failed"],
  finalStates: ["stopped", "failed"],
  transitions: [
    { from: "starting", to: "running", event: "ready" },
    { from: "starting", to: "failed", event: "error" },
    { from: "running", to: "running", event: "join_group" },
    { from: "running", to: "running", event: "leave_group" },
    { from: "running", to: "restarting", event: "restart" },
    { from: "restarting", to: "running", event: "ready" },
    { from: "running", to: "stopping", event: "quit" },
    { from: "stopping", to: "stopped", event: "drained" },
    { from: "running", to: "failed", event: "error" },
  ],
};

/** A message processor's simpler machine. */
export const FAKE_PROCESSOR_MACHINE: MachineGraph = {
  id: "message-processor",
  initial: "starting",
  states: ["starting", "consuming", "stopping", "stopped"],
  finalStates: ["stopped"],
  transitions: [
    { from: "starting", to: "consuming", event: "ready" },
    { from: "consuming", to: "stopping", event: "quit" },
    { from: "stopping", to: "stopped", event: "drained" },
  ],
};

/**
 * A behaviour machine with a compound state holding a parallel state (the shape of
 * `machineGraph` for a nested XState machine), for drawing nested and parallel states.
 */
export const FAKE_SHIPMENT_MACHINE: MachineGraph = {
  id: "shipment",
  initial: "received",
  states: [
    "received",
    "handling",
    "handling.checking",
    "handling.fulfilment",
    "handling.fulfilment.payment",
    "handling.fulfilment.payment.due",
    "handling.fulfilment.payment.paid",
    "handling.fulfilment.packing",
    "handling.fulfilment.packing.picking",
    "handling.fulfilment.packing.packed",
    "delivered",
    "cancelled",
  ],
  finalStates: ["delivered", "cancelled"],
  transitions: [
    { from: "received", to: "handling", event: "accept" },
    { from: "handling.checking", to: "handling.fulfilment", event: "checked" },
    { from: "handling.fulfilment.payment.due", to: "handling.fulfilment.payment.paid", event: "pay" },
    { from: "handling.fulfilment.packing.picking", to: "handling.fulfilment.packing.packed", event: "after 2000" },
    { from: "handling.fulfilment", to: "delivered", event: "deliver" },
    { from: "handling", to: "cancelled", event: "cancel" },
  ],
  nodes: [
    { path: "received", key: "received", kind: "atomic" },
    { path: "handling", key: "handling", kind: "compound", initial: "handling.checking" },
    { path: "handling.checking", parent: "handling", key: "checking", kind: "atomic" },
    { path: "handling.fulfilment", parent: "handling", key: "fulfilment", kind: "parallel" },
    { path: "handling.fulfilment.payment", parent: "handling.fulfilment", key: "payment", kind: "compound", initial: "handling.fulfilment.payment.due" },
    { path: "handling.fulfilment.payment.due", parent: "handling.fulfilment.payment", key: "due", kind: "atomic" },
    { path: "handling.fulfilment.payment.paid", parent: "handling.fulfilment.payment", key: "paid", kind: "atomic" },
    { path: "handling.fulfilment.packing", parent: "handling.fulfilment", key: "packing", kind: "compound", initial: "handling.fulfilment.packing.picking" },
    { path: "handling.fulfilment.packing.picking", parent: "handling.fulfilment.packing", key: "picking", kind: "atomic" },
    { path: "handling.fulfilment.packing.packed", parent: "handling.fulfilment.packing", key: "packed", kind: "atomic" },
    { path: "delivered", key: "delivered", kind: "final" },
    { path: "cancelled", key: "cancelled", kind: "final" },
  ],
};

const EXCHANGE = "generic-application-exchange";

interface FakeActor {
  id: string;
  fingerprint: FingerprintDict;
  actorType: string;
  machine: MachineGraph;
  state: string;
  groups: string[];
  counters: MessageCounters;
  silent: boolean;
  behaviour?: BehaviourView;
}

/** What to create: name, host, pid, kind. */
export interface FakeActorSpec {
  id: string;
  name: string;
  host: string;
  pid: string;
  type?: "application" | "processor";
  groups?: string[];
}

/** The default cast: a small fleet across two hosts. */
export const DEFAULT_FAKE_FLEET: FakeActorSpec[] = [
  { id: "Vq3kP0orders", name: "orders", host: "app-1", pid: "4211", groups: ["billing"] },
  { id: "x8LmZ2orders", name: "orders", host: "app-2", pid: "3390", groups: ["billing"] },
  { id: "Tz91Qinvoice", name: "invoices", host: "app-1", pid: "4211" },
  { id: "Hh2sWmailer0", name: "mailer", host: "app-2", pid: "3402", groups: ["notify"] },
  { id: "Pp7cXaudit00", name: "audit-log", host: "app-1", pid: "4330", type: "processor" },
];

/**
 * A pretend fleet of actors that emits inspection events, for looking at the inspector without
 * a broker (dev script, browser tests). Every change is an explicit method call, so tests decide
 * what happens; {@link autoplay} adds random traffic for a livelier demo.
 */
export class FakeFleet {
  private readonly actors = new Map<string, FakeActor>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly emit: (event: InspectionEvent) => void,
    private readonly options: { heartbeatMs?: number; now?: () => number } = {},
  ) {}

  private get now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Creates an actor and emits its start: announce in `starting`, then the `ready` transition. */
  add(spec: FakeActorSpec): void {
    const processor = spec.type === "processor";
    const actor: FakeActor = {
      id: spec.id,
      fingerprint: { name: spec.name, type: processor ? "processor" : "application", pid: spec.pid, host: spec.host, user: "postage", vhost: "/", instance: spec.id },
      actorType: processor ? "processor" : "application",
      machine: processor ? FAKE_PROCESSOR_MACHINE : FAKE_APPLICATION_MACHINE,
      state: "starting",
      groups: [...(spec.groups ?? [])],
      counters: { received: 0, handled: 0, rejected: 0, unhandled: 0, invalid: 0, sent: 0 },
      silent: false,
    };
    this.actors.set(actor.id, actor);
    this.announce(actor.id);
    this.transition(actor.id, "ready", processor ? "consuming" : "running");
  }

  /** Emits the actor's announce (its heartbeat). */
  announce(id: string): void {
    const actor = this.get(id);
    this.emit(this.announcement(actor));
  }

  /** Moves the actor's machine and emits the transition. */
  transition(id: string, event: string, to: string): void {
    const actor = this.get(id);
    const from = actor.state;
    actor.state = to;
    this.emit({ kind: "transition", actorId: id, at: this.now, event, from, to });
  }

  /** Gives the actor a behaviour machine (as a component made with `defineComponent` has) and announces it. */
  addBehaviour(id: string, machine: MachineGraph, active: string[]): void {
    const actor = this.get(id);
    actor.behaviour = { machine, state: leaves(active), active };
    this.announce(id);
  }

  /** Moves the actor's behaviour machine on a message and emits the behaviour transition. */
  behave(id: string, event: string, active: string[]): void {
    const actor = this.get(id);
    if (actor.behaviour === undefined) throw new Error(`fake actor ${id} has no behaviour`);
    const from = actor.behaviour.state;
    actor.behaviour = { ...actor.behaviour, state: leaves(active), active };
    this.emit({ kind: "transition", actorId: id, at: this.now, event, from, to: actor.behaviour.state, machine: "behaviour", active });
  }

  /** Joins a group (a self-transition plus a fresh announce with the new bindings). */
  joinGroup(id: string, group: string): void {
    const actor = this.get(id);
    if (!actor.groups.includes(group)) actor.groups.push(group);
    this.transition(id, "join_group", actor.state);
    this.announce(id);
  }

  /** Leaves a group. */
  leaveGroup(id: string, group: string): void {
    const actor = this.get(id);
    actor.groups = actor.groups.filter((g) => g !== group);
    this.transition(id, "leave_group", actor.state);
    this.announce(id);
  }

  /** Quits: stopping, stopped, and the stopped event. */
  quit(id: string): void {
    const actor = this.get(id);
    this.transition(id, "quit", "stopping");
    this.transition(id, "drained", "stopped");
    this.emit({ kind: "stopped", actorId: id, at: this.now, state: actor.state });
  }

  /** The actor goes silent (its process died): no more heartbeats or events. */
  vanish(id: string): void {
    this.get(id).silent = true;
  }

  /** One message through the actor: received, then acked (or rejected) and maybe a reply sent. */
  message(id: string, routingKey: string, name: string, outcome: "acked" | "rejected" = "acked", reason?: string): void {
    const actor = this.get(id);
    if (actor.silent) return;
    const base = { kind: "message", actorId: id, messageType: "command", name, category: "message", exchange: EXCHANGE, routingKey } as const;
    actor.counters.received += 1;
    this.emit({ ...base, at: this.now, direction: "received", messageId: `m-${actor.counters.received}` });
    if (outcome === "acked") {
      actor.counters.handled += 1;
      this.emit({ ...base, at: this.now, direction: "acked" });
    } else {
      actor.counters.rejected += 1;
      this.emit({ ...base, at: this.now, direction: "rejected", reason: reason ?? "handler failed" });
    }
  }

  /** Heartbeats every `heartbeatMs` (default 2 s) for actors not silent and not stopped. */
  startHeartbeats(): void {
    const timer = setInterval(() => {
      for (const actor of this.actors.values()) {
        if (!actor.silent && !actor.machine.finalStates.includes(actor.state)) this.announce(actor.id);
      }
    }, this.options.heartbeatMs ?? 2000);
    timer.unref();
    this.timers.push(timer);
  }

  /** Random traffic: messages every few hundred ms, now and then a rejected one. */
  autoplay(): void {
    const names = ["create_order", "charge", "send_receipt", "ping", "refresh"];
    let n = 0;
    const timer = setInterval(() => {
      n += 1;
      const live = [...this.actors.values()].filter((a) => !a.silent && !a.machine.finalStates.includes(a.state));
      const actor = live[n % Math.max(1, live.length)];
      if (actor === undefined) return;
      const name = names[n % names.length] ?? "ping";
      const key = n % 3 === 0 ? `${actor.fingerprint.name ?? ""}/rr` : (actor.groups[0] ? `${actor.fingerprint.name ?? ""}#${actor.groups[0]}` : String(actor.fingerprint.name));
      this.message(actor.id, key, name, n % 11 === 0 ? "rejected" : "acked", n % 11 === 0 ? "KeyError: 'customer'" : undefined);
    }, 450);
    timer.unref();
    this.timers.push(timer);
  }

  /** Stops the timers. */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }

  private get(id: string): FakeActor {
    const actor = this.actors.get(id);
    if (actor === undefined) throw new Error(`no fake actor ${id}`);
    return actor;
  }

  private announcement(actor: FakeActor): ActorAnnouncedEvent {
    const { name, host, pid } = actor.fingerprint;
    const own = `postage.${name ?? ""}.${actor.id}`;
    const keys: Array<[string, string]> = [
      [String(name), own],
      [`${name ?? ""}/rr`, `postage.${name ?? ""}/rr`],
      [`@${host}`, own],
      [`${name ?? ""}@${host}`, own],
      [`${pid}@${host}`, own],
      [`~${actor.id}`, own],
      ...actor.groups.flatMap((g): Array<[string, string]> => [[`${name ?? ""}#${g}`, own], [`${name ?? ""}#${g}/rr`, `postage.${name ?? ""}#${g}/rr`]]),
    ];
    return {
      kind: "actor",
      actorId: actor.id,
      at: this.now,
      fingerprint: actor.fingerprint,
      actorType: actor.actorType,
      machine: actor.machine,
      state: actor.state,
      groups: [...actor.groups],
      bindings: (actor.actorType === "processor" ? keys.slice(0, 2) : keys).map(([key, queue]) => [EXCHANGE, queue, key]),
      counters: { ...actor.counters },
      heartbeatMs: this.options.heartbeatMs ?? 2000,
      ...(actor.behaviour === undefined ? {} : { behaviour: actor.behaviour }),
    };
  }
}

/** The readable state of a list of active paths: the leaves, joined. */
function leaves(active: string[]): string {
  return active.filter((path) => !active.some((other) => other.startsWith(`${path}.`))).join(", ");
}
