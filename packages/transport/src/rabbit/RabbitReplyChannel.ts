import type { Channel, ReturnedMessage } from "rabbitmq-client";
import type { Delivery, DriverReplyChannel, MessageProperties, PublishOptions, ReplyChannelEvents } from "../driver/BrokerDriver.js";
import { TransportError, toTransportError } from "../errors.js";
import { asBuffer, describeMessage, toDelivery, toEnvelope, toProperties } from "./amqpMessages.js";
import { publishConfirmed, publishTarget, type PublishTarget } from "./publishConfirmed.js";
import type { RabbitContext } from "./RabbitContext.js";
import { ReturnTracker } from "./ReturnTracker.js";

/** RabbitMQ's pseudo-queue for direct reply-to. */
export const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

/**
 * A direct reply-to channel: requests are published, and `amq.rabbitmq.reply-to` consumed
 * (no-ack), on one and the same channel, as RabbitMQ requires.
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
  readonly replyTo = DIRECT_REPLY_TO;
  private channel: Channel | undefined;
  private opening: Promise<Channel> | undefined;
  private readonly target: PublishTarget;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly context: RabbitContext,
    private readonly onReply: (delivery: Delivery) => void,
    private readonly onClosed: () => void,
    private readonly events: ReplyChannelEvents = {},
  ) {
    // Without confirms nothing waits on the tracker: returns go to `onReturned` as they arrive.
    const unused = new ReturnTracker(() => undefined);
    this.target = publishTarget(context, unused, false, async (env, buf) => (await this.current()).basicPublish(env, buf), () => this.closing !== undefined);
  }

  /** Opens the channel now (the driver awaits this before handing the channel out). */
  async open(): Promise<void> {
    await this.current();
  }

  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    const envelope = toEnvelope(exchange, routingKey, properties, options?.mandatory ?? true);
    envelope.replyTo = DIRECT_REPLY_TO;
    const bytes = asBuffer(body);
    const channel = this.channel;
    // The usual case: the channel is up, write at once (no retry machinery, no deadline watch).
    // A write that fails (the channel died meanwhile) goes the careful way, onto a new channel.
    const published =
      channel?.active === true && this.closing === undefined
        ? channel.basicPublish(envelope, bytes).catch(() => publishConfirmed(this.target, envelope, bytes))
        : publishConfirmed(this.target, envelope, bytes);
    if (!this.context.debug) return published;
    return published.then(() => this.context.log(`sent request ${describeMessage(exchange, routingKey, bytes.byteLength, properties)}`));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        const channel = this.opening === undefined ? this.channel : await this.opening.catch(() => undefined);
        await channel?.close();
      } finally {
        this.onClosed();
      }
    })();
    return this.closing;
  }

  private current(): Promise<Channel> {
    if (this.closing !== undefined) return Promise.reject(new TransportError("CLOSED", "the reply channel is closed"));
    if (this.channel?.active) return Promise.resolve(this.channel);
    this.opening ??= this.setup().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async setup(): Promise<Channel> {
    // Channel errors come to us (not to the connection's `error`): they say why the channel died.
    const channel = await this.context.connection.acquire({ emitErrorsFromChannel: true });
    let failure: TransportError | undefined;
    channel.on("error", (err: unknown) => {
      failure = toTransportError(err, { vhost: this.context.vhost, operation: "publishing an RPC request" });
    });
    channel.on("close", () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      if (this.closing === undefined) this.lost(failure);
    });
    try {
      channel.on("basic.return", (message: ReturnedMessage) => this.returned(message));
      await channel.basicConsume({ queue: DIRECT_REPLY_TO, noAck: true }, (message) => {
        const delivery = toDelivery(message);
        if (this.context.debug) this.context.log(`received reply ${describeMessage(delivery.exchange, delivery.routingKey, delivery.body.byteLength, delivery.properties)}`);
        try {
          this.onReply(delivery);
        } catch (err) {
          // Called from a library callback: a throw here would crash the process.
          this.context.report(new TransportError("HANDLER_FAILED", `the reply handler threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        }
      });
    } catch (err) {
      await channel.close();
      throw toTransportError(err, { vhost: this.context.vhost, operation: "opening a direct reply-to channel" });
    }
    this.channel = channel;
    return channel;
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
