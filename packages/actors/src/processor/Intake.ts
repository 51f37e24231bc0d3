import type { HandlerOutcome, Incoming } from "@postage/transport";
import { Mailbox } from "../Mailbox.js";

/** A delivery waiting for its turn, with what settles it; or a due timer callback. @internal */
export type MailboxItem = { kind: "delivery"; incoming: Incoming; settle: (outcome: HandlerOutcome) => void } | { kind: "timer"; run: () => unknown };

/**
 * A processor's intake: the mailbox its consumer's deliveries and its due timers wait in until the
 * scheduler steps the actor, and the giving back of deliveries that will not be handled (their
 * channel died, or the actor drains). The mailbox is bounded by the prefetch. @internal
 */
export class Intake {
  private readonly mailbox = new Mailbox<MailboxItem>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Signals of the channels deliveries came on: each is watched once, to give back what it brought. */
  private readonly watched = new WeakSet<AbortSignal>();
  /** The machine is `running`: the scheduler may step the actor. */
  open = false;
  /** A drain began: deliveries arriving now go back at once (for a driver without signals). */
  refusing = false;

  /**
   * @param counters where deliveries given back are counted
   * @param wake tells the host the actor has work it can start now
   */
  constructor(
    private readonly counters: { givenBack: number },
    private readonly wake: () => void,
  ) {}

  /** Deliveries and timers waiting. */
  get size(): number {
    return this.mailbox.size;
  }

  /** Opens the intake (the machine entered `running`) and wakes the actor if work waits. */
  openNow(): void {
    this.open = true;
    if (this.mailbox.size > 0) this.wake();
  }

  /** What the consumer calls with each delivery: into the mailbox, settled once handled or given back. */
  receive(incoming: Incoming): HandlerOutcome | Promise<HandlerOutcome> {
    const signal = incoming.delivery.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.counters.givenBack += 1;
        return "requeue";
      }
      if (!this.watched.has(signal)) this.watch(signal);
    }
    // A driver without signals: what arrives once the drain began goes back at once.
    if (this.refusing) {
      this.counters.givenBack += 1;
      return "requeue";
    }
    return new Promise<HandlerOutcome>((settle) => {
      this.mailbox.push({ kind: "delivery", incoming, settle });
      if (this.open) this.wake();
    });
  }

  /** Queues `callback` in the mailbox after `ms` ms; returns the function that cancels it. */
  addTimeout(ms: number, callback: () => unknown): () => void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.mailbox.push({ kind: "timer", run: callback });
      if (this.open) this.wake();
    }, ms);
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** The next item to handle, if any. */
  next(): MailboxItem | undefined {
    return this.mailbox.shift();
  }

  /** Settles a delivery unhandled (`requeue`), counting it; timers are dropped. */
  giveBack(item: MailboxItem): void {
    if (item.kind !== "delivery") return;
    this.counters.givenBack += 1;
    item.settle("requeue");
  }

  /** Closes the intake for a drain: refuses new deliveries, cancels pending timers and drops due ones. */
  closeForDrain(): void {
    this.open = false;
    this.refusing = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.mailbox.removeWhere((item) => item.kind === "timer");
  }

  /** Gives back the deliveries that carry no signal (a driver that cannot tell when their channel dies). */
  giveBackUnsignalled(): void {
    for (const item of this.mailbox.removeWhere((entry) => entry.kind === "delivery" && entry.incoming.delivery.signal === undefined)) this.giveBack(item);
  }

  /** Gives back everything still waiting. */
  giveBackAll(): void {
    for (const item of this.mailbox.takeAll()) this.giveBack(item);
  }

  /** Once `signal` aborts (channel dead, consumer cancelled), what it brought and is not started yet goes back unhandled. */
  private watch(signal: AbortSignal): void {
    this.watched.add(signal);
    signal.addEventListener(
      "abort",
      () => {
        for (const item of this.mailbox.removeWhere((entry) => entry.kind === "delivery" && entry.incoming.delivery.signal === signal)) this.giveBack(item);
      },
      { once: true },
    );
  }
}
