import type { Envelope, ReturnedMessage } from "rabbitmq-client";
import type { Delivery, DriverReplyChannel, MessageProperties, PublishOptions, ReplyChannelEvents, ReplyChannelOptions } from "../driver/BrokerDriver.js";
import { TransportError } from "../errors.js";
import { asBuffer, describeMessage, toDelivery, toEnvelope, toProperties } from "./amqpMessages.js";
import { OutboundChannel } from "./OutboundChannel.js";
import { deadlineError, publishConfirmed, publishTarget, type PublishTarget } from "./publishConfirmed.js";
import type { RabbitContext } from "./RabbitContext.js";
import { ReturnTracker } from "./ReturnTracker.js";

const RESOLVED: Promise<void> = Promise.resolve();

/** RabbitMQ's pseudo-queue for direct reply-to. */
export const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

/**
 * A reply channel: requests are published, and their replies consumed (no-ack), on one and the
 * same channel. Replies come to `amq.rabbitmq.reply-to` (direct reply-to, which requires that),
 * or to a server-named, exclusive, auto-delete queue the channel declares each time it opens:
 * RabbitMQ then delivers replies from a queue, which costs it less CPU per call than direct
 * reply-to's hand-over between channels (see {@link ReplyChannelOptions}). Requests take the
 * driver's own publish path ({@link OutboundChannel}: each encoded into one buffer written to the socket).
 *
 * Requests go without publisher confirms: the reply is the end-to-end confirmation, and a confirm
 * per request would cost the broker and this process a frame each way for nothing the caller
 * does not learn from the reply (or its absence, which its timeout covers). A publish resolves
 * once written. A mandatory request nobody can receive comes back as a `basic.return`, which
 * RabbitMQ sends without confirm mode too: it goes to {@link ReplyChannelEvents.onReturned} with
 * the request's properties, so the caller fails with `UNROUTABLE` at once instead of timing out.
 *
 * When the connection drops, or the broker closes the channel (a request to an exchange deleted
 * meanwhile), the channel dies and replies to requests sent on it are lost:
 * {@link ReplyChannelEvents.onLost} says so, and the next publish opens a new channel and
 * consumes again. A publish caught in the drop is written again on the new channel.
 *
 * @internal Created by {@link RabbitDriver.createReplyChannel}.
 */
