import type { InspectionEvent } from "./InspectionEvent.js";

/** Receives inspection events. */
export type InspectionListener = (event: InspectionEvent) => void;

/**
 * Fans inspection events out to listeners. Actors ask {@link active} before building an event,
 * so with no listener inspection costs one property read per message.
 */
export class InspectionHub {
  private readonly listeners = new Set<InspectionListener>();
  /** Errors thrown by listeners (a broken listener must not break an actor). */
  listenerErrors = 0;

  /** Whether anyone listens. */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: InspectionListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: InspectionEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        this.listenerErrors += 1;
      }
    }
  }
}
