import type { ExchangeDefinition } from "@postage/core";
import { inspectExchange, type InspectionEvent, type InspectionListener } from "@postage/actors";
import { connect, type Broker, type ConnectOptions, type DriverConsumer } from "@postage/transport";
import type { InspectionSource } from "./InspectionSource.js";
import { parseInspectionEvent } from "./parseInspectionEvent.js";

/** Options of {@link createAmqpSource}. */
export interface AmqpSourceOptions {
  /**
   * A broker handle to consume through (not closed by the source). Without it the source connects
   * with {@link connection} (or the `POSTAGE_*` environment) and closes that connection itself.
   */
  broker?: Broker;
  /** How to connect when no {@link broker} is given. @default settings from the environment */
  connection?: ConnectOptions;
  /** The exchange to consume. @default "postage.inspect" */
  exchange?: string;
  /** The routing-key pattern to bind with: `"#"` for everything, `"actor.*"` for announces only. @default "#" */
  bindingKey?: string;
  /**
   * Events kept waiting in the broker for a slow inspector; beyond it the oldest are dropped
   * (the inspector must never make publishers wait). @default 10000
   */
  maxQueued?: number;
  /** Deliveries in flight. @default 200 */
  prefetch?: number;
  /** Called with each event that does not parse (it is acked and counted, never requeued). @default ignore (counted) */
  onInvalid?: (error: unknown, body: Uint8Array) => void;
}

/** An {@link InspectionSource} that consumes a broker; {@link ready} tells when it is bound. */
export interface AmqpInspectionSource extends InspectionSource {
  /** Resolves once the private queue is declared, bound and consuming; rejects if that fails. */
  ready(): Promise<void>;
  /** Events received, and those that did not parse. */
  readonly counters: { received: number; invalid: number };
}

/**
 * Consumes inspection events from the `postage.inspect` topic exchange with a private queue
 * (server-named, exclusive, auto-delete, bound with `#`). Events are JSON; each is parsed with
 * {@link parseInspectionEvent} and handed to every subscribed listener; undecodable ones are
 * counted (and passed to `onInvalid`), never requeued.
 *
 * The queue is capped (`x-max-length`, oldest dropped) so a stalled inspector cannot grow the
 * broker's memory. After a reconnect the transport re-declares the queue and its binding; events
 * published while the connection was down are lost (the inspector shows a live view, not a history).
 *
 * @example
 * ```ts
 * const source = createAmqpSource({ connection: { url: "amqp://guest:guest@localhost:5672" } });
 * await source.ready();
 * const inspector = await createInspectorServer({ source });
 * ```
 */
export function createAmqpSource(options: AmqpSourceOptions = {}): AmqpInspectionSource {
  const ownsBroker = options.broker === undefined;
  const broker = options.broker ?? connect({ ...options.connection });
  // Declared exactly as the actors declare it (RabbitMQ refuses a re-declaration that differs).
  const exchange: ExchangeDefinition = options.exchange === undefined ? inspectExchange : { ...inspectExchange, name: options.exchange };
  const listeners = new Set<InspectionListener>();
  const counters = { received: 0, invalid: 0 };
  const decoder = new TextDecoder("utf-8", { fatal: true });

  const deliver = (event: InspectionEvent): void => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        // A viewer's bug must not stop the feed; say it once per message text.
        reportOnce(error);
      }
    }
  };
  const reported = new Set<string>();
  const reportOnce = (error: unknown): void => {
    const text = error instanceof Error ? error.message : String(error);
    if (reported.has(text)) return;
    reported.add(text);
    process.stderr.write(`postage inspector: an inspection listener failed: ${text}\n`);
  };

  let consumer: DriverConsumer;
  try {
    consumer = broker.driver.createConsumer(
      {
        queue: {
          name: "",
          exclusive: true,
          autoDelete: true,
          arguments: { "x-max-length": options.maxQueued ?? 10_000, "x-overflow": "drop-head" },
        },
        exchanges: [exchange],
        bindings: [{ exchange: exchange.name, routingKey: options.bindingKey ?? "#" }],
        prefetch: options.prefetch ?? 200,
      },
      (delivery) => {
        counters.received += 1;
        let event: InspectionEvent;
        try {
          event = parseInspectionEvent(JSON.parse(decoder.decode(delivery.body)));
        } catch (error) {
          counters.invalid += 1;
          options.onInvalid?.(error, delivery.body);
          return "ack";
        }
        deliver(event);
        return "ack";
      },
    );
  } catch (error) {
    if (ownsBroker) void broker.close(); // deliberate: best effort, the creation error is what matters
    throw error;
  }
  const unown = broker.own("consumer", consumer);
  // Observed so a failed declaration is not an unhandled rejection; ready() reports it to callers.
  consumer.ready.catch(() => undefined);

  let closing: Promise<void> | undefined;
  return {
    description: `${broker.url} (${exchange.name})`,
    counters,
    ready: () => consumer.ready,
    subscribe(listener) {
      if (closing !== undefined) return () => {};
      // Wrapped so the same function subscribed twice is two subscriptions.
      const wrapped: InspectionListener = (event) => listener(event);
      listeners.add(wrapped);
      return () => {
        listeners.delete(wrapped);
      };
    },
    close() {
      closing ??= (async () => {
        listeners.clear();
        unown();
        await consumer.close();
        if (ownsBroker) await broker.close();
      })();
      return closing;
    },
  };
}
