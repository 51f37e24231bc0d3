import type { InspectionEvent } from "./InspectionEvent.js";

/** Receives inspection events. */
export type InspectionListener = (event: InspectionEvent) => void;

/**
 * Fans inspection events out to listeners. Actors ask {@link active} before building an event,
 * so with no listener inspection costs one property read per message. While anyone listens, a
 * heartbeat re-announces every live actor, so listeners can tell a silent actor from a gone one.
 */
export class InspectionHub {
  private readonly listeners = new Set<InspectionListener>();
  private heartbeat: NodeJS.Timeout | undefined;
  /** Errors thrown by listeners (a broken listener must not break an actor). */
  listenerErrors = 0;

  constructor(
    /** Re-announces every live actor; called on each heartbeat. */
    private readonly announceAll: () => void,
    /** How often actors are re-announced while someone listens, in ms. @default 2_000 */
    readonly heartbeatMs = 2_000,
  ) {}

  /** Whether anyone listens. */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: InspectionListener): () => void {
    this.listeners.add(listener);
    if (this.heartbeat === undefined) {
      this.heartbeat = setInterval(this.announceAll, this.heartbeatMs);
      this.heartbeat.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
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
