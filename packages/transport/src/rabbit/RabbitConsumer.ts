import type { ExchangeDefinition } from "@postage/core";
import { ConsumerStatus, type AsyncMessage, type Channel, type Consumer, type ConsumerProps, type MethodParams, type Cmd } from "rabbitmq-client";
import type { Delivery, DeliveryHandler, Disposition, DriverConsumer, DriverConsumerOptions } from "../driver/BrokerDriver.js";
import { FATAL_SETUP_CODES } from "../driver/fatalSetupCodes.js";
import { TransportError, toTransportError } from "../errors.js";
import { describeMessage, toDelivery } from "./amqpMessages.js";
import { consumerChannel, unsupported, unsubscribeProblem } from "./clientPatches.js";
import { DeliveryWindow } from "./DeliveryWindow.js";
import { NoAckSubscription } from "./NoAckSubscription.js";
import type { RabbitContext } from "./RabbitContext.js";

type QueueBind = MethodParams[Cmd.QueueBind];

/** How long after a cancel or a lost channel the consumer checks whether its queue can still be declared. */
const PROBE_DELAY_MS = 1_000;

/** The library's wording when an ack or nack could not be written (the channel is gone). */
const SETTLE_FAILED = "failed to ack/nack message";

const STATUS: Record<Disposition, ConsumerStatus> = {
  ack: ConsumerStatus.ACK,
  reject: ConsumerStatus.DROP,
  requeue: ConsumerStatus.REQUEUE,
};

/** An exchange definition in rabbitmq-client's form. */
export function exchangeDeclareParams(exchange: ExchangeDefinition): MethodParams[Cmd.ExchangeDeclare] {
  return {
    exchange: exchange.name,
    type: exchange.type,
    passive: exchange.passive,
    durable: exchange.durable,
    autoDelete: exchange.autoDelete,
    ...(exchange.arguments ? { arguments: { ...exchange.arguments } } : {}),
  };
}

/**
 * A consumer on rabbitmq-client's Consumer, which re-declares its queue, exchanges and bindings
 * and consumes again after every reconnect.
 *
 * Run-time bindings survive reconnects because the library re-reads `props.queueBindings` (the
 * very array we hold) at each setup: {@link bind} adds to it, {@link unbind} removes from it. For a
 * server-named queue the bindings use the queue name `""`, which AMQP resolves to the queue last
 * declared on the channel, i.e. the new queue.
 *
 * @internal Created by {@link RabbitDriver.createConsumer}.
 */
export class RabbitConsumer implements DriverConsumer {
  readonly ready: Promise<void>;
  private readonly consumer: Consumer;
  private readonly props: ConsumerProps & { queueBindings: QueueBind[] };
  private readonly bindingQueue: string;
  private lastQueue = "";
  private everReady = false;
  private waiters: Array<{ resolve: () => void; reject: (error: TransportError) => void }> = [];
  private closing: Promise<void> | undefined;
  /** The channel the latest deliveries came on, and the signal they carry (aborted when it closes). */
  private channel: Channel | undefined;
  private session = new AbortController();
  /** A {@link probe} is under way. */
  private probing = false;
  /** Setups that succeeded ("ready" events): a probe started before the latest one is moot. */
  private setups = 0;
  /** Deliveries settled after their channel died: the library's failed ack/nack for them is expected. */
  private staleSettles = 0;
  private readonly settleReady: { resolve: () => void; reject: (error: TransportError) => void };
  /** Flow control of a consumer without acks (`noAck`); undefined with acks, where the prefetch does it. */
  private readonly window: DeliveryWindow | undefined;
  /** What the window switches (undefined with acks). */
  private readonly subscription: NoAckSubscription | undefined;

