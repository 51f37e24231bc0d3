import { randomBytes } from "node:crypto";
import { afterEach, beforeEach } from "vitest";
import type { Broker, Delivery } from "@postage/transport";

/** The RabbitMQ under test (127.0.0.1:5672, guest/guest unless POSTAGE_TEST_RABBIT_URL says otherwise). */
export const RABBIT_URL = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** A random name, so tests against a shared broker never collide and can be cleaned up. */
export function randomName(prefix: string): string {
  return `test.${prefix}.${randomBytes(5).toString("hex")}`;
}

/** A promise that resolves once `open()` is called: a handler awaits `wait` to hold its delivery until the test lets go. */
export function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Waits until `condition()` holds, polling; fails with `what` after `timeout` ms. */
export async function waitFor(condition: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Queues and exchanges a test created, deleted afterwards. */
export class Cleanup {
  private readonly queues = new Set<string>();
  private readonly exchanges = new Set<string>();

  queue(name: string): string {
    this.queues.add(name);
    return name;
  }

  exchange(name: string): string {
    this.exchanges.add(name);
    return name;
  }

  async run(broker: Broker): Promise<void> {
    for (const queue of this.queues) await broker.driver.deleteQueue(queue).catch(() => undefined);
    for (const exchange of this.exchanges) await broker.driver.deleteExchange(exchange).catch(() => undefined);
    this.queues.clear();
    this.exchanges.clear();
  }
}

/**
 * Registers an `afterEach` that deletes what the test created and closes its broker: call in a
 * `describe`, then `use(broker)` in each test.
 */
export function brokerPerTest(): { cleanup: Cleanup; use(broker: Broker): Broker } {
  const cleanup = new Cleanup();
  let current: Broker | undefined;
  afterEach(async () => {
    const broker = current;
    current = undefined;
    if (broker === undefined) return;
    await cleanup.run(broker);
    await broker.close();
  });
  return {
    cleanup,
    use(broker) {
      current = broker;
      return broker;
    },
  };
}

/**
 * Reads every delivery of an existing queue through the raw driver (to inspect dead-lettered
 * copies). Checked, not declared: a dead-letter queue has arguments a plain declaration would contradict.
 */
export function rawCollect(broker: Broker, queue: string): { deliveries: Delivery[]; close(): Promise<void>; ready: Promise<void> } {
  const deliveries: Delivery[] = [];
  const consumer = broker.driver.createConsumer({ queue: { name: queue, passive: true } }, (delivery) => {
    deliveries.push(delivery);
    return "ack";
  });
  return { deliveries, close: () => consumer.close(), ready: consumer.ready };
}

export const utf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/**
 * Force-closes, broker side, the connections named `connectionName` (as a broker restart would),
 * through `rabbitmqctl` (needs root); other test files' connections are left alone.
 */
export async function forceCloseConnection(connectionName: string): Promise<number> {
  const { execFile } = await import("node:child_process");
  const run = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => execFile("rabbitmqctl", args, (error, stdout) => (error ? reject(error) : resolve(stdout))));
  const listing = await run(["list_connections", "-q", "--no-table-headers", "pid", "client_properties"]);
  const pids = listing
    .split("\n")
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split("\t")[0] ?? "");
  for (const pid of pids) await run(["close_connection", pid, "postage test: forced close"]);
  return pids.length;
}

/**
 * Registers hooks that give each test of the `describe` two broker handles (the one under test,
 * and another to publish and inspect from) and delete what the test created afterwards.
 */
export function twoBrokersPerTest(makeBroker: () => Broker): { readonly broker: Broker; readonly other: Broker; readonly cleanup: Cleanup } {
  const state = { broker: undefined as Broker | undefined, other: undefined as Broker | undefined, cleanup: new Cleanup() };
  beforeEach(async () => {
    state.broker = makeBroker();
    state.other = makeBroker();
    state.cleanup = new Cleanup();
    await Promise.all([state.broker.ready({ timeout: 10_000 }), state.other.ready({ timeout: 10_000 })]);
  });
  afterEach(async () => {
    const { broker, other, cleanup } = state;
    await broker?.close();
    if (other !== undefined) {
      await cleanup.run(other);
      await other.close();
    }
  });
  const required = (broker: Broker | undefined): Broker => {
    if (broker === undefined) throw new Error("no broker outside a test");
    return broker;
  };
  return {
    get broker() {
      return required(state.broker);
    },
    get other() {
      return required(state.other);
    },
    get cleanup() {
      return state.cleanup;
    },
  };
}
