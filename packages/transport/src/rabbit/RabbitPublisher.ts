import type { Envelope, ReturnedMessage } from "rabbitmq-client";
import type { DriverPublisher, MessageProperties, PublishOptions } from "../driver/BrokerDriver.js";
import { TransportError } from "../errors.js";
import { asBuffer, describeMessage, toEnvelope } from "./amqpMessages.js";
import type { AwaitedConfirm } from "./ConfirmTracker.js";
import { OutboundChannel, type OutboundConfirm } from "./OutboundChannel.js";
import { deadlineError, publishConfirmed, publishDeadline, publishTarget, type PublishTarget, unroutableError } from "./publishConfirmed.js";
import type { RabbitContext } from "./RabbitContext.js";
import { ReturnTracker } from "./ReturnTracker.js";

/**
 * A publishing channel on the driver's own publish path ({@link OutboundChannel}: frames encoded
 * into one buffer, confirms tracked without a promise per frame), re-opened on demand after the
 * channel or the connection was lost. With confirms, a publish resolves once the broker took the
 * message and rejects with `EXCHANGE_NOT_FOUND` or `UNROUTABLE` (mandatory, the default); without
 * confirms it resolves once written (once the socket drained, when it holds too much), and
 * returns or a missing exchange are only reported through the driver's `onError`.
 *
 * A publish on an open channel while connected takes the fast path: one promise, settled by the
 * broker's ack. Anything else (no channel yet, reconnecting, a nack, a lost channel, a return to
 * check) goes through {@link publishConfirmed}, which retries until the deadline.
 * @internal Created by {@link RabbitDriver.createPublisher}.
 */
export class RabbitPublisher implements DriverPublisher {
  private readonly returns: ReturnTracker;
  private readonly target: PublishTarget;
  private readonly unclaimed: (message: ReturnedMessage) => void;
  private out: OutboundChannel | undefined;
  private opening: Promise<OutboundChannel> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly context: RabbitContext,
    private readonly confirm: boolean,
    private readonly onClosed: () => void,
  ) {
    this.unclaimed = (message: ReturnedMessage): void => {
      context.report(
        new TransportError("UNROUTABLE", `a message to exchange "${message.exchange}" with routing key "${message.routingKey}" was returned: no queue is bound for it`, {
          exchange: message.exchange,
          routingKey: message.routingKey,
        }),
      );
    };
    this.returns = new ReturnTracker(this.unclaimed);
    this.target = publishTarget(context, this.returns, confirm, (env, buf) => this.sendOnce(env, buf), () => this.closing !== undefined);
  }

  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    const envelope = toEnvelope(exchange, routingKey, properties, options?.mandatory ?? true);
    const bytes = asBuffer(body);
    const out = this.out;
    const published =
      out !== undefined && out.usable && this.closing === undefined && this.context.connection.ready ? this.publishNow(out, envelope, bytes) : publishConfirmed(this.target, envelope, bytes);
    if (!this.context.debug) return published;
    return published.then(() => this.context.log(`sent ${describeMessage(exchange, routingKey, bytes.byteLength, properties)}`));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const out = this.opening === undefined ? this.out : await this.opening.catch(() => undefined);
      await out?.close();
    })().finally(this.onClosed);
    return this.closing;
  }

  /** The fast path: written now, one promise settled by the broker's answer (or once written, without confirms). */
  private publishNow(out: OutboundChannel, envelope: Envelope, body: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const attempt = new FirstAttempt(this, envelope, body, resolve, reject, publishDeadline(this.target));
      try {
        out.send(envelope, body, this.confirm ? attempt : undefined);
      } catch (err) {
        attempt.failed(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (this.confirm) return;
      if (out.needsDrain) out.whenDrained(attempt);
      else resolve();
    });
  }

  /** @internal The broker confirmed a fast-path publish: done, unless it was mandatory and a return may concern it. */
  settleConfirmed(attempt: FirstAttempt): void {
    const { envelope } = attempt;
    if (!this.confirm || !envelope.mandatory || !this.returns.mayHaveReturns()) {
      attempt.resolve();
      return;
    }
    this.returns.wasReturned(envelope, attempt.body).then((returned) => {
      if (returned === undefined) attempt.resolve();
      else attempt.reject(unroutableError(envelope.exchange ?? "", envelope.routingKey ?? "", returned));
    }, attempt.reject);
  }

  /** @internal A fast-path publish failed: past its deadline it is done; otherwise {@link publishConfirmed} takes over. */
  settleFailed(attempt: FirstAttempt, error: Error): void {
    if (error instanceof TransportError && error.code === "TIMEOUT") {
      attempt.reject(error);
      return;
    }
    publishConfirmed(this.target, attempt.envelope, attempt.body, { error, deadline: attempt.deadline }).then(attempt.resolve, attempt.reject);
  }

  /** {@link PublishTarget.send}: one attempt, on the current channel (opened first when there is none). */
  private async sendOnce(envelope: Envelope, body: Buffer): Promise<void> {
    const out = await this.current();
    await new Promise<void>((resolve, reject) => {
      // The deadline is publishConfirmed's (withDeadline): this one only waits.
      const waiter: OutboundConfirm = { deadline: Number.POSITIVE_INFINITY, exchange: envelope.exchange, confirmed: resolve, failed: reject };
      out.send(envelope, body, this.confirm ? waiter : undefined);
      if (this.confirm) return;
      if (out.needsDrain) out.whenDrained(waiter);
      else resolve();
    });
  }

  private current(): Promise<OutboundChannel> {
    if (this.closing !== undefined) return Promise.reject(new TransportError("CLOSED", "the publisher is closed"));
    const out = this.out;
    if (out?.usable) return Promise.resolve(out);
    this.opening ??= OutboundChannel.open(this.context.connection, this.confirm, {
      // Without confirms no publish waits for its return: report it at once.
      onReturn: (message) => (this.confirm ? this.returns.add(message) : this.unclaimed(message)),
      onUnclaimedError: (error) => this.context.report(this.context.toError(error, { operation: "publishing" })),
      expired: (publish) => {
        const envelope = (publish as FirstAttempt).envelope;
        return deadlineError(envelope.exchange ?? "", envelope.routingKey ?? "", this.context.publishTimeout);
      },
    })
      .then((opened) => {
        this.out = opened;
        return opened;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }
}

/** A fast-path publish: its promise's settle functions, and what a retry needs. */
class FirstAttempt implements OutboundConfirm, AwaitedConfirm {
  constructor(
    private readonly publisher: RabbitPublisher,
    readonly envelope: Envelope,
    readonly body: Buffer,
    readonly resolve: () => void,
    readonly reject: (error: unknown) => void,
    readonly deadline: number,
  ) {}

  get exchange(): string | undefined {
    return this.envelope.exchange;
  }

  confirmed(): void {
    this.publisher.settleConfirmed(this);
  }

  failed(error: Error): void {
    this.publisher.settleFailed(this, error);
  }
}
