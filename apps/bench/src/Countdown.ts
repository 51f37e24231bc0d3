/**
 * Counts deliveries towards an expected total: `done` resolves on the `n`-th {@link Countdown.tick}.
 * A throughput run creates one per run; the consumer callback ticks whichever countdown is current.
 */
export class Countdown {
  readonly done: Promise<void>;
  #left: number;
  #resolve!: () => void;

  constructor(n: number) {
    this.#left = n;
    this.done = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    if (n <= 0) this.#resolve();
  }

  /** Counts one delivery; extra ticks after the total are ignored. */
  tick(): void {
    if (this.#left > 0 && --this.#left === 0) this.#resolve();
  }
}
