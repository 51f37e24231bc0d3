import type { Envelope, ReturnedMessage } from "rabbitmq-client";
import { bodyBytes } from "./rawBodies.js";
import { returnsMayBeInFlight } from "./clientPatches.js";

/** Returned messages older than this were not awaited by anyone (a publish without confirms). */
const STALE_MS = 5_000;
const MAX_KEPT = 1_000;

/**
 * Matches `basic.return`s to the mandatory publishes they belong to.
 *
 * With publisher confirms, RabbitMQ sends the `basic.return` of an unroutable mandatory message
 * before its `basic.ack`. rabbitmq-client, however, emits the return from a `setImmediate` while it
 * resolves the confirm at once, so the publish resolves first. {@link wasReturned} answers at once
 * when no return arrived or is on its way (the usual case, see `returnsMayBeInFlight` in `clientPatches.ts`); otherwise it waits
 * for the pending immediates to run, then looks for a return with the same exchange, routing key,
 * message id, correlation id and body.
 */
export class ReturnTracker {
  private returned: Array<{ message: ReturnedMessage; at: number }> = [];

  constructor(private readonly onUnclaimed: (message: ReturnedMessage) => void) {}

  /** Records a return (wired to the channel's `basic.return` event). */
  add(message: ReturnedMessage): void {
    this.prune();
    this.returned.push({ message, at: Date.now() });
  }

  /**
   * Whether a return may concern a publish just confirmed. `false` (the common case: none arrived,
   * none is on its way) means there is nothing to wait for.
   */
  mayHaveReturns(): boolean {
    return this.returned.length > 0 || returnsMayBeInFlight();
  }

  /** After a confirmed mandatory publish: the return for it, if the broker returned it. */
  async wasReturned(envelope: Envelope, body: Uint8Array): Promise<ReturnedMessage | undefined> {
    if (!this.mayHaveReturns()) return undefined;
    // Two turns: the return's setImmediate may have been queued during the current check phase.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    const index = this.returned.findIndex(({ message }) => matches(message, envelope, body));
    if (index === -1) return undefined;
    const [entry] = this.returned.splice(index, 1);
    return entry?.message;
  }

  private prune(): void {
    const cutoff = Date.now() - STALE_MS;
    while (this.returned.length > 0) {
      const first = this.returned[0];
      if (first === undefined || (first.at >= cutoff && this.returned.length < MAX_KEPT)) break;
      this.returned.shift();
      this.onUnclaimed(first.message);
    }
  }
}

function matches(message: ReturnedMessage, envelope: Envelope, body: Uint8Array): boolean {
  if (message.exchange !== (envelope.exchange ?? "") || message.routingKey !== (envelope.routingKey ?? "")) return false;
  if (message.messageId !== envelope.messageId || message.correlationId !== envelope.correlationId) return false;
  return Buffer.from(bodyBytes(message.body)).equals(body);
}
