import { defineExchange, type ExchangeDefinition, Fingerprint, SuccessResult } from "@postage/core";
import type { ExchangeQueueKeys, QueueKeys, QueueOptions } from "@postage/transport";
import { type ApplicationIdentity, addresses, ownKeys, ownQueue, roundRobinKeys, sharedQueue } from "./addressing.js";
import { ActorError } from "./errors.js";
import { messageHandler, rpcHandler } from "./handlers/HandlerDefinition.js";
import { MessageProcessor, type MessageProcessorOptions } from "./MessageProcessor.js";

/** The exchange GenericApplications bind to by default (direct, durable), as in Python Postage. */
export const genericApplicationExchange: ExchangeDefinition = defineExchange({ name: "generic-application-exchange", type: "direct" });

/** Options of a {@link GenericApplication}. */
export interface GenericApplicationOptions extends Omit<MessageProcessorOptions<never>, "fingerprint"> {
  /** The application's name: its addresses derive from it. */
  name: string;
  /** The fingerprint's type. @default "application" */
  type?: string;
  /** Groups joined from the start (more with `join_group` at run time). @default [] */
  groups?: readonly string[];
  /** @default genericApplicationExchange */
  exchange?: ExchangeDefinition;
  /** A fingerprint to use instead of collecting one (its name is replaced by `name`). */
  fingerprint?: Fingerprint;
  /** Idle expiry of the shared round-robin queues once nobody consumes them, in ms. @default 3_600_000 (1 hour) */
  roundRobinExpiresMs?: number;
}

/** A group name: anything but empty, and no `#` or `/` (they separate the parts of an address). */
function checkGroup(group: unknown): string {
  if (typeof group !== "string" || group === "" || /[#/]/.test(group)) {
    throw new ActorError("INVALID_GROUP", `group_name must be a non-empty string without "#" or "/", got ${JSON.stringify(group)}`);
  }
  return group;
}

/**
 * A ready-made component (the seed's `GenericApplication`): a message processor reachable by
 * name, host, process, instance and group on one exchange.
 *
 * | key | reaches |
 * |---|---|
 * | `{name}` | every application with that name |
 * | `{name}/rr` | one of them (round robin) |
 * | `@{host}` | every application on the host |
 * | `{name}@{host}` / `{name}@{host}/rr` | every / one application with that name on the host |
 * | `{pid}@{host}` | every application of the process |
 * | `id:{instance}` | exactly this application |
 * | `{name}#{group}` / `{name}#{group}/rr` | every / one member of the group |
 * | `@*` | every application (used by `postage ps`) |
 *
 * Besides `quit` and `restart` it answers `ping` (RPC: replies with its fingerprint), `describe`
 * (RPC: fingerprint, state, groups, addresses, counters), and `join_group` / `leave_group`
 * (parameter `group_name`), which also start or stop its share of the group's round robin.
 *
 * @example
 * const scheduler = new Scheduler();
 * scheduler.add(new GenericApplication({ name: "monitor", groups: ["blue"] }));
 * await scheduler.run();
 */
export class GenericApplication extends MessageProcessor {
  override readonly actorType = "application";
  /** The exchange the application's addresses live on. */
  readonly exchange: ExchangeDefinition;
  /** Name, host, pid and instance id. */
  readonly identity: ApplicationIdentity;
  private readonly expiresMs: number;

  constructor(options: GenericApplicationOptions) {
    const fingerprint = options.fingerprint
      ? new Fingerprint({ ...options.fingerprint.toDict(), name: options.name, instance: options.fingerprint.instance ?? Fingerprint.newInstanceId() })
      : Fingerprint.collect({ name: options.name, type: options.type ?? "application" });
    super({ ...options, fingerprint });
    this.exchange = options.exchange ?? genericApplicationExchange;
    this.expiresMs = options.roundRobinExpiresMs ?? 3_600_000;
    this.identity = { name: options.name, host: fingerprint.host, pid: fingerprint.pid, instance: this.id };
    for (const group of options.groups ?? []) checkGroup(group);
    this.handle(rpcHandler<this>("command", "ping", async (_content, reply, { processor }) => reply(new SuccessResult(processor.fingerprint))));
    this.handle(rpcHandler<this>("command", "describe", async (_content, reply, { processor }) => reply(new SuccessResult(processor.describe()))));
    this.handle(messageHandler<this>("command", "join_group", (content, { processor }) => processor.joinGroup(groupParameter(content.parameters))));
    this.handle(messageHandler<this>("command", "leave_group", (content, { processor }) => processor.leaveGroup(groupParameter(content.parameters))));
  }

  /** What `describe` answers, and what `postage ps` shows. */
  describe(): Record<string, unknown> {
    return {
      fingerprint: this.fingerprint,
      actorType: this.actorType,
      state: this.state,
      groups: [...this.groups],
      addresses: this.addressKeys(),
      counters: this.countersView(),
    };
  }

  /** Every routing key that reaches this application right now. */
  addressKeys(): string[] {
    const keys = [...ownKeys(this.identity), ...roundRobinKeys(this.identity)];
    for (const group of this.groups) keys.push(addresses.group(this.identity.name, group), addresses.groupRoundRobin(this.identity.name, group));
    return keys;
  }

  /**
   * Joins a group: binds `{name}#{group}` to the own queue and starts consuming the group's
   * round-robin queue `{name}#{group}/rr`. Kept across reconnects and in-place restarts.
   */
  async joinGroup(group: string): Promise<void> {
    checkGroup(group);
    if (this.groups.includes(group)) return;
    const consumer = this.currentConsumer;
    if (consumer) for (const [queue, key] of this.groupBindings(group)) await consumer.bind(this.exchange, queue, key);
    this.sendToMachine({ type: "join_group", group });
    this.announce();
  }

  /** Leaves a group: unbinds its fan-out key and stops consuming its round-robin queue. */
  async leaveGroup(group: string): Promise<void> {
    if (!this.groups.includes(group)) return;
    this.sendToMachine({ type: "leave_group", group });
    const consumer = this.currentConsumer;
    if (consumer) for (const [queue, key] of this.groupBindings(group)) await consumer.unbind(this.exchange, queue.name, key);
    this.announce();
  }

  protected override initialGroups(): string[] {
    return [...((this.options as GenericApplicationOptions).groups ?? [])];
  }

  protected override baseBindings(): ExchangeQueueKeys {
    const own = ownQueue(this.identity);
    const queues: Array<QueueKeys[number]> = ownKeys(this.identity).map((key) => [own, key] as const);
    for (const key of roundRobinKeys(this.identity)) queues.push([sharedQueue(key, this.expiresMs), key]);
    for (const group of this.groups) queues.push(...this.groupBindings(group));
    return [[this.exchange, queues], ...super.baseBindings()];
  }

  /** A group's fan-out key on the own queue, and its round-robin queue. */
  private groupBindings(group: string): Array<[QueueOptions, string]> {
    const roundRobin = addresses.groupRoundRobin(this.identity.name, group);
    return [
      [ownQueue(this.identity), addresses.group(this.identity.name, group)],
      [sharedQueue(roundRobin, this.expiresMs), roundRobin],
    ];
  }
}

function groupParameter(parameters: unknown): string {
  const group = typeof parameters === "object" && parameters !== null ? (parameters as { group_name?: unknown }).group_name : undefined;
  return checkGroup(group);
}