  constructor(
    private readonly context: RabbitContext,
    options: DriverConsumerOptions,
    handler: DeliveryHandler,
    private readonly onClosed: () => void,
  ) {
    const spec = options.queue;
    const prefetch = options.prefetch ?? 100;
    const noAck = options.noAck === true;
    this.bindingQueue = spec.name;
    this.props = {
      queue: spec.name,
      queueOptions: {
        durable: spec.durable ?? false,
        exclusive: spec.exclusive ?? false,
        autoDelete: spec.autoDelete ?? false,
        passive: spec.passive ?? false,
        ...(spec.arguments ? { arguments: { ...spec.arguments } } : {}),
      },
      // Without acks the broker applies no prefetch: the delivery window does the flow control,
      // and every delivery goes to the handler (there is no giving it back).
      ...(noAck
        ? { noAck: true, concurrency: Infinity }
        : {
            qos: { prefetchCount: prefetch },
            // Finite, so that deliveries arriving while closing are held back (and requeued by the
            // broker) instead of reaching the handler.
            concurrency: prefetch > 0 ? prefetch : 100,
          }),
      // A throwing handler dead-letters its message; the library default would requeue it forever.
      requeue: false,
      exclusive: options.exclusiveConsumer ?? false,
      exchanges: (options.exchanges ?? []).map(exchangeDeclareParams),
      queueBindings: (options.bindings ?? []).map((b) => ({ queue: spec.name, exchange: b.exchange, routingKey: b.routingKey })),
    };

    let settleReady!: { resolve: () => void; reject: (error: TransportError) => void };
    this.ready = new Promise<void>((resolve, reject) => {
      settleReady = { resolve, reject };
    });
    this.settleReady = settleReady;
    // Whoever awaits `ready` sees the rejection; this only keeps an unobserved one from crashing.
    this.ready.catch(() => undefined);

    // The hot path: one async layer per delivery (`deliver`), none added here.
    // Without acks, prefetch 0 means what it means with acks: no limit, so no window either.
    const windowed = noAck && prefetch > 0;
    this.consumer = context.connection.createConsumer(
      this.props,
      windowed
        ? (message: AsyncMessage) => this.deliverInWindow(message, handler)
        : (message: AsyncMessage) => this.deliver(toDelivery(message), handler, noAck ? undefined : this.signalFor()),
    );
    const problem = windowed ? unsubscribeProblem(this.consumer) : undefined;
    if (problem !== undefined) {
      // No flow control without it: the broker would send the whole queue into this process.
      this.consumer.close().catch((error: unknown) => context.report(toTransportError(error)));
      throw unsupported(problem);
    }
    if (windowed) {
      const expires = spec.arguments?.["x-expires"];
      this.subscription = new NoAckSubscription(context, this.consumer, { expires: typeof expires === "number" ? expires : undefined, exclusive: this.props.exclusive ?? false, onPause: options.onPause });
      this.window = new DeliveryWindow(prefetch, this.subscription, (error) => context.report(context.toError(error, { queue: spec.name })));
    }

    this.consumer.on("ready", () => {
      this.setups += 1;
      this.lastQueue = this.consumer.queue;
      if (!this.everReady) {
        this.everReady = true;
        settleReady.resolve();
      } else if (context.debug) {
        context.log(`consumer of queue "${this.lastQueue}" is consuming again after a reconnect`);
      }
      this.subscription?.releaseLease();
      this.window?.resubscribed();
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter.resolve();
      // The library retries a failing setup forever without saying why: find out when this channel goes.
      consumerChannel(this.consumer)?.once("close", () => this.probe(options));
    });

    this.consumer.on("error", (err: unknown) => {
      if (this.staleSettles > 0 && err instanceof Error && err.message.startsWith(SETTLE_FAILED)) {
        // The delivery was given up when its channel died; the broker redelivers it.
        this.staleSettles -= 1;
        if (context.debug) context.log(`queue "${this.queue}": ${err.message} (its channel had closed; the broker redelivers it)`);
        return;
      }
      const code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
      const mapped = context.toError(err, { queue: spec.name, operation: `consuming queue "${spec.name || "(server-named)"}"` });
      if (!this.everReady && this.closing === undefined && FATAL_SETUP_CODES.has(code)) {
        settleReady.reject(mapped);
        // Retrying would fail the same way forever: stop.
        this.close().catch((closeError: unknown) => context.report(toTransportError(closeError)));
        return;
      }
      context.report(mapped);
      // Cancelled by the broker (queue deleted): the library sets up again; see whether it can.
      if (code === "CANCEL_FORCED") this.probe(options);
    });
  }

  /** Hands one delivery to the handler; resolves to how the library settles it. */
  private async deliver(delivery: Delivery, handler: DeliveryHandler, signal: AbortSignal | undefined): Promise<ConsumerStatus> {
    const { context } = this;
    if (signal !== undefined) delivery.signal = signal;
    if (context.debug) {
      context.log(`received from queue "${this.queue}" ${describeMessage(delivery.exchange, delivery.routingKey, delivery.body.byteLength, delivery.properties)}${delivery.redelivered ? " (redelivered)" : ""}`);
    }
    let disposition: Disposition;
    try {
      disposition = await handler(delivery);
    } catch (err) {
      // Caught here so that the consumer's "error" event only carries the library's own errors.
      context.report(
        new TransportError("HANDLER_FAILED", `the handler of queue "${this.queue}" threw (the message is dead-lettered): ${err instanceof Error ? err.message : String(err)}`, {
          queue: this.queue,
          cause: err,
        }),
      );
      return ConsumerStatus.DROP;
    }
    if (signal?.aborted && this.channel?.active === false) this.staleSettles += 1;
    // Anything but a known disposition (a JavaScript caller's typo) must not ack silently.
    return STATUS[disposition] ?? ConsumerStatus.DROP;
  }

  /** A delivery without ack: counted in the window while its handler holds it; it carries no signal (nothing is redelivered). */
  private async deliverInWindow(message: AsyncMessage, handler: DeliveryHandler): Promise<ConsumerStatus> {
    const window = this.window as DeliveryWindow;
    window.entered();
    try {
      return await this.deliver(toDelivery(message), handler, undefined);
    } finally {
      window.left();
    }
  }

  /** The queue's name; for a server-named queue, the name the broker gave it on the latest (re)connect. */
  get queue(): string {
    return this.consumer.queue || this.lastQueue;
  }

