import type { InspectionEvent } from "@postage/actors";
import type { InspectionListener } from "./InspectionSource.js";

/**
 * A tiny in-process fan-out of inspection events: `emit` calls every subscribed listener.
 * For tests, demos and anything that produces events without a Scheduler; pair it with
 * `createInProcessSource((listener) => hub.subscribe(listener))`.
 */
export class InspectionHub {
  private readonly listeners = new Set<InspectionListener>();

  /** Delivers `event` to every listener, synchronously, in subscription order. */
  emit(event: InspectionEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  /** Adds a listener; returns its (idempotent) unsubscribe function. */
  subscribe(listener: InspectionListener): () => void {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const wrapped: InspectionListener = (event) => listener(event);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  /** How many listeners are subscribed. */
  get size(): number {
    return this.listeners.size;
  }
}
