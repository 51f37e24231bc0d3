import { type Actor, type AnyStateMachine, createActor, type EventObject, type Subscription } from "xstate";
import { machineGraph, activeStatePaths, stateLabel } from "../inspection/machineGraph.js";
import type { BehaviourView, MachineGraph } from "../inspection/InspectionEvent.js";
import type { PersistedSnapshot, SnapshotStore } from "./SnapshotStore.js";

/**
 * What is saved for a behaviour: XState's persisted snapshot, and the delayed events it had
 * scheduled (XState does not persist those: `after` transitions would be lost on a restore).
 */
export interface SavedBehaviour extends PersistedSnapshot {
  version: 1;
  snapshot: PersistedSnapshot;
  /** Delayed events pending at the save: when each was scheduled and how long it waits. */
  timers: Array<{ id: string; event: EventObject; startedAt: number; delay: number }>;
}

/** What the host reports to the component it runs in. */
export interface BehaviourHostEvents {
  /** The behaviour moved after `event` (a message name, or XState's name for a timer). */
  transition(event: string, from: string, to: string, active: string[]): void;
  /** Something failed that only a log can tell (a save, a restore). */
  report(error: unknown, what: string): void;
}

/** Options of a {@link BehaviourHost}. */
export interface BehaviourHostOptions {
  machine: AnyStateMachine;
  /** Under which key snapshots are saved. */
  key: string;
  /** Where snapshots go; the memory store is always written, a user's store too when given. */
  stores: readonly SnapshotStore[];
  /** Input for the machine's context (XState's `input`). */
  input?: unknown;
  /** Ties the behaviour's actor system to its component (for the action helpers). */
  register?: (system: object) => void;
  events: BehaviourHostEvents;
}

/** What became of an event sent to the behaviour. */
export type BehaviourOutcome =
  | { accepted: true; state: string }
  | { accepted: false; state: string; leaves: string[] }
  | { accepted: false; failed: unknown; state: string };

function isSavedBehaviour(value: PersistedSnapshot | undefined): value is SavedBehaviour {
  return value !== undefined && value.version === 1 && typeof value.snapshot === "object" && value.snapshot !== null && Array.isArray(value.timers);
}

/**
 * Runs a component's behaviour machine: restores it from the first store that has a snapshot,
 * re-arms its delayed transitions, sends it events, saves a snapshot after every change, and
 * starts it again from the last good snapshot when one of its actions throws. @internal
 */
export class BehaviourHost {
  readonly graph: MachineGraph;
  private actor: Actor<AnyStateMachine> | undefined;
  private subscription: Subscription | undefined;
  private loading: Promise<void> | undefined;
  private lastGood: SavedBehaviour | undefined;
  private previous = "";
  private saving: Promise<unknown> = Promise.resolve();
  /** The event being handled (its name labels the transition). */
  private cause: string | undefined;
  /** The last event the machine received (a timer's, when no message is being handled). */
  private lastEvent: string | undefined;
  private stopped = false;

  constructor(private readonly options: BehaviourHostOptions) {
    this.graph = machineGraph(options.machine);
  }

  /** Loads the saved snapshot (once) and starts the machine. Deliveries wait for it. */
  ready(): Promise<void> {
    this.loading ??= this.load().then((saved) => {
      if (!this.stopped) this.run(saved);
    });
    return this.loading;
  }

  /** The behaviour's state (`"open.pending"`; parallel leaves joined by `", "`), or `""` before it runs; the last one once stopped. */
  get state(): string {
    const value = this.value;
    return value === undefined ? "" : stateLabel(value);
  }

  /** Its state value as XState has it (`{ open: "pending" }`). */
  get value(): unknown {
    return this.actor ? this.actor.getSnapshot().value : this.lastGood?.snapshot.value;
  }

  /** Its context. */
  get context(): unknown {
    return this.actor ? this.actor.getSnapshot().context : this.lastGood?.snapshot.context;
  }

  /** What the inspector draws. */
  view(): BehaviourView | undefined {
    if (!this.actor) return undefined;
    const value = this.actor.getSnapshot().value;
    return { machine: this.graph, state: stateLabel(value), active: activeStatePaths(value) };
  }

  /**
   * Sends `event` if the current state takes it (XState's `snapshot.can`: a transition with a
   * target or actions, guards passing); says so when it does not, or when an action threw.
   */
  async send(event: EventObject): Promise<BehaviourOutcome> {
    await this.ready();
    const actor = this.actor;
    if (actor === undefined) return { accepted: false, state: "stopped", leaves: [] };
    const snapshot = actor.getSnapshot();
    const state = stateLabel(snapshot.value);
    // A behaviour that reached a top-level final state takes nothing more.
    if (snapshot.status !== "active" || !snapshot.can(event)) {
      const paths = activeStatePaths(snapshot.value);
      const leaves = paths.filter((path) => !paths.some((other) => other.startsWith(`${path}.`))).map((path) => path.split(".").pop() ?? path);
      return { accepted: false, state, leaves };
    }
    this.cause = event.type;
    try {
      actor.send(event);
    } finally {
      this.cause = undefined;
    }
    const after = actor.getSnapshot();
    if (after.status === "error") {
      const failed = after.error;
      this.restart();
      return { accepted: false, failed, state };
    }
    return { accepted: true, state: stateLabel(after.value) };
  }

