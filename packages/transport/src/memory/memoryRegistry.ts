import { parseBrokerUrl } from "../config/parseBrokerUrl.js";
import { TransportError } from "../errors.js";
import { MemoryBroker } from "./MemoryBroker.js";
import { MemoryDriver, type MemoryDriverOptions } from "./MemoryDriver.js";

// One process-wide registry, so every `memory://name` in a process reaches the same broker.
const brokers = new Map<string, MemoryBroker>();

/**
 * The named in-memory broker of this process, created on first use.
 * @param name The broker's name (`memory://name`). @default "default"
 */
export function getMemoryBroker(name = "default"): MemoryBroker {
  let broker = brokers.get(name);
  if (broker === undefined) brokers.set(name, (broker = new MemoryBroker(name)));
  return broker;
}

/**
 * A new connection to the in-memory broker named by `url`'s host (`memory://` and
 * `memory://default` are the same broker). Every driver for the same name shares its queues and
 * exchanges, like processes sharing one RabbitMQ.
 *
 * @param url `memory://<name>`. @default "memory://"
 * @throws {TransportError} `INVALID_URL` when the URL is not a `memory://` URL.
 *
 * @example
 * const a = memoryDriver("memory://test-1");
 * const b = memoryDriver("memory://test-1"); // a second "process" on the same broker
 */
export function memoryDriver(url = "memory://", options?: MemoryDriverOptions): MemoryDriver {
  const parsed = parseBrokerUrl(url);
  if (parsed.scheme !== "memory") throw new TransportError("INVALID_URL", `memoryDriver needs a memory:// URL, not a ${parsed.scheme}:// one`);
  return new MemoryDriver(getMemoryBroker(parsed.name), options);
}

/**
 * Empties the named broker (queues and their messages, exchanges, reply channels) and forgets it,
 * so the next {@link memoryDriver} for that name starts from scratch. Drivers still connected to it
 * stay open, but their consumers receive nothing more. Meant for test isolation.
 * @returns Whether such a broker existed.
 */
export function dropMemoryBroker(name = "default"): boolean {
  const broker = brokers.get(name);
  if (broker === undefined) return false;
  broker.reset();
  brokers.delete(name);
  return true;
}

/** {@link dropMemoryBroker} for every broker of the process. */
export function dropAllMemoryBrokers(): void {
  for (const name of [...brokers.keys()]) dropMemoryBroker(name);
}
