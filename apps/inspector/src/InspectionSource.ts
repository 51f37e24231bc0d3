import type { InspectionListener } from "@postage/actors";

export type { InspectionListener };

/**
 * Where the inspector's events come from: an in-process scheduler ({@link createInProcessSource})
 * or the `postage.inspect` exchange on a broker ({@link createAmqpSource}).
 */
export interface InspectionSource {
  /** A short description for people, e.g. `"in-process"` or `"amqp://localhost:5672"`. */
  readonly description: string;
  /** Starts delivering events to `listener`; returns a function that stops it (idempotent). */
  subscribe(listener: InspectionListener): () => void;
  /** Stops delivering to every listener and releases what the source holds. Idempotent. */
  close(): Promise<void>;
}
