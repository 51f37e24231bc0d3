import type { Context } from "@opentelemetry/api";
import type { ExchangeDefinition } from "@postage/core";
import type { Broker } from "./Broker.js";
import type { MessageProperties, PublishOptions } from "./driver/BrokerDriver.js";
import type { ExchangeKeys } from "./routing.js";
import { startSendSpan } from "./telemetry/sendSpan.js";

/** Anything that publishes raw bytes: a driver publisher or a reply channel. @internal */
export interface PublishTarget {
  publish(exchange: string, routingKey: string, body: Uint8Array, properties: MessageProperties, options?: PublishOptions): Promise<void>;
}

/**
 * Publishes one encoded message to every exchange/key couple, declaring each exchange first
 * (once per connection). A failed publish makes the exchange be declared again next time, since
 * the usual cause is an exchange deleted behind our back. @internal
 */
export function publishRoutes(
  broker: Broker,
  target: PublishTarget,
  routes: ExchangeKeys,
  body: Uint8Array,
  properties: MessageProperties,
  options: PublishOptions,
  describe: () => string,
  parent?: Context,
): Promise<void> {
  // The usual single route goes without Promise.all and its closures (this is the hot path).
  if (routes.length === 1) {
    const [exchange, routingKey] = routes[0]!;
    return publishOne(broker, target, exchange, routingKey, body, properties, options, describe, parent);
  }
  return Promise.all(routes.map(([exchange, routingKey]) => publishOne(broker, target, exchange, routingKey, body, properties, options, describe, parent))).then(() => undefined);
}

async function publishOne(
  broker: Broker,
  target: PublishTarget,
  exchange: ExchangeDefinition,
  routingKey: string,
  body: Uint8Array,
  properties: MessageProperties,
  options: PublishOptions,
  describe: () => string,
  parent: Context | undefined,
): Promise<void> {
  if (!broker.isExchangeDeclared(exchange.name)) await broker.declareExchange(exchange);
  const span = startSendSpan(exchange.name, routingKey, body, properties, parent); // undefined without an OpenTelemetry SDK
  try {
    await target.publish(exchange.name, routingKey, body, span?.properties ?? properties, options);
  } catch (error) {
    span?.fail(error);
    broker.forgetExchange(exchange.name);
    throw error;
  }
  span?.end();
  if (broker.debug) broker.log(`[postage] sent ${describe()} -> ${exchange.name || "(default)"}/${routingKey} id=${properties.messageId ?? "-"}`);
}
