import type { ExchangeDefinition } from "@postage/core";
import type { BrokerDriver } from "./driver/BrokerDriver.js";
import { TransportError } from "./errors.js";

/** Something a {@link Broker} closes for its owner: producers' publishers, RPC clients, consumers. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * The kinds of resources a broker closes, in this order: publishers first (nothing new goes out),
 * then RPC clients (pending calls end), then consumers (in-flight handlers drain), then the
 * connection. RabbitMQ's connection close hangs while any channel is open, hence the order.
 */
export type ResourceKind = "publisher" | "rpc" | "consumer";

const CLOSE_ORDER: readonly ResourceKind[] = ["publisher", "rpc", "consumer"];

/** Writes one debug line (messages sent and received when debug mode is on). */
export type DebugLogger = (line: string) => void;

/**
 * One connection to a broker, shared by everyone in the process who connected to the same URL.
 * Reference-counted: the connection closes when its last {@link Broker} closes.
 * @internal
 */
export class SharedConnection {
  refs = 0;
  private readonly exchanges = new Map<string, Promise<void>>();
  /** Exchanges whose declaration succeeded: publishes to them need not wait for anything. */
  private readonly declared = new Set<string>();

  constructor(
    readonly driver: BrokerDriver,
    private readonly onIdle: () => void,
  ) {}

  /** Declares an exchange once per connection; a failed declaration is forgotten so the next call retries. */
  declareExchange(exchange: ExchangeDefinition): Promise<void> {
    // The default exchange always exists and cannot be declared.
    if (exchange.name === "") return Promise.resolve();
    let declared = this.exchanges.get(exchange.name);
    if (declared === undefined) {
      declared = this.driver.declareExchange(exchange);
      this.exchanges.set(exchange.name, declared);
      declared.then(() => this.declared.add(exchange.name), () => {
        // The caller sees the rejection; here we only make the next attempt declare again.
        if (this.exchanges.get(exchange.name) === declared) this.exchanges.delete(exchange.name);
      });
    }
    return declared;
  }

  /** Whether `name` was declared successfully on this connection (and not forgotten since). */
  isDeclared(name: string): boolean {
    return name === "" || this.declared.has(name);
  }

  /** Forgets that an exchange was declared (after a publish to it failed: it may have been deleted). */
  forgetExchange(name: string): void {
    this.exchanges.delete(name);
    this.declared.delete(name);
  }

  async release(): Promise<void> {
    this.refs -= 1;
    if (this.refs > 0) return;
    this.onIdle();
    await this.driver.close();
  }
}

/**
 * A handle on a broker connection, returned by {@link connect}. Producers, consumers and RPC
 * clients created on it are closed with it, in a safe order. Several brokers connected to the same
 * URL share one connection (one TCP connection per process and URL); the connection closes when
 * the last of them closes.
 *
 * Reconnection is the driver's business: while the connection is down, publishes wait or fail
 * with a {@link TransportError} and consumers resume (re-declaring their queues and bindings) once
 * it is back.
 */
export class Broker {
  /** The broker's address without its password, for logs and errors. */
  readonly url: string;
  /** Whether messages sent and received are logged (see {@link ConnectOptions.debug}). */
  readonly debug: boolean;
  private readonly logger: DebugLogger;
  private readonly resources = new Map<ResourceKind, Set<Closable>>(CLOSE_ORDER.map((kind) => [kind, new Set<Closable>()]));
  private closing: Promise<void> | undefined;

  /** @internal Use {@link connect}. */
  constructor(
    private readonly shared: SharedConnection,
    options: { debug: boolean; logger: DebugLogger },
  ) {
    this.url = shared.driver.displayUrl;
    this.debug = options.debug;
    this.logger = options.logger;
    shared.refs += 1;
  }

  /** The driver underneath (raw bytes and AMQP properties); for building new transport pieces. */
  get driver(): BrokerDriver {
    return this.shared.driver;
  }

  /** Whether the connection is up now (false while the driver reconnects, and once closed). */
  get connected(): boolean {
    return this.closing === undefined && this.shared.driver.connected;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Resolves once connected. Rejects with a {@link TransportError} when the broker refuses the
   * login or cannot be reached within `timeout` ms. Without a `timeout`, a single broker that
   * refuses the connection fails at once (`CONNECTION_REFUSED`); with one, it is tried again until
   * the timeout, which is what a program started together with its broker wants.
   */
  ready(options?: { timeout?: number }): Promise<void> {
    return this.shared.driver.ready(options);
  }

  /**
   * Declares an exchange, once per connection (later calls share the first declaration).
   * Rejects when the exchange is passive and missing, or exists with other settings.
   */
  declareExchange(exchange: ExchangeDefinition): Promise<void> {
    this.assertOpen();
    return this.shared.declareExchange(exchange);
  }

  /** @internal Whether `name` is known to be declared on this connection (publishes then skip {@link declareExchange}). */
  isExchangeDeclared(name: string): boolean {
    return this.shared.isDeclared(name);
  }

  /** @internal Makes the next {@link declareExchange} of `name` declare again. */
  forgetExchange(name: string): void {
    this.shared.forgetExchange(name);
  }

  /**
   * Registers a resource to close with this broker (in the order of {@link ResourceKind}).
   * Returns a function that unregisters it (call it when the resource closes on its own).
   */
  own(kind: ResourceKind, resource: Closable): () => void {
    this.assertOpen();
    const set = this.resources.get(kind);
    set?.add(resource);
    return () => {
      set?.delete(resource);
    };
  }

  /** Logs a debug line when debug mode is on. */
  log(line: string | (() => string)): void {
    if (!this.debug) return;
    this.logger(typeof line === "string" ? line : line());
  }

  /** @throws {TransportError} `CLOSED` once the broker is closed. */
  assertOpen(): void {
    if (this.closing !== undefined) throw new TransportError("CLOSED", `the broker handle for ${this.url} is closed`);
  }

  /**
   * Closes every publisher, then every RPC client (pending calls reject with `CLOSED`), then every
   * consumer (in-flight handlers finish first), then releases the connection (closed when no other
   * broker shares it). Idempotent; the first error met is rethrown after everything was closed.
   */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const kind of CLOSE_ORDER) {
      const set = this.resources.get(kind);
      if (set === undefined) continue;
      const items = [...set];
      set.clear();
      const results = await Promise.allSettled(items.map((item) => item.close()));
      for (const result of results) if (result.status === "rejected") errors.push(result.reason);
    }
    try {
      await this.shared.release();
    } catch (error) {
      errors.push(error);
    }
    if (errors.length > 0) throw errors[0];
  }
}
