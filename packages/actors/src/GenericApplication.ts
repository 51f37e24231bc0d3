import { defineExchange, type ExchangeDefinition, Fingerprint, SuccessResult } from "@postage/core";
import type { Consumer, ExchangeQueueKeys, QueueKeys, QueueOptions } from "@postage/transport";
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
  override readonly actorType: string = "application";
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
    // The handlers only ask: the machine binds in `running.joining` / `running.leaving` while the
    // actor goes on handling (waiting here could wait for this very delivery to be settled).
    this.handle(messageHandler<this>("command", "join_group", (content, { processor }) => processor.sendToMachine({ type: "join_group", group: groupParameter(content.parameters) })));
    this.handle(messageHandler<this>("command", "leave_group", (content, { processor }) => processor.sendToMachine({ type: "leave_group", group: groupParameter(content.parameters) })));
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
   * round-robin queue `{name}#{group}/rr` (state `running.joining`). Kept across reconnects and
   * in-place restarts. Resolves once the group's bindings are in place (asked while not running,
   * once the actor runs again). Do not await it from a handler: the handler would wait for itself.
   * @throws {ActorError} `INVALID_GROUP` for a malformed name; `ACTOR_STOPPED` if the actor stops first.
   */
  async joinGroup(group: string): Promise<void> {
    checkGroup(group);
    this.sendToMachine({ type: "join_group", group });
    await this.whenGroupsSettled();
  }

  /**
   * Leaves a group: unbinds its fan-out key from the own queue and stops consuming its round-robin
   * queue, whose binding stays for the other members (state `running.leaving`).
   */
  async leaveGroup(group: string): Promise<void> {
    this.sendToMachine({ type: "leave_group", group });
    await this.whenGroupsSettled();
  }

  protected override async bindGroup(group: string): Promise<void> {
    const consumer = this.requireConsumer();
    for (const [queue, key] of this.groupBindings(group)) await consumer.bind(this.exchange, queue, key);
  }

  protected override async unbindGroup(group: string): Promise<void> {
    const consumer = this.requireConsumer();
    const [[own, fanOut], [roundRobin]] = this.groupBindings(group) as [[QueueOptions, string], [QueueOptions, string]];
    await consumer.unbind(this.exchange, own.name, fanOut);
    // Only this member stops consuming: unbinding the shared queue would cut the group off for all.
    await consumer.removeQueue(roundRobin.name);
  }

  /** The own queue outlives in-place restarts (nothing queued for this instance is lost): delete it once the application stops for good. */
  protected override async release(): Promise<void> {
    await this.broker.driver.deleteQueue(ownQueue(this.identity).name);
  }

  private requireConsumer(): Consumer {
    const consumer = this.currentConsumer;
    if (consumer === undefined) throw new ActorError("NOT_RUNNING", `application ${this.id} has no consumer`);
    return consumer;
  }

  /** Resolves once no group change is pending; rejects if the actor stopped first. */
  private async whenGroupsSettled(): Promise<void> {
    if (this.getSnapshot().context.groupChanges.length === 0) return;
    await new Promise<void>((resolve, reject) => {
      const subscription = this.subscribe((snapshot) => {
        if (snapshot.context.groupChanges.length === 0) {
          subscription.unsubscribe();
          resolve();
        } else if (snapshot.status !== "active") {
          subscription.unsubscribe();
          reject(new ActorError("ACTOR_STOPPED", `application ${this.id} stopped before its group changes were applied`));
        }
      });
    });
  }

  protected override initialGroups(): string[] {
    return [...((this.options as GenericApplicationOptions).groups ?? [])];
  }

  protected override baseBindings(groups: readonly string[]): ExchangeQueueKeys {
    const own = ownQueue(this.identity);
    const queues: Array<QueueKeys[number]> = ownKeys(this.identity).map((key) => [own, key] as const);
    for (const key of roundRobinKeys(this.identity)) queues.push([sharedQueue(key, this.expiresMs), key]);
    for (const group of groups) queues.push(...this.groupBindings(group));
    return [[this.exchange, queues], ...super.baseBindings(groups)];
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
