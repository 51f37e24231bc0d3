import { Broker, SharedConnection, type DebugLogger } from "./Broker.js";
import { resolveConnectionSettings, type ConnectionOptions, type ConnectionSettings, type Environment } from "./config/connectionSettings.js";
import type { BrokerDriver } from "./driver/BrokerDriver.js";
import { getMemoryBroker } from "./memory/memoryRegistry.js";
import { MemoryDriver } from "./memory/MemoryDriver.js";
import { RabbitDriver } from "./rabbit/RabbitDriver.js";

/** Options of {@link connect}: where to connect (see `ConnectionOptions`) and how to share it. */
export interface ConnectOptions extends ConnectionOptions {
  /**
   * Share one connection per process and URL with every other shared {@link connect}; `false`
   * opens a connection of its own. @default true
   */
  shared?: boolean;
  /** Where debug lines go when `debug` is on. @default console.debug */
  logger?: DebugLogger;
  /** Environment to read `POSTAGE_*` settings from. @default process.env */
  env?: Environment;
  /** Use this driver instead of choosing one from the URL (never shared; closed with the broker). */
  driver?: BrokerDriver;
  /**
   * RabbitMQ: deadline of one publish, retries through reconnects included, in ms; past it the
   * publish rejects with a `TIMEOUT` {@link TransportError} (it never hangs). `0`: no deadline.
   * @default 30000
   */
  publishTimeout?: number;
}

const sharedConnections = new Map<string, SharedConnection>();

function shareKey(settings: ConnectionSettings, publishTimeout: number | undefined): string {
  // The full settings (password included) tell connections apart; the key never leaves this map.
  return JSON.stringify([settings, publishTimeout]);
}

function createDriver(settings: ConnectionSettings, logger: DebugLogger, publishTimeout: number | undefined): BrokerDriver {
  if (settings.transport === "memory") return new MemoryDriver(getMemoryBroker(settings.name));
  // Debug lines come from this layer (decoded messages, on every driver), so the driver's own are off.
  return new RabbitDriver({ ...settings, debug: false }, { log: logger, ...(publishTimeout === undefined ? {} : { publishTimeout }) });
}

/**
 * Connects to a broker: `amqp://`/`amqps://` URLs go to RabbitMQ, `memory://name` to the in-memory
 * broker (same name, same broker, within the process). Settings not given come from the
 * environment (`POSTAGE_URL`, `POSTAGE_HOST`, ..., `POSTAGE_DEBUG_MODE`). Connections are shared per
 * process and URL and reference-counted: each {@link Broker} returned must be closed, and the
 * connection closes with the last one.
 *
 * Returns at once; the connection is made in the background (call {@link Broker.ready} to wait for
 * it and see a refused login or an unreachable host as a clear error).
 *
 * @throws {TransportError} `INVALID_URL` or `INVALID_CONFIG` for bad settings.
 * @example
 * const broker = connect({ url: "amqp://guest:guest@127.0.0.1:5672" });
 * await broker.ready();
 * // ... createProducer(broker, ...), createConsumer(broker, ...)
 * await broker.close();
 */
export function connect(options: ConnectOptions = {}): Broker {
  const { shared = true, logger = (line: string) => console.debug(line), env, driver, publishTimeout, ...connection } = options;
  const settings = resolveConnectionSettings(connection, env ?? process.env);
  const brokerOptions = { debug: settings.debug, logger };
  if (driver !== undefined) return new Broker(new SharedConnection(driver, () => undefined), brokerOptions);
  if (!shared) return new Broker(new SharedConnection(createDriver(settings, logger, publishTimeout), () => undefined), brokerOptions);
  const key = shareKey(settings, publishTimeout);
  let connectionEntry = sharedConnections.get(key);
  // A connection whose first connect failed for good would fail every caller with its old error
  // (a broker started after us, a network back): drop it from the share; its brokers still close it.
  if (connectionEntry?.driver.failure !== undefined) {
    sharedConnections.delete(key);
    connectionEntry = undefined;
  }
  if (connectionEntry === undefined) {
    const created: SharedConnection = new SharedConnection(createDriver(settings, logger, publishTimeout), () => {
      if (sharedConnections.get(key) === created) sharedConnections.delete(key);
    });
    connectionEntry = created;
    sharedConnections.set(key, created);
  }
  return new Broker(connectionEntry, brokerOptions);
}
