import { hostname } from "node:os";
import type { ExchangeDefinition } from "@postage/core";
import { type Channel, Connection, type ConnectionOptions as ClientOptions } from "rabbitmq-client";
import type { AmqpSettings } from "../config/connectionSettings.js";
import type {
  BindingSpec,
  BrokerDriver,
  DeliveryHandler,
  Delivery,
  DriverConsumer,
  DriverConsumerOptions,
  DriverPublisher,
  DriverReplyChannel,
  ReplyChannelEvents,
  ReplyChannelOptions,
  QueueSpec,
} from "../driver/BrokerDriver.js";
import { type ErrorContext, TransportError, toTransportError } from "../errors.js";
import { exchangeDeclareParams, RabbitConsumer } from "./RabbitConsumer.js";
import type { RabbitContext } from "./RabbitContext.js";
import { type ConnectionPatches, type PatchStatus, patchConnection } from "./clientPatches.js";
import { hidePassword } from "./hidePassword.js";
import { RabbitPublisher } from "./RabbitPublisher.js";
import { RabbitReplyChannel } from "./RabbitReplyChannel.js";
import { ConnectionPool } from "./ConnectionPool.js";
import { browseRabbitQueue } from "./browseQueue.js";
import type { BrowseOptions, BrowseResult, BrowseVisitor } from "../driver/QueueBrowser.js";

/** Tuning and hooks of a {@link RabbitDriver}. */
export interface RabbitDriverOptions {
  /** Receives debug lines (messages sent and received) when `settings.debug` is on. @default console.debug */
  log?: (line: string) => void;
  /**
   * Receives errors no caller can be told about: the connection lost (it is re-established in the
   * background), a consumer's setup failing after a reconnect, a handler that threw, a return
   * nobody awaited. @default console.warn of the message
   */
  onError?: (error: TransportError) => void;
  /** Shortest wait before reconnecting, in ms. @default 250 */
  retryLow?: number;
  /** Longest wait between reconnect attempts, in ms: the worst-case delay after the broker is back. @default 3000 */
  retryHigh?: number;
  /** Time allowed to open the TCP (and TLS) connection and log in, in ms. @default 5000 */
  connectionTimeout?: number;
  /** How long an operation waits for the connection to come back before failing with `TIMEOUT`, in ms. @default 20000 */
  acquireTimeout?: number;
  /** Attempts per publish when the connection drops before the broker confirmed. @default 10 */
  maxPublishAttempts?: number;
  /**
   * Long-lived channels (consumers, publishers, reply channels) per connection. When every
   * connection carries this many, the driver opens another one with the same settings, so a
   * process can run more consumers than RabbitMQ's per-connection `channel_max` (2,047 by
   * default) allows. The room left is for short-lived declaration channels. @default 1000
   */
  channelsPerConnection?: number;
  /**
   * Deadline of one publish, retries included, in ms. A publish made while the broker is
   * unreachable waits for the connection to come back and is retried; past the deadline it
   * rejects with `TIMEOUT` instead of waiting any longer. `0` disables the deadline (the
   * acquire timeout still bounds each attempt). @default 30000
   */
  publishTimeout?: number;
}

const DEFAULT_READY_TIMEOUT_MS = 10_000;

/** Errors that mean the broker will not accept this connection as configured: no point retrying. */
const LOGIN_FAILURES = new Set(["ACCESS_REFUSED", "VHOST_NOT_FOUND", "TLS"]);

/**
 * The RabbitMQ {@link BrokerDriver}, on one rabbitmq-client `Connection` (more once it carries
 * `channelsPerConnection` long-lived channels; Nagle off, writes coalesced per turn, heartbeats,
 * reconnect backoff of 0.25–3 s). Publishers, consumers and reply channels recover on their own
 * after a reconnect; consumers re-declare their queue and every binding, including those added at
 * run time.
 *
 * @example
 * const settings = resolveConnectionSettings();
 * if (settings.transport === "amqp") {
 *   const driver = new RabbitDriver(settings);
 *   await driver.ready(); // rejects with ACCESS_REFUSED, CONNECTION_REFUSED, ...
 * }
 */
