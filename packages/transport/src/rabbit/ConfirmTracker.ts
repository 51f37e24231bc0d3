/**
 * A publish waiting for the broker's confirm, as {@link ConfirmTracker} sees it.
 * @internal
 */
export interface AwaitedConfirm {
  /** When to give up waiting, `Date.now()` ms; `Infinity`: the caller enforces its own deadline. */
  readonly deadline: number;
  /** The broker took the message (basic.ack). */
  confirmed(): void;
  /** The broker refused it (basic.nack), the channel died, or the deadline passed. */
  failed(error: Error): void;
}

/** How often waiting publishes are checked against their deadlines, in ms: deadlines are this precise. */
const SWEEP_MS = 100;
/** Settled slots at the front are dropped once there are this many (and they are most of the array). */
const COMPACT_AT = 1024;

/**
 * The publishes of one confirm-mode channel that the broker has not confirmed yet, in publish
 * order: a plain array with a moving head. Publish sequence numbers (delivery tags) are
 * consecutive from 1 on a channel, so a publish's slot is its sequence number minus the number of
 * slots dropped from the front: an ack, single or `multiple`, finds its publishes without a search
 * and settles a `multiple` range in one pass. Deadlines are checked by one timer per tracker
 * (running only while something waits), not one per publish.
 * @internal
 */
export class ConfirmTracker {
  private slots: Array<AwaitedConfirm | undefined> = [];
  /** Index of the first slot that may still wait. */
  private head = 0;
  /** Sequence number of `slots[0]`. */
  private base = 1;
  private waiting = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closedWith: (() => Error) | undefined;

  constructor(private readonly expired: (publish: AwaitedConfirm) => Error) {}

  /** Publishes waiting for their confirm. */
  get size(): number {
    return this.waiting;
  }

  /**
   * Records the next publish (sequence number: one more than the last); call it right before
   * writing the publish. After {@link failAll} it fails `publish` at once instead.
   */
  add(publish: AwaitedConfirm): void {
    if (this.closedWith !== undefined) {
      publish.failed(this.closedWith());
      return;
    }
    this.slots.push(publish);
    this.waiting += 1;
    if (publish.deadline !== Number.POSITIVE_INFINITY && this.sweeper === undefined) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /** basic.ack: confirms `tag`, or with `multiple` every publish up to and including it (0: all of them). */
  ack(tag: number, multiple: boolean): void {
    this.settle(tag, multiple, undefined);
  }

  /** basic.nack: fails `tag` (or every publish up to it) with `error()`. */
  nack(tag: number, multiple: boolean, error: () => Error): void {
    this.settle(tag, multiple, error);
  }

  /**
   * The waiting publish that `match` picks first (for a channel error naming what it refused),
   * removed from the tracker; `undefined` when none matches.
   */
  take(match: (publish: AwaitedConfirm) => boolean): AwaitedConfirm | undefined {
    for (let i = this.head; i < this.slots.length; i += 1) {
      const publish = this.slots[i];
      if (publish === undefined || !match(publish)) continue;
      this.slots[i] = undefined;
      this.waiting -= 1;
      return publish;
    }
    return undefined;
  }

  /** The channel is gone: fails every waiting publish, and every later {@link add}, with `error()`. */
  failAll(error: () => Error): void {
    this.closedWith = error;
    const slots = this.slots;
    const from = this.head;
    this.slots = [];
    this.head = 0;
    this.waiting = 0;
    this.stopSweeping();
    for (let i = from; i < slots.length; i += 1) slots[i]?.failed(error());
  }

  private settle(tag: number, multiple: boolean, error: (() => Error) | undefined): void {
    const slots = this.slots;
    const last = multiple ? (tag === 0 ? slots.length - 1 : Math.min(tag - this.base, slots.length - 1)) : tag - this.base;
    const first = multiple ? this.head : last;
    if (last < this.head || last >= slots.length) return;
    for (let i = first; i <= last; i += 1) {
      const publish = slots[i];
      if (publish === undefined) continue;
      slots[i] = undefined;
      this.waiting -= 1;
      if (error === undefined) publish.confirmed();
      else publish.failed(error());
    }
    this.advance();
  }

  /** Moves the head past settled slots; drops them from the array now and then. */
  private advance(): void {
    const slots = this.slots;
    let head = this.head;
    while (head < slots.length && slots[head] === undefined) head += 1;
    if (head === slots.length) {
      this.base += slots.length;
      this.slots = [];
      this.head = 0;
    } else if (head >= COMPACT_AT && head * 2 >= slots.length) {
      this.base += head;
      this.slots = slots.slice(head);
      this.head = 0;
    } else {
      this.head = head;
    }
    if (this.waiting === 0) this.stopSweeping();
  }

  private sweep(): void {
    const now = Date.now();
    const slots = this.slots;
    for (let i = this.head; i < slots.length; i += 1) {
      const publish = slots[i];
      if (publish === undefined || publish.deadline > now) continue;
      slots[i] = undefined;
      this.waiting -= 1;
      publish.failed(this.expired(publish));
    }
    this.advance();
  }

  private stopSweeping(): void {
    if (this.sweeper === undefined) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
