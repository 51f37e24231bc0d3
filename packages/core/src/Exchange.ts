/** AMQP exchange types. */
export type ExchangeType = "direct" | "fanout" | "topic" | "headers";

/** An exchange as Postage declares it, as Python Postage's `Exchange` subclasses. */
export interface ExchangeDefinition {
  readonly name: string;
  readonly type: ExchangeType;
  /** Only check that the exchange exists; declaring fails if it does not. */
  readonly passive: boolean;
  /** Survives a broker restart. */
  readonly durable: boolean;
  /** Deleted when its last binding goes away. */
  readonly autoDelete: boolean;
  /** Extra `x-` arguments, e.g. `alternate-exchange`. */
  readonly arguments?: Readonly<Record<string, unknown>>;
}

/** Options of {@link defineExchange}. */
export interface ExchangeOptions {
  name: string;
  /** @default "direct" */
  type?: ExchangeType;
  /** @default false */
  passive?: boolean;
  /** @default true */
  durable?: boolean;
  /** @default false */
  autoDelete?: boolean;
  arguments?: Record<string, unknown>;
}

/**
 * Defines an exchange (validated, frozen).
 *
 * @example
 * export const echoExchange = defineExchange({ name: "echo-exchange", type: "direct" });
 * @throws {TypeError} when the name is not a string or the type is unknown.
 */
export function defineExchange(options: ExchangeOptions): ExchangeDefinition {
  const type = options.type ?? "direct";
  if (typeof options.name !== "string") throw new TypeError("exchange name must be a string");
  if (!["direct", "fanout", "topic", "headers"].includes(type)) {
    throw new TypeError(`exchange type must be direct, fanout, topic or headers, got "${String(type)}"`);
  }
  return Object.freeze({
    name: options.name,
    type,
    passive: options.passive ?? false,
    durable: options.durable ?? true,
    autoDelete: options.autoDelete ?? false,
    ...(options.arguments ? { arguments: Object.freeze({ ...options.arguments }) } : {}),
  });
}

/** The parameters dictionary of an exchange declaration, exactly as Python Postage's `Exchange.parameters`. */
export interface ExchangeParameters {
  exchange: string;
  exchange_type: ExchangeType;
  passive: boolean;
  durable: boolean;
  auto_delete: boolean;
}

/** The declaration parameters of an exchange in Python Postage's form. */
export function exchangeParameters(exchange: ExchangeDefinition): ExchangeParameters {
  return {
    exchange: exchange.name,
    exchange_type: exchange.type,
    passive: exchange.passive,
    durable: exchange.durable,
    auto_delete: exchange.autoDelete,
  };
}
