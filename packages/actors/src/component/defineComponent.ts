import { ErrorResult, ExceptionResult, type Message, ResultMessage, SuccessResult } from "@postage/core";
import type { Incoming } from "@postage/transport";
import { type AnyActorLogic, type AnyStateMachine, type EventObject, fromCallback, type InputFrom } from "xstate";
import { GenericApplication, type GenericApplicationOptions } from "../GenericApplication.js";
import type { HandlersOutcome } from "../handlers/runHandlers.js";
import type { BehaviourView } from "../inspection/InspectionEvent.js";
import { BehaviourHost, type BehaviourOutcome } from "./BehaviourHost.js";
import type { ComponentEvent, ReplyValue } from "./ComponentEvent.js";
import { type ComponentRuntime, registerRuntime } from "./componentActions.js";
import { memorySnapshots } from "./memorySnapshots.js";
import type { SnapshotStore } from "./SnapshotStore.js";

/** Options of {@link defineComponent}: a GenericApplication's, plus the machine and where its snapshots go. */
export interface ComponentOptions<TMachine extends AnyStateMachine> extends Omit<GenericApplicationOptions, "fingerprint"> {
  /** The component's name: its addresses derive from it (`order`, `order/rr`, `order@host`, ...). */
  name: string;
  /** The behaviour: any XState v5 machine. Each command it gets is an event named after the message. */
  machine: TMachine;
  /** The machine's input (XState's `input`), when its context is built from one. @default undefined */
  input?: InputFrom<TMachine>;
  /** The fingerprint's type. @default "component" */
  type?: string;
  /**
   * Where the behaviour's snapshot is saved after every transition, for a new run of the process
   * to restore (see {@link SnapshotStore}; {@link createFileSnapshotStore} is built in). Within
   * one process the snapshot is always kept in memory: an in-place restart, or the component made
   * again after `quit`, carries on. `false` keeps nothing, not even in memory.
   * @default undefined (memory only)
   */
  snapshots?: SnapshotStore | false;
  /** The key snapshots are saved under; give each its own when several components share a name. @default name */
  snapshotKey?: string;
  /**
   * What becomes of a fire-and-forget command the current state does not take: `"ack"` counts
   * it (`illegal` in `describe`) and drops it; `"dead-letter"` also rejects it to the dead-letter
   * exchange with the reason (`cannot ship in state pending`). An RPC is always answered with an
   * `ErrorResult` saying so. @default "ack"
   */
  illegalCommands?: "ack" | "dead-letter";
}

/** What a component counts about its behaviour (in `describe`, beside the processor's counters). */
export interface BehaviourCounters {
  /** Commands and RPCs the machine took. */
  events: number;
  /** Those it did not take in its state (answered or counted, see `illegalCommands`). */
  illegal: number;
  /** Those whose actions threw (the machine went back to its last snapshot). */
  failed: number;
}

