/**
 * A first-in first-out queue that does not shift arrays: an actor's mailbox holds at most its
 * prefetch of deliveries plus due timers, and is drained one item per scheduler turn.
 */
export class Mailbox<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    // Compact once the consumed prefix dominates, so memory stays bounded by the live items.
    if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes and returns the items `test` picks, keeping the others in order. */
  removeWhere(test: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: (T | undefined)[] = [];
    for (let i = this.head; i < this.items.length; i += 1) {
      const item = this.items[i] as T;
      if (test(item)) removed.push(item);
      else kept.push(item);
    }
    if (removed.length > 0) {
      this.items = kept;
      this.head = 0;
    }
    return removed;
  }

  /** Removes and returns every item. */
  takeAll(): T[] {
    const rest = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return rest;
  }
}
