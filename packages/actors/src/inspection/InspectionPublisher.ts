import { defineExchange } from "@postage/core";
import type { Broker, DriverPublisher } from "@postage/transport";
import type { InspectionHub } from "./InspectionHub.js";
import { INSPECT_EXCHANGE, type InspectionEvent } from "./InspectionEvent.js";

/** Options of inspection publishing (`POSTAGE_INSPECT=1` or the scheduler's `inspect` option). */
export interface InspectionPublishingOptions {
  /** Message events published per second at most; the rest are dropped and counted. @default 200 */
  maxMessageEventsPerSecond?: number;
}

/** The topic exchange inspection events travel on (durable, so inspectors and actors can declare it in any order with the same settings). */
export const inspectExchange = defineExchange({ name: INSPECT_EXCHANGE, type: "topic" });

const encoder = new TextEncoder();

/**
 * Publishes a process's inspection events to the `postage.inspect` topic exchange (routing key
 * `<kind>.<actorId>`), so an inspector in another process can show them. Fire-and-forget: no
 * confirms, nothing waits on it, and message events are rate-limited, so an actor never slows
 * down for its inspector. Publish failures are counted, not thrown.
 */
export class InspectionPublisher {
  /** Message events dropped by the rate limit. */
  dropped = 0;
  /** Publishes that failed (no broker, exchange gone...). */
  failed = 0;
  private publisher: DriverPublisher | undefined;
  private ready: Promise<void> | undefined;
  private readonly unsubscribe: () => void;
  private windowStart = 0;
  private windowCount = 0;
  private readonly maxPerSecond: number;

  constructor(
    private readonly broker: Broker,
    hub: InspectionHub,
    options: InspectionPublishingOptions = {},
  ) {
    this.maxPerSecond = options.maxMessageEventsPerSecond ?? 200;
    this.unsubscribe = hub.subscribe((event) => this.publish(event));
  }

  private publish(event: InspectionEvent): void {
    if (event.kind === "message" && !this.admit(event.at)) return;
    const body = encoder.encode(JSON.stringify(event));
    this.ready ??= this.broker.declareExchange(inspectExchange).then(() => {
      this.publisher = this.broker.driver.createPublisher({ confirm: false });
    });
    this.ready
      .then(() => this.publisher?.publish(INSPECT_EXCHANGE, `${event.kind}.${event.actorId}`, body, { contentType: "application/json" }, { mandatory: false }))
      .catch(() => {
        this.failed += 1;
        // Declare again next time: the broker may have been down.
        this.ready = undefined;
      });
  }

  /** A fixed one-second window: simple, and bounded whatever the message rate. */
  private admit(now: number): boolean {
    if (now - this.windowStart >= 1_000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount += 1;
    if (this.windowCount <= this.maxPerSecond) return true;
    this.dropped += 1;
    return false;
  }

  /** Stops publishing. Idempotent. */
  async close(): Promise<void> {
    this.unsubscribe();
    await this.ready?.catch(() => undefined);
    const publisher = this.publisher;
    this.publisher = undefined;
    await publisher?.close();
  }
}