function asResult(value: ReplyValue): Message {
  return value instanceof ResultMessage ? value : new SuccessResult(value);
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * A {@link GenericApplication} whose behaviour is an XState machine of yours: made with
 * {@link defineComponent}. Addressed, pinged, described, quit and restarted as any application;
 * every other command becomes an event of its machine.
 */
export class Component<TMachine extends AnyStateMachine = AnyStateMachine> extends GenericApplication {
  override readonly actorType: string = "component";
  /** What the component counts about its behaviour. */
  readonly behaviourCounters: BehaviourCounters = { events: 0, illegal: 0, failed: 0 };
  private readonly machineHost: BehaviourHost;
  private readonly illegalCommands: "ack" | "dead-letter";
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: ComponentOptions<TMachine>) {
    super({ ...options, type: options.type ?? "component" });
    this.illegalCommands = options.illegalCommands ?? "ack";
    const runtime: ComponentRuntime = {
      name: options.name,
      exchange: this.exchange,
      producer: undefined as never,
      deliver: (event) => this.keep(this.deliverReply(event), `delivering ${event.type}`),
      track: (work, what) => this.keep(work, what),
    };
    // The producer exists once the component runs on a broker: read it when a helper needs it.
    Object.defineProperty(runtime, "producer", { get: () => this.producer });
    const stores = options.snapshots === false ? [] : options.snapshots === undefined ? [memorySnapshots] : [memorySnapshots, options.snapshots];
    this.machineHost = new BehaviourHost({
      machine: options.machine,
      key: options.snapshotKey ?? options.name,
      stores,
      input: options.input,
      register: (system) => registerRuntime(system, runtime),
      events: {
        transition: (event, from, to, active) => {
          this.inspection?.emit({ kind: "transition", actorId: this.id, at: Date.now(), event, from, to, machine: "behaviour", active });
        },
        report: (error, what) => this.reportError(error, what),
      },
    });
  }

  /** The behaviour's state (`"open.pending"`; the leaves of parallel regions joined by `", "`). */
  get behaviourState(): string {
    return this.machineHost.state;
  }

  /** The behaviour's context. */
  get behaviourContext(): unknown {
    return this.machineHost.context;
  }

  /** Resolves once the behaviour was restored (or started fresh) and runs. */
  whenBehaviourReady(): Promise<void> {
    return this.machineHost.ready();
  }

  /** What `describe` answers: the application's description, plus the behaviour's state, value, context and counters. */
  override describe(): Record<string, unknown> {
    return {
      ...super.describe(),
      behaviour: { machine: this.machineHost.graph.id, state: this.machineHost.state, value: this.machineHost.value ?? null, context: this.machineHost.context ?? null, counters: { ...this.behaviourCounters } },
    };
  }

  /** Resolves once the actor stopped, its behaviour's last snapshot was saved and its sends settled. */
  override async whenDone(): Promise<void> {
    await super.whenDone();
    await this.machineHost.stop();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  protected override behaviourLogic(): AnyActorLogic {
    // The lifecycle's `behaviour` child: it runs the user's machine for as long as the lifecycle
    // lives (in-place restarts included) and saves its last snapshot when the lifecycle stops.
    return fromCallback(() => {
      this.keep(this.machineHost.ready(), "starting the behaviour machine");
      return () => this.keep(this.machineHost.stop(), "stopping the behaviour machine");
    });
  }

  protected override behaviourView(): BehaviourView | undefined {
    return this.machineHost.view();
  }

  protected override dispatch(incoming: Incoming): HandlersOutcome | Promise<HandlersOutcome> | undefined {
    // Handlers first: quit, restart, ping, describe, groups, and any the user added.
    const handled = super.dispatch(incoming);
    if (handled !== undefined || incoming.message.type !== "command") return handled;
    return this.toBehaviour(incoming);
  }

  private async toBehaviour(incoming: Incoming): Promise<HandlersOutcome> {
    const { message } = incoming;
    const rpc = message.category === "rpc" && incoming.reply !== undefined;
    const replies: Promise<void>[] = [];
    let replied = false;
    const reply = (value: ReplyValue): boolean => {
      if (!rpc || replied || incoming.reply === undefined) return false;
      replied = true;
      replies.push(incoming.reply(asResult(value)));
      return true;
    };
    const parameters = (message.content as { parameters?: unknown }).parameters;
    const event: ComponentEvent = { type: message.name, params: parameters ?? {}, message: message as ComponentEvent["message"], rpc, reply };
    const outcome: BehaviourOutcome = await this.machineHost.send(event);
    const result: HandlersOutcome = { completed: 1, filtered: 0, failures: [], rejectReason: undefined };
    if (outcome.accepted) {
      this.behaviourCounters.events += 1;
      // An RPC the machine took without answering: the caller still gets where it stands now.
      if (!replied) reply({ state: outcome.state, context: this.machineHost.context ?? null });
    } else if ("failed" in outcome) {
      this.behaviourCounters.failed += 1;
      reply(ExceptionResult.fromError(outcome.failed));
      result.failures.push(outcome.failed);
      result.rejectReason = `the behaviour's actions for "${message.name}" threw ${describeError(outcome.failed)}`;
    } else {
      this.behaviourCounters.illegal += 1;
      const why = `cannot ${message.name} in state ${outcome.leaves.join(", ") || outcome.state}`;
      if (rpc) reply(new ErrorResult(why));
      else if (this.illegalCommands === "dead-letter") result.rejectReason = why;
    }
    await Promise.all(replies);
    return result;
  }

  /** An RPC reply (see `callRpc`) back into the behaviour; one its state does not take is reported. */
  private async deliverReply(event: EventObject): Promise<void> {
    const outcome = await this.machineHost.send(event);
    if (!outcome.accepted) this.reportError(new Error(`"${event.type}" not taken in state ${outcome.state}`), `the reply event "${event.type}" was dropped`);
  }

  private keep(work: Promise<unknown>, what: string): void {
    const tracked: Promise<unknown> = work.then(undefined, (error: unknown) => this.reportError(error, what)).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

/**
 * Makes any XState v5 machine a network component: a {@link GenericApplication} (every address,
 * `ping`, `describe`, groups, `quit`, `restart`) whose commands and RPCs become events of your
 * machine. A message `pay` with parameters `{ amount: 9 }` is the event
 * `{ type: "pay", params: { amount: 9 }, message, rpc, reply }` (see {@link ComponentEvent}).
 *
 * - An RPC gets what the machine answers with `reply(...)` (the {@link reply} action), or, if it
 *   takes the event without answering, `SuccessResult({ state, context })`.
 * - An event the current state does not take is answered, for an RPC, with
 *   `ErrorResult("cannot ship in state pending")`; a fire-and-forget command is counted and acked
 *   (or dead-lettered: `illegalCommands: "dead-letter"`).
 * - An action that throws: the caller gets an `ExceptionResult`, the message is dead-lettered and
 *   the machine goes back to its last snapshot.
 * - The snapshot (`getPersistedSnapshot`, with pending `after` timers) is kept across in-place
 *   restarts and, with a {@link SnapshotStore}, across runs of the process; timers resume with
 *   what was left of their delay.
 * - `describe` and `postage ps` show the behaviour's state, `postage state <address>` its context,
 *   and the inspector draws the machine beside the lifecycle.
 *
 * The actions {@link reply}, {@link sendCommand}, {@link callRpc} and {@link broadcastStatus} go
 * through the component's own producer.
 *
 * @example
 * const orderMachine = setup({
 *   types: { context: {} as { paid: number }, events: {} as ComponentEvent<"pay", { amount: number }> | ComponentEvent<"ship"> | ComponentEvent<"status"> },
 * }).createMachine({
 *   initial: "pending",
 *   context: { paid: 0 },
 *   on: { status: { actions: reply(({ context }) => context) } },
 *   states: {
 *     pending: { on: { pay: { target: "paid", actions: assign({ paid: ({ event }) => event.params.amount }) } } },
 *     paid: { on: { ship: "shipped" } },
 *     shipped: {},
 *   },
 * });
 *
 * const scheduler = new Scheduler();
 * scheduler.add(defineComponent({ name: "order", machine: orderMachine, snapshots: createFileSnapshotStore({ directory: "./state" }) }));
 * await scheduler.run();
 * // elsewhere: producer.to({ key: "order" }).call("ship") -> ErrorResult "cannot ship in state pending"
 */
export function defineComponent<TMachine extends AnyStateMachine>(options: ComponentOptions<TMachine>): Component<TMachine> {
  return new Component(options);
}
