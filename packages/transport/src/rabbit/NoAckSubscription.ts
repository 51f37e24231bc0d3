import type { Channel, Consumer } from "rabbitmq-client";
import { consumerChannel, unsubscribe } from "./clientPatches.js";
import type { ConsumeSwitch } from "./DeliveryWindow.js";
import type { RabbitContext } from "./RabbitContext.js";

/**
 * The subscription of a rabbitmq-client consumer without acks, as its {@link DeliveryWindow}
 * switches it: cancelled on the consumer's current channel and made again there. While it is
 * cancelled, a queue with `x-expires` (deleted, messages and all, once it had no consumer for that
 * long) is declared passively three times per period, which renews its lease; on the consumer's
 * own channel, because an exclusive queue allows no other connection.
 * @internal
 */
export class NoAckSubscription implements ConsumeSwitch {
  /** Makes the subscription again after {@link stop}. */
  private resubscribe: (() => Promise<void>) | undefined;
  private lease: NodeJS.Timeout | undefined;
  /** The consumer is closing: a last cancel (see `DeliveryWindow`) is no pause, and holds no lease. */
  private closing = false;

  /**
   * @param consumer the library's consumer
   * @param options the queue's `x-expires` (if any), whether the consumer is exclusive, and who is told of each pause
   */
  constructor(
    private readonly context: RabbitContext,
    private readonly consumer: Consumer,
    private readonly options: { expires: number | undefined; exclusive: boolean; onPause: (() => void) | undefined },
  ) {}

  async stop(): Promise<void> {
    const channel = consumerChannel(this.consumer);
    if (channel === undefined || !channel.active) return;
    const queue = this.consumer.queue;
    try {
      this.resubscribe = await unsubscribe(this.consumer, channel, { queue, exclusive: this.options.exclusive });
    } catch (error) {
      channelGone(channel, error);
      return;
    }
    // Nothing was cancelled (no live subscription on this channel), or this is the closing cancel.
    if (this.resubscribe === undefined || this.closing) return;
    this.holdLease(channel, queue);
    this.options.onPause?.();
    if (this.context.debug) this.context.log(`queue "${queue}": paused (its handler holds a full window of deliveries without acks)`);
  }

  async start(): Promise<void> {
    const resubscribe = this.resubscribe;
    const channel = consumerChannel(this.consumer);
    this.resubscribe = undefined;
    this.releaseLease();
    if (resubscribe === undefined || channel === undefined || !channel.active) return;
    try {
      await resubscribe();
      if (this.context.debug) this.context.log(`queue "${this.consumer.queue}": consuming again (its handler holds half a window or less)`);
    } catch (error) {
      channelGone(channel, error);
    }
  }

  /** The library subscribed on a new channel: no lease to hold any more. Idempotent. */
  releaseLease(): void {
    clearInterval(this.lease);
    this.lease = undefined;
  }

  /** The consumer closes: the lease goes, and a cancel from now on is not a pause. Idempotent. */
  close(): void {
    this.closing = true;
    this.releaseLease();
  }

  private holdLease(channel: Channel, queue: string): void {
    const { expires } = this.options;
    if (expires === undefined || expires <= 0 || this.lease !== undefined) return;
    this.lease = setInterval(() => {
      if (!channel.active) return this.releaseLease();
      channel.queueDeclare({ queue, passive: true }).catch((error: unknown) => {
        // Gone already (the channel closes with the 404): the library's setup declares it again.
        if (channel.active) this.context.report(this.context.toError(error, { queue, operation: `renewing the lease of queue "${queue}" while its consumer is paused` }));
      });
    }, Math.max(10, Math.floor(expires / 3)));
    this.lease.unref();
  }
}

/** A switch whose channel closed did nothing: the library's reconnect subscribes again on a new one. */
function channelGone(channel: Channel, error: unknown): void {
  if (channel.active) throw error;
}
