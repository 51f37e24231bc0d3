import type { Publisher, ReturnedMessage } from "rabbitmq-client";
import type { DriverPublisher, MessageProperties, PublishOptions } from "../driver/BrokerDriver.js";
import { TransportError } from "../errors.js";
import { asBuffer, describeMessage, toEnvelope } from "./amqpMessages.js";
import { publishConfirmed, publishTarget, type PublishTarget } from "./publishConfirmed.js";
import type { RabbitContext } from "./RabbitContext.js";
import { ReturnTracker } from "./ReturnTracker.js";

/**
 * A publishing channel on rabbitmq-client's Publisher (which re-opens its channel after a
 * reconnect). With confirms, a publish resolves once the broker took the message and rejects with
 * `EXCHANGE_NOT_FOUND` or `UNROUTABLE` (mandatory, the default); without confirms it resolves once
 * written, and returns or a missing exchange are only reported through the driver's `onError`.
 * @internal Created by {@link RabbitDriver.createPublisher}.
 */
export class RabbitPublisher implements DriverPublisher {
  private readonly publisher: Publisher;
  private readonly returns: ReturnTracker;
  private readonly target: PublishTarget;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly context: RabbitContext,
    private readonly confirm: boolean,
    private readonly onClosed: () => void,
  ) {
    // Retries are ours (publishConfirmed): the library's would also retry a missing exchange.
    this.publisher = context.connection.createPublisher({ confirm, maxAttempts: 1 });
    const unclaimed = (message: ReturnedMessage): void => {
      context.report(
        new TransportError("UNROUTABLE", `a message to exchange "${message.exchange}" with routing key "${message.routingKey}" was returned: no queue is bound for it`, {
          exchange: message.exchange,
          routingKey: message.routingKey,
        }),
      );
    };
    this.returns = new ReturnTracker(unclaimed);
    this.target = publishTarget(context, this.returns, confirm, (env, buf) => this.publisher.send(env, buf), () => this.closing !== undefined);
    // Without confirms no publish waits for its return: report it at once.
    this.publisher.on("basic.return", (message) => (confirm ? this.returns.add(message) : unclaimed(message)));
  }

  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void> {
    const envelope = toEnvelope(exchange, routingKey, properties, options?.mandatory ?? true);
    const bytes = asBuffer(body);
    const published = publishConfirmed(this.target, envelope, bytes);
    if (!this.context.debug) return published;
    return published.then(() => this.context.log(`sent ${describeMessage(exchange, routingKey, bytes.byteLength, properties)}`));
  }

  close(): Promise<void> {
    this.closing ??= this.publisher.close().finally(this.onClosed);
    return this.closing;
  }
}