export class RabbitReplyChannel implements DriverReplyChannel {
  /** Where replies to requests written on {@link out} go. */
  replyTo = DIRECT_REPLY_TO;
  private out: OutboundChannel | undefined;
  private opening: Promise<OutboundChannel> | undefined;
  private readonly target: PublishTarget;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly context: RabbitContext,
    private readonly onReply: (delivery: Delivery) => void,
    private readonly onClosed: () => void,
    private readonly events: ReplyChannelEvents = {},
    private readonly options: ReplyChannelOptions = {},
  ) {
    // Without confirms nothing waits on the tracker: returns go to `onReturned` as they arrive.
    const unused = new ReturnTracker(() => undefined);
    this.target = publishTarget(context, unused, false, (env, buf) => this.sendOnce(env, buf), () => this.closing !== undefined);
  }

  /** Opens the channel now (the driver awaits this before handing the channel out). */
  async open(): Promise<void> {
    await this.current();
  }

  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    const envelope = toEnvelope(exchange, routingKey, properties, options?.mandatory ?? true);
    const bytes = asBuffer(body);
    const out = this.out;
    // The usual case: the channel is up, write at once (no retry machinery, no deadline watch, no
    // promise unless the socket is full). Anything else goes the careful way, onto a new channel.
    let published: Promise<void> | undefined;
    if (out !== undefined && out.usable && this.closing === undefined) {
      try {
        published = this.write(out, envelope, bytes);
      } catch {
        // Falls through to the careful way below.
      }
    }
    published ??= publishConfirmed(this.target, envelope, bytes);
    if (!this.context.debug) return published;
    return published.then(() => this.context.log(`sent request ${describeMessage(exchange, routingKey, bytes.byteLength, properties)}`));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        const out = this.opening === undefined ? this.out : await this.opening.catch(() => undefined);
        await out?.close();
      } finally {
        this.onClosed();
      }
    })();
    return this.closing;
  }

  /**
   * Writes one request on `out`; the promise resolves at once, or once the socket drained when it
   * wants draining (as a library publish would), and rejects if the channel closes first.
   * @throws what {@link OutboundChannel.send} throws for a channel that cannot take it.
   */
  private write(out: OutboundChannel, envelope: Envelope, body: Buffer): Promise<void> {
    // Set here, not when published: a request written again on a new channel gets its new queue.
    envelope.replyTo = this.replyTo;
    out.send(envelope, body, undefined);
    if (!out.needsDrain) return RESOLVED;
    return new Promise<void>((resolve, reject) => out.whenDrained({ deadline: Number.POSITIVE_INFINITY, confirmed: resolve, failed: reject }));
  }

  /** {@link PublishTarget.send}: one attempt, on the current channel (opened first when there is none). */
  private async sendOnce(envelope: Envelope, body: Buffer): Promise<void> {
    await this.write(await this.current(), envelope, body);
  }

  private current(): Promise<OutboundChannel> {
    if (this.closing !== undefined) return Promise.reject(new TransportError("CLOSED", "the reply channel is closed"));
    const out = this.out;
    if (out?.usable) return Promise.resolve(out);
    this.opening ??= this.setup().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async setup(): Promise<OutboundChannel> {
    // No confirms: the channel's errors are "unclaimed" ones, and say why it died.
    let failure: TransportError | undefined;
    const out = await OutboundChannel.open(this.context.connection, false, {
      onReturn: (message) => this.returned(message),
      onUnclaimedError: (error) => {
        failure = this.context.toError(error, { operation: "publishing an RPC request" });
      },
      expired: () => deadlineError("", DIRECT_REPLY_TO, this.context.publishTimeout), // never asked: nothing waits for a confirm
    });
    const channel = out.channel;
    channel.on("close", () => {
      if (this.out !== out) return;
      this.out = undefined;
      if (this.closing === undefined) this.lost(failure);
    });
    let replyTo = DIRECT_REPLY_TO;
    try {
      if (this.options.address === "queue") replyTo = (await channel.queueDeclare({ exclusive: true, autoDelete: true })).queue;
      const { consumerTag } = await channel.basicConsume({ queue: replyTo, noAck: true }, (message) => {
        const delivery = toDelivery(message);
        if (this.context.debug) this.context.log(`received reply ${describeMessage(delivery.exchange, delivery.routingKey, delivery.body.byteLength, delivery.properties)}`);
        try {
          this.onReply(delivery);
        } catch (err) {
          // Called from a library callback: a throw here would crash the process.
          this.context.report(new TransportError("HANDLER_FAILED", `the reply handler threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        }
      });
      // The reply queue was deleted (by an operator: it is exclusive to this connection): replies
      // would be lost from now on, so the channel closes, and the next request opens a new queue.
      channel.on("basic.cancel", (tag: string) => {
        if (tag !== consumerTag || this.out !== out) return;
        failure = new TransportError("BROKER_ERROR", `the RPC reply queue "${replyTo}" was deleted: its calls are sent again with a new one`, { queue: replyTo, brokerCode: "CANCEL_FORCED" });
        out.close().catch((error: unknown) => this.context.report(this.context.toError(error)));
      });
    } catch (err) {
      await out.close();
      throw this.context.toError(err, { operation: this.options.address === "queue" ? `declaring an RPC reply queue (replyMode "direct" declares none)` : "opening a direct reply-to channel" });
    }
    this.replyTo = replyTo;
    this.out = out;
    return out;
  }

  private returned(message: ReturnedMessage): void {
    const error = new TransportError(
      "UNROUTABLE",
      `no queue is bound to exchange "${message.exchange}" with routing key "${message.routingKey}" (${message.replyText}): the request was returned. Is the receiving component running, and bound with this key?`,
      { exchange: message.exchange, routingKey: message.routingKey, brokerCode: String(message.replyCode) },
    );
    const onReturned = this.events.onReturned;
    if (onReturned === undefined) {
      this.context.report(error);
      return;
    }
    this.guarded(() => onReturned(toProperties(message), error), "the returned-request handler");
  }

  private lost(error: TransportError | undefined): void {
    if (this.context.debug) this.context.log(`reply channel lost${error === undefined ? "" : `: ${error.message}`}`);
    const onLost = this.events.onLost;
    if (onLost !== undefined) this.guarded(() => onLost(error), "the lost-channel handler");
  }

  /** Runs an owner's callback from a library event: a throw there would crash the process. */
  private guarded(run: () => void, what: string): void {
    try {
      run();
    } catch (err) {
      this.context.report(new TransportError("HANDLER_FAILED", `${what} threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }
}
