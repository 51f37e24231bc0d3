import type { QueueOptions } from "@postage/transport";

/** Who an application is, for addressing. */
export interface ApplicationIdentity {
  name: string;
  host: string;
  pid: string;
  /** The instance id: tells apart several applications in one process. */
  instance: string;
}

/**
 * The routing keys of a GenericApplication on its exchange (DESIGN.md §4). Fan-out keys are bound
 * to the application's own queue; each round-robin key has a queue of the same name, shared by
 * every application it covers.
 */
export const addresses = {
  /** Every application with this name. */
  name: (name: string) => name,
  /** One application with this name (round robin). */
  nameRoundRobin: (name: string) => `${name}/rr`,
  /** Every application on the host. */
  host: (host: string) => `@${host}`,
  /** Every application with this name on the host. */
  nameOnHost: (name: string, host: string) => `${name}@${host}`,
  /** One of the applications with this name on the host. */
  nameOnHostRoundRobin: (name: string, host: string) => `${name}@${host}/rr`,
  /** Every application of the process. */
  process: (pid: string, host: string) => `${pid}@${host}`,
  /** Exactly one application: its own address. */
  instance: (instance: string) => `id:${instance}`,
  /** Every member of a group. */
  group: (name: string, group: string) => `${name}#${group}`,
  /** One member of a group. */
  groupRoundRobin: (name: string, group: string) => `${name}#${group}/rr`,
  /** Every application on the broker (used by `postage ps`). */
  everyone: () => "@*",
} as const;

/** The fan-out keys bound to an application's own queue (groups excluded). */
export function ownKeys(id: ApplicationIdentity): string[] {
  return [
    addresses.name(id.name),
    addresses.host(id.host),
    addresses.nameOnHost(id.name, id.host),
    addresses.process(id.pid, id.host),
    addresses.instance(id.instance),
    addresses.everyone(),
  ];
}

/** The round-robin keys (each also the name of its shared queue), groups excluded. */
export function roundRobinKeys(id: ApplicationIdentity): string[] {
  return [addresses.nameRoundRobin(id.name), addresses.nameOnHostRoundRobin(id.name, id.host)];
}

/**
 * The application's own queue: private to its connection (exclusive), and not auto-deleted, so
 * what was queued for it survives the consumer being re-created by an in-place restart. The
 * application deletes it when it stops; the broker deletes it with the connection.
 */
export function ownQueue(id: ApplicationIdentity): QueueOptions {
  return { name: `postage.app.${id.name}.${id.instance}`, exclusive: true, autoDelete: false };
}

/**
 * A shared round-robin queue. Durable and not auto-deleted, so pending work survives when every
 * instance is gone; an idle expiry (`x-expires`) removes queues nobody consumes any more.
 */
export function sharedQueue(key: string, expiresMs: number): QueueOptions {
  return { name: key, durable: true, arguments: { "x-expires": expiresMs } };
}
