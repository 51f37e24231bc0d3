/**
 * What a {@link DeliveryWindow} switches: the consumer's subscription on its current channel.
 * Both resolve at once, doing nothing, when that channel is closed or closes meanwhile.
 * @internal
 */
export interface ConsumeSwitch {
  /** Cancels the subscription (`basic.cancel`); resolves once the broker confirmed it. */
  stop(): Promise<void>;
  /** Subscribes again (`basic.consume`); resolves once the broker confirmed it. */
  start(): Promise<void>;
}

/**
 * Flow control for a consumer without acks, which the broker's prefetch does not limit: once the
 * handler holds `size` deliveries the subscription is cancelled, and once it holds half of that
 * or fewer it is made again. The broker keeps what it has not sent yet; what it had sent before
 * the cancel still arrives (a few hundred messages at most) and is handled as usual.
 *
 * One switch runs at a time, and each brings the subscription to what the count asks for at that
 * moment, so a burst of settles and arrivals costs at most one cancel and one consume. A failed
 * switch (the channel closed under it) is left to the library's reconnect, which subscribes on
 * the new channel and calls {@link DeliveryWindow.resubscribed}.
 * @internal
 */
export class DeliveryWindow {
  private held = 0;
  /** The subscription is live, as far as this window knows. */
  private subscribed = true;
  private switching = false;
  /** Bumped by {@link resubscribed}: a switch begun before it was for a channel that is gone. */
  private generation = 0;
  private closed = false;

  /**
   * @param size deliveries the handler may hold before the subscription is cancelled (at least 1)
   * @param consume cancels and makes the subscription on the consumer's current channel
   * @param onError told when a switch failed for another reason than its channel closing
   */
  constructor(
    private readonly size: number,
    private readonly consume: ConsumeSwitch,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A delivery reached the handler. */
  entered(): void {
    this.held += 1;
    if (this.held === this.size) this.steer();
  }

  /** The handler settled a delivery. */
  left(): void {
    this.held -= 1;
    if (this.held === Math.floor(this.size / 2)) this.steer();
  }

  /** The library subscribed again on a new channel (after a reconnect or a cancel by the broker). */
  resubscribed(): void {
    this.generation += 1;
    this.subscribed = true;
    this.steer();
  }

  /** No more switching: the consumer is closing (the library cancels whatever is live). */
  close(): void {
    this.closed = true;
  }

  private wanted(): boolean {
    // Between the two marks the subscription stays as it is: no flapping around one number.
    return this.subscribed ? this.held < this.size : this.held <= Math.floor(this.size / 2);
  }

  private steer(): void {
    if (this.switching || this.closed || this.wanted() === this.subscribed) return;
    this.switching = true;
    const generation = this.generation;
    const next = !this.subscribed;
    (next ? this.consume.start() : this.consume.stop()).then(
      () => {
        this.switching = false;
        if (generation !== this.generation) {
          this.steer();
          return;
        }
        this.subscribed = next;
        if (this.closed && next) {
          // Subscribed while the consumer began to close: cancel again, the library no longer will.
          this.consume.stop().catch(this.onError);
          return;
        }
        this.steer();
      },
      (error: unknown) => {
        // The switch resolves when its channel is gone (the library's reconnect recovers that): this is something else.
        this.switching = false;
        this.onError(error);
      },
    );
  }
}