export class RabbitDriver implements BrokerDriver {
  readonly displayUrl: string;
  private readonly settings: AmqpSettings;
  private readonly connection: Connection;
  private readonly context: RabbitContext;
  private readonly pool: ConnectionPool;
  private readonly publishers = new Set<DriverPublisher>();
  private readonly replyChannels = new Set<DriverReplyChannel>();
  private readonly consumers = new Set<DriverConsumer>();
  private readonly patches: ConnectionPatches | undefined;
  /** The patches of every connection, the driver's own first. */
  private readonly allPatches: ConnectionPatches[] = [];
  private everConnected = false;
  /** `performance.now()` at the last "connection" event after the first (see {@link reconnectedAt}). */
  private lastReconnect: number | undefined;
  /** The patches were verified on the current connection (see {@link verifyPatches}). */
  private verified = false;
  /** The first error before the first connection; {@link ready} reports it. */
  private firstFailure: TransportError | undefined;
  /** Set when {@link ready} gave up: every later call fails with it. */
  private failed: TransportError | undefined;
  /** `patient`: the caller gave a timeout, so a refused connection is retried until it (a broker may be booting). */
  private readyWaiters = new Set<{ patient: boolean; onConnect: () => void; onFailure: (error: TransportError) => void }>();
  private closing: Promise<void> | undefined;
  private connectionClosing: Promise<void> | undefined;

  constructor(settings: AmqpSettings, options: RabbitDriverOptions = {}) {
    // A copy whose password util.inspect / JSON.stringify do not show (see hidePassword).
    this.settings = hidePassword({ ...settings });
    this.displayUrl = settings.displayUrl;
    const log = options.log ?? ((line: string) => console.debug(`[postage] ${line}`));
    const onError = options.onError ?? ((error: TransportError) => console.warn(`[postage] ${error.message}`));

    const [first] = settings.hosts;
    const clientOptions: ClientOptions = {
      username: settings.user,
      password: settings.password,
      vhost: settings.vhost,
      heartbeat: settings.heartbeat,
      // With Nagle on, each RPC round trip costs ~40 ms (delayed ACK interplay).
      noDelay: true,
      retryLow: options.retryLow ?? 250,
      retryHigh: options.retryHigh ?? 3_000,
      connectionTimeout: options.connectionTimeout ?? 5_000,
      acquireTimeout: options.acquireTimeout ?? 20_000,
      connectionName: settings.connectionName ?? `postage-ts pid ${process.pid} on ${hostname()}`,
      ...(settings.tls ? { tls: { ...settings.tls } } : {}),
      ...(settings.hosts.length > 1
        ? { hosts: settings.hosts.map((h) => `${h.host}:${h.port}`) }
        : { hostname: first?.host ?? "localhost", port: first?.port ?? 5672 }),
    };
    this.connection = new Connection(clientOptions);
    let unpatchable: TransportError | undefined;
    try {
      this.patches = patchConnection(this.connection);
      this.allPatches.push(this.patches);
    } catch (err) {
      unpatchable = toTransportError(err);
    }

    this.context = {
      connection: this.connection,
      toError: (err, context) => this.toError(err, context),
      debug: settings.debug,
      log,
      report: onError,
      // Several drops in a row (a cluster failing over) must not exhaust a publish's attempts: the deadline is the real bound.
      maxPublishAttempts: options.maxPublishAttempts ?? 10,
      publishTimeout: options.publishTimeout ?? 30_000,
      withChannel: (context, fn) => this.withChannel(context, fn),
    };
    this.pool = new ConnectionPool(this.context, options.channelsPerConnection ?? 1_000, () => {
      const connection = new Connection(clientOptions);
      let patches: ConnectionPatches;
      try {
        patches = patchConnection(connection);
      } catch (err) {
        // Not used: the consumer or publisher asking for it fails instead of running unpatched.
        connection.close().catch((closeError: unknown) => onError(toTransportError(closeError)));
        throw toTransportError(err);
      }
      this.allPatches.push(patches);
      connection.on("connection", () => void this.verifyPatches(patches));
      // Reconnects on its own like the first one; its errors have nobody to reject, only to report.
      connection.on("error", (err: unknown) => onError(this.toError(err, { operation: "connecting (extra connection)" })));
      return { ...this.context, connection, withChannel: (context, fn) => this.withChannel(context, fn, connection) };
    });

    // An unhandled "error" event would crash the process.
    this.connection.on("error", (err: unknown) => this.onConnectionError(err));
    this.connection.on("connection", () => this.onConnection());
    // Fail closed: a client whose internals are not the ones the patches know is never used.
    if (unpatchable !== undefined) onError(this.fail(unpatchable));
  }