  async consuming(): Promise<string> {
    this.assertOpen();
    if (!this.everReady) await this.ready;
    await this.whenConsuming();
    return this.consumer.queue;
  }

  async bind(exchange: string, routingKey: string): Promise<void> {
    this.assertOpen();
    const entry: QueueBind = { queue: this.bindingQueue, exchange, routingKey };
    const known = this.props.queueBindings.some((b) => b.exchange === exchange && b.routingKey === routingKey);
    // Listed first, so a reconnect racing with this call re-declares it too.
    if (!known) this.props.queueBindings.push(entry);
    try {
      await this.whenConsuming();
      const queue = this.consumer.queue;
      await this.context.withChannel({ exchange, queue, routingKey, operation: `binding queue "${queue}" to exchange "${exchange}" with key "${routingKey}"` }, (ch) =>
        ch.queueBind({ queue, exchange, routingKey }),
      );
    } catch (err) {
      if (!known) this.forget(exchange, routingKey);
      throw err;
    }
  }

  async unbind(exchange: string, routingKey: string): Promise<void> {
    this.assertOpen();
    this.forget(exchange, routingKey);
    await this.whenConsuming();
    const queue = this.consumer.queue;
    await this.context.withChannel({ exchange, queue, routingKey, operation: `unbinding queue "${queue}" from exchange "${exchange}" with key "${routingKey}"` }, (ch) =>
      ch.queueUnbind({ queue, exchange, routingKey }),
    );
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new TransportError("CLOSED", `the consumer of queue "${this.queue}" is closed`, { queue: this.queue });
      // No effect once ready resolved (or was rejected with the setup error).
      this.settleReady.reject(closed);
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter.reject(closed);
      this.window?.close();
      this.subscription?.close();
      try {
        const stopped = this.consumer.close();
        // The library clears the tag as it sends basic.cancel (after a pending setup, if any);
        // only then are handed-out deliveries given back, so the broker does not send them here again.
        for (let turn = 0; turn < 16 && this.consumer.consumerTag !== ""; turn += 1) await Promise.resolve();
        this.session.abort(closed);
        await stopped;
      } finally {
        this.onClosed();
      }
    })();
    return this.closing;
  }

  /**
   * The signal for a delivery that just arrived: one per channel, aborted when that channel closes
   * (a lost connection, a channel error) or when this consumer closes.
   */
  private signalFor(): AbortSignal | undefined {
    const channel = consumerChannel(this.consumer);
    if (channel === undefined) return undefined;
    if (channel !== this.channel) {
      // A new channel: the previous one is gone, and so is any use in settling its deliveries.
      this.channel = channel;
      const lost = (): TransportError => new TransportError("CONNECTION_LOST", `the channel of queue "${this.queue}" closed`, { queue: this.queue });
      this.session.abort(lost());
      const session = new AbortController();
      this.session = session;
      channel.once("close", () => session.abort(lost()));
    }
    return this.session.signal;
  }

  /**
   * After the broker cancelled this consumer or its channel closed, declares its queue the way the
   * library's next setup will: when that is refused for a reason retrying does not change
   * (declared differently, locked by another connection, refused), the consumer will never consume
   * again, which the library does not report (it retries quietly): tell the owner (`onLost`).
   */
  private probe(options: DriverConsumerOptions): void {
    if (this.probing || this.closing !== undefined || !this.everReady || this.bindingQueue === "" || options.onLost === undefined) return;
    this.probing = true;
    const setups = this.setups;
    const queue = this.bindingQueue;
    const operation = `declaring queue "${queue}" again to consume it`;
    // Give the library's own retry (retryLow, 250 ms by default) its chance first: probe only if it did not come back.
    const timer = setTimeout(() => {
      if (this.closing !== undefined || this.setups !== setups) {
        this.probing = false;
        return;
      }
      this.context
        .withChannel({ queue, operation }, (ch) => ch.queueDeclare({ ...this.props.queueOptions, queue }))
        .then(
          () => undefined,
          (error: unknown) => {
            const mapped = this.context.toError(error, { queue, operation });
            if (this.closing !== undefined || this.setups !== setups || !FATAL_SETUP_CODES.has(mapped.code)) return;
            this.context.report(mapped);
            options.onLost?.(mapped);
          },
        )
        .finally(() => {
          this.probing = false;
        });
    }, PROBE_DELAY_MS);
    timer.unref();
  }

  private forget(exchange: string, routingKey: string): void {
    const index = this.props.queueBindings.findIndex((b) => b.exchange === exchange && b.routingKey === routingKey);
    if (index !== -1) this.props.queueBindings.splice(index, 1);
  }

  /** Resolves when the consumer is set up on a live channel (at once, unless it is reconnecting). */
  private whenConsuming(): Promise<void> {
    if (this.consumer.consumerTag !== "") return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new TransportError("CLOSED", `the consumer of queue "${this.queue}" is closed`, { queue: this.queue });
  }
}
