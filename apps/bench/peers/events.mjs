// The events run both peer contenders share: publish n bodies, time until the handler saw all n.
import { Countdown } from "../dist/Countdown.js";
import { runConcurrently } from "../dist/runConcurrently.js";
import { createBodyFactory } from "../dist/settings.js";

/** Counts what the service's event handler received, per throughput run. */
export class EventRun {
  #countdown = new Countdown(0);

  /** @param {import("../src/settings.js").BenchSettings} settings */
  constructor(settings) {
    this.settings = settings;
  }

  /** Called by the event handler for every delivered body. */
  tick() {
    this.#countdown.tick();
  }

  /**
   * Publishes `n` bodies with at most `settings.publishWindow` publishes pending, and resolves with the
   * run's result once the handler ticked `n` times.
   * @param {number} n
   * @param {(body: import("../src/settings.js").BenchBody) => Promise<unknown>} publish
   * @returns {Promise<import("../src/Contender.js").RunResult>}
   */
  async time(n, publish) {
    const body = createBodyFactory(this.settings.bodyBytes);
    const countdown = (this.#countdown = new Countdown(n));
    const t0 = performance.now();
    await runConcurrently(n, this.settings.publishWindow, async (i) => {
      await publish(body(i));
    });
    await countdown.done;
    return { count: n, seconds: (performance.now() - t0) / 1000, latenciesMs: [] };
  }
}