  /** When the connection last came back (its "connection" event after the first). */
  get reconnectedAt(): number | undefined {
    return this.lastReconnect;
  }

  /**
   * Whether the driver's own connection is up (rabbitmq-client's `ready`, and its socket still
   * writable); false while it reconnects, and from the moment the socket dies.
   */
  get connected(): boolean {
    return this.connection.ready && this.patches?.socketOpen() === true;
  }

  ready(options: { timeout?: number } = {}): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closing) return Promise.reject(this.closedError());
    if (this.connection.ready && this.verified) return Promise.resolve();
    const patient = options.timeout !== undefined;
    const first = this.firstFailure;
    if (first && this.givesUp(first, patient)) {
      // Others still waiting with a timeout keep the driver trying; only this caller is told.
      const othersWait = [...this.readyWaiters].some((waiter) => !this.givesUp(first, waiter.patient));
      return Promise.reject(othersWait ? first : this.fail(first));
    }
    const timeout = options.timeout ?? DEFAULT_READY_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        patient,
        onConnect: () => {
          clearTimeout(timer);
          this.readyWaiters.delete(waiter);
          resolve();
        },
        onFailure: (error: TransportError) => {
          clearTimeout(timer);
          this.readyWaiters.delete(waiter);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(waiter);
        const last = this.firstFailure ? ` (first error: ${this.firstFailure.message})` : "";
        const error = new TransportError("TIMEOUT", `could not connect to RabbitMQ at ${this.hostList()} within ${timeout} ms${last}`, {
          cause: this.firstFailure,
          ...this.firstHost(),
        });
        reject(this.everConnected ? error : this.fail(error));
      }, timeout);
      this.readyWaiters.add(waiter);
    });
  }

  /** The error the driver gave up with (it does not reconnect any more), if it did. */
  get failure(): TransportError | undefined {
    return this.failed;
  }

  /** @internal What each connection's rabbitmq-client patches look like (see `clientPatches.ts`); for tests. */
  patchStatus(): PatchStatus[] {
    return this.allPatches.map((patches) => patches.status());
  }

  async declareExchange(exchange: ExchangeDefinition): Promise<void> {
    // The default exchange exists and cannot be declared.
    if (exchange.name === "") return;
    const verb = exchange.passive ? "checking" : "declaring";
    await this.withChannel({ exchange: exchange.name, operation: `${verb} exchange "${exchange.name}"` }, (ch) => ch.exchangeDeclare(exchangeDeclareParams(exchange)));
  }

  async deleteExchange(name: string): Promise<void> {
    await this.withChannel({ exchange: name, operation: `deleting exchange "${name}"` }, (ch) => ch.exchangeDelete({ exchange: name }));
  }

  async declareQueue(queue: QueueSpec): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    const verb = queue.passive ? "checking" : "declaring";
    return this.onQueueConnection({ queue: queue.name, operation: `${verb} queue "${queue.name || "(server-named)"}"` }, async (ch) => {
      const ok = await ch.queueDeclare({
        queue: queue.name,
        durable: queue.durable ?? false,
        exclusive: queue.exclusive ?? false,
        autoDelete: queue.autoDelete ?? false,
        passive: queue.passive ?? false,
        ...(queue.arguments ? { arguments: { ...queue.arguments } } : {}),
      });
      return { queue: ok.queue, messageCount: ok.messageCount, consumerCount: ok.consumerCount };
    });
  }

  async deleteQueue(name: string): Promise<void> {
    await this.onQueueConnection({ queue: name, operation: `deleting queue "${name}"` }, (ch) => ch.queueDelete({ queue: name }));
  }

  async bindQueue(binding: BindingSpec): Promise<void> {
    await this.onQueueConnection(
      { ...binding, operation: `binding queue "${binding.queue}" to exchange "${binding.exchange}" with key "${binding.routingKey}"` },
      (ch) => ch.queueBind({ ...binding }),
    );
  }

  async unbindQueue(binding: BindingSpec): Promise<void> {
    await this.onQueueConnection(
      { ...binding, operation: `unbinding queue "${binding.queue}" from exchange "${binding.exchange}" with key "${binding.routingKey}"` },
      (ch) => ch.queueUnbind({ ...binding }),
    );
  }

  browseQueue(queue: string, visit: BrowseVisitor, options?: BrowseOptions): Promise<BrowseResult> {
    return browseRabbitQueue(this.context, queue, visit, options);
  }

  createPublisher(options: { confirm: boolean }): DriverPublisher {
    this.assertUsable();
    const place = this.pool.place();
    const publisher: DriverPublisher = new RabbitPublisher(place.context, options.confirm, () => {
      this.publishers.delete(publisher);
      place.release();
    });
    this.publishers.add(publisher);
    return publisher;
  }

  createConsumer(options: DriverConsumerOptions, handler: DeliveryHandler): DriverConsumer {
    this.assertUsable();
    const place = this.pool.place();
    const consumer: DriverConsumer = new RabbitConsumer(place.context, options, handler, () => {
      this.consumers.delete(consumer);
      place.release();
    });
    this.consumers.add(consumer);
    return consumer;
  }

  async createReplyChannel(onReply: (delivery: Delivery) => void, events?: ReplyChannelEvents, options?: ReplyChannelOptions): Promise<DriverReplyChannel> {
    this.assertUsable();
    const place = this.pool.place();
    const channel: RabbitReplyChannel = new RabbitReplyChannel(
      place.context,
      onReply,
      () => {
        this.replyChannels.delete(channel);
        place.release();
      },
      events,
      options,
    );
    this.replyChannels.add(channel);
    try {
      await channel.open();
    } catch (err) {
      await channel.close();
      throw err;
    }
    return channel;
  }

  /**
   * Closes publishers, then reply channels, then consumers (their running handlers finish), then the
   * connection: rabbitmq-client's connection close waits for every channel. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    for (const waiter of [...this.readyWaiters]) waiter.onFailure(this.closedError());
    // Started first (awaited last): while (re)connecting it makes pending channel requests fail at
    // once instead of after the acquire timeout, so the resources below close promptly; when
    // connected it only refuses new channels and waits for the ones below to close.
    const connectionClosed = this.closeConnection();
    const errors: unknown[] = [];
    for (const group of [this.publishers, this.replyChannels, this.consumers]) {
      const results = await Promise.allSettled([...group].map((resource) => resource.close()));
      for (const result of results) if (result.status === "rejected") errors.push(result.reason);
      group.clear();
    }
    await connectionClosed;
    if (errors.length > 0) throw toTransportError(errors[0], { operation: "closing" });
  }

  /**
   * A queue operation on the connection RabbitMQ allows it on: the driver's own, or, for an
   * exclusive queue declared by a consumer on another connection of the pool (refused with
   * `RESOURCE_LOCKED` anywhere else), that one. Each connection is tried in turn; a queue locked
   * by every one of them (exclusive to another process) fails with the first refusal.
   */
  private async onQueueConnection<T>(context: ErrorContext, fn: (channel: Channel) => Promise<T>): Promise<T> {
    let refusal: TransportError | undefined;
    for (const connection of this.pool.connections) {
      try {
        return await this.withChannel(context, fn, connection);
      } catch (error) {
        if (!(error instanceof TransportError) || error.code !== "RESOURCE_LOCKED") throw error;
        refusal ??= error;
      }
    }
    throw refusal as TransportError; // the pool holds at least the driver's own connection
  }

  private toError(err: unknown, context: ErrorContext = {}): TransportError {
    return toTransportError(err, { hosts: this.settings.hosts, user: this.settings.user, vhost: this.settings.vhost, ...context });
  }

  private async withChannel<T>(context: ErrorContext, fn: (channel: Channel) => Promise<T>, connection: Connection = this.connection): Promise<T> {
    this.assertUsable();
    let channel: Channel | undefined;
    try {
      channel = await connection.acquire();
      return await fn(channel);
    } catch (err) {
      throw this.toError(err, context);
    } finally {
      // Closing a channel the broker already closed (after a declare error) is a no-op.
      await channel?.close();
    }
  }

  /** Checks on a live connection that every patch took; fails the driver if one did not. */
  private verifyPatches(patches: ConnectionPatches | undefined): Promise<boolean> {
    if (patches === undefined) return Promise.resolve(false);
    return patches.verify().then(
      () => true,
      (err: unknown) => {
        const failure = this.fail(toTransportError(err));
        this.context.report(failure);
        for (const waiter of [...this.readyWaiters]) waiter.onFailure(failure);
        return false;
      },
    );
  }

  private onConnection(): void {
    this.verified = false;
    // Set here, not once verified: channels may already be opened and used on the new connection.
    if (this.everConnected) this.lastReconnect = performance.now();
    this.verifyPatches(this.patches)
      .then((ok) => {
        if (ok && !this.closing && !this.failed) this.onVerifiedConnection();
      })
      .catch((err: unknown) => this.context.report(toTransportError(err)));
  }

  private onVerifiedConnection(): void {
    this.verified = true;
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.firstFailure = undefined;
    if (reconnected && this.settings.debug) this.context.log(`reconnected to ${this.displayUrl}`);
    for (const waiter of [...this.readyWaiters]) waiter.onConnect();
  }

  private onConnectionError(err: unknown): void {
    const mapped = this.toError(err, { operation: "connecting" });
    if (this.everConnected) {
      this.context.report(mapped);
      return;
    }
    this.firstFailure ??= mapped;
    if (this.readyWaiters.size === 0) return;
    const waiters = [...this.readyWaiters];
    if (waiters.every((waiter) => this.givesUp(mapped, waiter.patient))) {
      const failure = this.fail(mapped);
      for (const waiter of waiters) waiter.onFailure(failure);
      return;
    }
    // Someone gave a timeout: keep trying for them; whoever did not is told at once.
    for (const waiter of waiters) if (this.givesUp(mapped, waiter.patient)) waiter.onFailure(mapped);
  }

  /**
   * Whether a failure before the first connection ends a {@link ready} call: always for a refused
   * login (retrying will not fix it); for any other failure only when there is a single host and
   * the caller gave no timeout. A cluster, or a caller who gave a timeout (a broker that is still
   * booting refuses connections for a while), gets until the timeout.
   */
  private givesUp(error: TransportError, patient: boolean): boolean {
    return LOGIN_FAILURES.has(error.code) || (this.settings.hosts.length === 1 && !patient);
  }

  /** Stops reconnecting for good: {@link ready} could not connect. */
  private fail(error: TransportError): TransportError {
    if (this.failed) return this.failed;
    this.failed = error;
    // rabbitmq-client would retry forever in the background.
    this.closeConnection().catch((closeError: unknown) => this.context.report(toTransportError(closeError)));
    return error;
  }

  /**
   * Closes the rabbitmq-client connections (the driver's and the pool's extra ones) once. Calling `close()` a second time can hang
   * forever: closed between two reconnect attempts, it stays CLOSING (its socket is already gone,
   * so the "close" event it then waits for never comes).
   */
  private closeConnection(): Promise<void> {
    this.connectionClosing ??= Promise.all(this.pool.connections.map((connection) => connection.close())).then(() => undefined);
    return this.connectionClosing;
  }

  private assertUsable(): void {
    if (this.failed) throw this.failed;
    if (this.closing) throw this.closedError();
  }

  private closedError(): TransportError {
    return new TransportError("CLOSED", `the connection to ${this.displayUrl} is closed`);
  }

  private hostList(): string {
    return this.settings.hosts.map((h) => `${h.host}:${h.port}`).join(", ");
  }

  private firstHost(): { host?: string; port?: number } {
    const first = this.settings.hosts[0];
    return first ? { host: first.host, port: first.port } : {};
  }
}