  /** Saves the last snapshot and stops the machine; waits for the saves in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loading?.catch(() => undefined); // a failed load was reported by run(); nothing to stop then
    if (this.actor !== undefined) {
      this.persist();
      this.subscription?.unsubscribe();
      this.actor.stop();
      this.actor = undefined;
    }
    await this.saving;
  }

  private async load(): Promise<SavedBehaviour | undefined> {
    for (const store of this.options.stores) {
      let saved: PersistedSnapshot | undefined;
      try {
        saved = await store.load(this.options.key);
      } catch (error) {
        this.options.events.report(error, `could not load the behaviour snapshot "${this.options.key}"; trying the next store or starting fresh`);
        continue;
      }
      if (isSavedBehaviour(saved)) return saved;
      if (saved !== undefined) this.options.events.report(new Error("not a saved behaviour"), `ignored the snapshot "${this.options.key}": it was not saved by a component`);
    }
    return undefined;
  }

  private run(saved: SavedBehaviour | undefined): void {
    let actor: Actor<AnyStateMachine>;
    try {
      actor = this.create(saved);
    } catch (error) {
      // A snapshot of an older machine may not fit the new one: start fresh rather than not at all.
      this.options.events.report(error, `could not restore the behaviour snapshot "${this.options.key}"; starting from the initial state`);
      actor = this.create(undefined);
    }
    this.actor = actor;
    this.previous = stateLabel(actor.getSnapshot().value);
    this.subscription = actor.subscribe({
      next: (snapshot) => {
        const to = stateLabel(snapshot.value);
        if (to !== this.previous) {
          const from = this.previous;
          this.previous = to;
          this.options.events.transition(this.cause ?? this.lastEvent ?? "timer", from, to, activeStatePaths(snapshot.value));
        }
        if (snapshot.status !== "error") this.persist();
      },
      // An action that threw: send() notices and restarts; a timer-driven one is caught here.
      error: (error) => {
        if (this.cause === undefined) {
          this.options.events.report(error, "the behaviour machine failed on a timer; restarted from its last snapshot");
          queueMicrotask(() => this.restart());
        }
      },
    });
    actor.start();
    if (saved !== undefined) this.rearm(actor, saved.timers);
    this.persist();
  }

  private create(saved: SavedBehaviour | undefined): Actor<AnyStateMachine> {
    const actor: Actor<AnyStateMachine> = createActor(this.options.machine, {
      // Names what moved the machine when no message did: a delayed transition's `xstate.after...` event.
      inspect: (inspection) => {
        if (inspection.type === "@xstate.event" && inspection.actorRef === actor) this.lastEvent = inspection.event.type;
      },
      ...(saved === undefined ? {} : { snapshot: saved.snapshot as never }),
      ...(this.options.input === undefined ? {} : { input: this.options.input }),
    });
    this.options.register?.(actor.system);
    return actor;
  }

  /** Delayed events wait out what was left of their delay (none when the process was away longer). */
  private rearm(actor: Actor<AnyStateMachine>, timers: SavedBehaviour["timers"]): void {
    const now = Date.now();
    for (const timer of timers) {
      actor.system.scheduler.schedule(actor, actor, timer.event, Math.max(0, timer.startedAt + timer.delay - now), timer.id);
    }
  }

  private restart(): void {
    this.subscription?.unsubscribe();
    this.actor?.stop();
    this.actor = undefined;
    if (!this.stopped) this.run(this.lastGood);
  }

  private persist(): void {
    const actor = this.actor;
    if (actor === undefined) return;
    const timers: SavedBehaviour["timers"] = [];
    for (const scheduled of Object.values(actor.system.getSnapshot()._scheduledEvents)) {
      if (scheduled.source === actor) timers.push({ id: scheduled.id, event: scheduled.event, startedAt: scheduled.startedAt, delay: scheduled.delay });
    }
    const saved: SavedBehaviour = { version: 1, snapshot: actor.getPersistedSnapshot() as PersistedSnapshot, timers };
    this.lastGood = saved;
    for (const store of this.options.stores) {
      const save = store.save(this.options.key, saved).catch((error: unknown) => this.options.events.report(error, `could not save the behaviour snapshot "${this.options.key}"`));
      this.saving = Promise.all([this.saving, save]).then(() => undefined);
    }
  }
}
