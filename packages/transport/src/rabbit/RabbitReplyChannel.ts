import type { Channel } from "rabbitmq-client";
import type { Delivery, DriverReplyChannel, MessageProperties, PublishOptions } from "../driver/BrokerDriver.js";
import { TransportError, toTransportError } from "../errors.js";
import { asBuffer, describeMessage, toDelivery, toEnvelope } from "./amqpMessages.js";
import { publishConfirmed, publishTarget, type PublishTarget } from "./publishConfirmed.js";
import type { RabbitContext } from "./RabbitContext.js";
import { ReturnTracker } from "./ReturnTracker.js";

/** RabbitMQ's pseudo-queue for direct reply-to. */
export const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

/**
 * A direct reply-to channel: requests are published, and `amq.rabbitmq.reply-to` consumed
 * (no-ack), on one and the same channel, as RabbitMQ requires. Publishes use confirms, so a
 * request nobody can receive rejects with `UNROUTABLE` instead of timing out.
 *
 * When the connection drops, the channel dies with it (and replies to requests sent on it are
 * lost: callers time out); the next publish opens a new channel and consumes again.
 *
 * @internal Created by {@link RabbitDriver.createReplyChannel}.
 */
export class RabbitReplyChannel implements DriverReplyChannel {
  readonly replyTo = DIRECT_REPLY_TO;
  private channel: Channel | undefined;
  private opening: Promise<Channel> | undefined;
  private readonly returns: ReturnTracker;
  private readonly target: PublishTarget;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly context: RabbitContext,
    private readonly onReply: (delivery: Delivery) => void,
    private readonly onClosed: () => void,
  ) {
    this.returns = new ReturnTracker((message) => {
      context.report(new TransportError("UNROUTABLE", `a request to exchange "${message.exchange}" with routing key "${message.routingKey}" was returned`, { exchange: message.exchange, routingKey: message.routingKey }));
    });
    this.target = publishTarget(context, this.returns, true, async (env, buf) => (await this.current()).basicPublish(env, buf), () => this.closing !== undefined);
  }

  /** Opens the channel now (the driver awaits this before handing the channel out). */
  async open(): Promise<void> {
    await this.current();
  }

  async publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    const envelope = toEnvelope(exchange, routingKey, { ...properties, replyTo: DIRECT_REPLY_TO }, options?.mandatory ?? true);
    const bytes = asBuffer(body);
    await publishConfirmed(this.target, envelope, bytes);
    if (this.context.debug) this.context.log(`sent request ${describeMessage(exchange, routingKey, bytes.byteLength, properties)}`);
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
    const channel = await this.context.connection.acquire();
    try {
      channel.on("basic.return", (message) => this.returns.add(message));
      await channel.confirmSelect();
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
}
