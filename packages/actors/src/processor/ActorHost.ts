import type { Broker } from "@postage/transport";
import type { InspectionHub } from "../inspection/InspectionHub.js";
import type { MessageProcessor } from "../MessageProcessor.js";
import type { PostageMetrics } from "../metrics/PostageMetrics.js";

/** What runs a processor: the scheduler implements it. @internal */
export interface ActorHost {
  readonly broker: Broker;
  readonly inspection: InspectionHub;
  /** The actor has work it can start now. */
  wake(actor: MessageProcessor): void;
  /** Reports an error nobody else will see (logged once). */
  report(actor: MessageProcessor, error: unknown, what: string): void;
  /** Where the actor's metrics go, when they are on. */
  readonly metrics?: PostageMetrics | undefined;
}
