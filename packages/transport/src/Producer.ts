import {
  CommandMessage,
  Fingerprint,
  GenericMessage,
  jsonEncoder,
  RpcCommandMessage,
  type Encoder,
  type FingerprintDict,
  type Message,
  type MessageBody,
  type ResultMessage,
} from "@postage/core";
import { nanoid } from "nanoid";
import type { Broker, Closable } from "./Broker.js";
import type { DriverPublisher, MessageProperties } from "./driver/BrokerDriver.js";
import { TransportError } from "./errors.js";
import { publishRoutes } from "./publishRoutes.js";
import { resolveRouting, type ExchangeKeys, type Routing } from "./routing.js";
import { gatherReplies, type GatherOptions } from "./gather.js";
import type { TransportObserver } from "./telemetry/TransportObserver.js";
import { DEFAULT_RPC_OPTIONS, RpcClient, type PendingReply, type RpcOptions, type RpcRequest, type RpcStats } from "./RpcClient.js";

/** Builds a message from typed arguments (Python Postage's `build_message_<name>` / `build_rpc_<name>`). */
export type MessageBuilder = (...args: never[]) => Message;

/** Builders by name. */
export type MessageBuilders = Record<string, MessageBuilder>;

/**
 * Senders by name: a builder's name takes the builder's arguments; any other name sends a plain
 * command (`CommandMessage(name, parameters)`) and takes `(parameters?: unknown)`. Under
 * `noUncheckedIndexedAccess`, unknown names are typed as possibly undefined: use
 * `producer.command(name, ...)` / `producer.call(name, ...)` for names known only at run time.
 */
export type SendProxy<M extends MessageBuilders, Result> = {
  readonly [K in keyof M | (string & {})]: K extends keyof M
    ? (...args: Parameters<M[K]>) => Promise<Result>
    : (parameters?: unknown) => Promise<Result>;
};

/** Per-send options, given through {@link ProducerApi.to} (or as the last argument of the generic senders). */
export interface SendOptions extends Routing, RpcOptions {
  /**
   * Persistent (delivery mode 2).
   * @default the producer's `persistent`: true for commands and events, false for RPC requests
   */
  persistent?: boolean;
  /** Fail the publish when no queue gets the message. @default the producer's `mandatory` (true) */
  mandatory?: boolean;
  /** AMQP headers to add. */
  headers?: Record<string, unknown>;
}

/** What a producer sends, bound to a routing (the default one, or the one given to {@link to}). */
export interface ProducerApi<M extends MessageBuilders = {}, R extends MessageBuilders = {}> {
  /**
   * Fire-and-forget senders: `message.<name>(...)` sends the builder's message (or
   * `CommandMessage(name, parameters)`) and resolves once the broker confirmed it.
   * @throws {TransportError} when the exchange is missing, the message is unroutable (mandatory), or the broker refuses it.
   */
  readonly message: SendProxy<M, void>;
  /**
   * RPC senders: `rpc.<name>(...)` sends the RPC form and resolves to the reply. A call that gets no
   * reply resolves to `ExceptionResult("TimeoutError", ...)` after `timeout` ms times `1 + retries`
   * attempts: it never hangs and never throws for a timeout.
   * @throws {TransportError} when the request cannot be published, or the producer closes meanwhile.
   */
  readonly rpc: SendProxy<R, ResultMessage>;
  /** RPC senders that resolve once the request is published, to a handle whose `reply()` waits for the reply. */
  readonly rpcQueued: SendProxy<R, PendingReply>;
  /** Sends `CommandMessage(name, parameters)`. */
  command(name: string, parameters?: unknown): Promise<void>;
  /** Calls `name` with `RpcCommandMessage(name, parameters)` and resolves to the reply. */
  call(name: string, parameters?: unknown): Promise<ResultMessage>;
  /**
   * Fan-out RPC: sends `RpcCommandMessage(name, parameters)` once and collects every reply that
   * arrives until `timeout` ms (or `limit` replies), in arrival order. Meant for addresses many
   * components listen to (a GenericApplication's `{name}` or `@*`): each answers once. Replies go to
   * a private server-named queue made for this call, so any server (Python Postage too) can answer.
   * No reply is an empty array; the request is not retried.
   * @throws {TransportError} when the request cannot be published (missing exchange; `UNROUTABLE`
   * when nobody listens at that address and `mandatory` is on).
   * @example
   * const pongs = await producer.to({ key: "monitor" }).gather("ping", {}, { timeout: 1_000 });
   */
  gather(name: string, parameters?: unknown, options?: GatherOptions): Promise<ResultMessage[]>;
  /** Sends any message (stamped with the producer's fingerprint). */
  send(message: Message, options?: SendOptions): Promise<void>;
  /** Sends any message as an RPC request (category set to `rpc`) and resolves to the reply. */
  request(message: Message, options?: SendOptions): Promise<ResultMessage>;
  /** As {@link request}, resolving once published to a {@link PendingReply}. */
  requestQueued(message: Message, options?: SendOptions): Promise<PendingReply>;
  /** Sends a `GenericMessage(args, kwds)` (Python's `producer.message(*args, **kwds)`). */
  generic(args?: unknown[], kwds?: Record<string, unknown>, options?: SendOptions): Promise<void>;
  /** Publishes a body as it is (no stamping): to relay a received message. */
  forward(body: MessageBody | Uint8Array, options?: SendOptions): Promise<void>;
  /**
   * The same API bound to other routing and/or RPC options; options accumulate over chained calls.
   * @example
   * await producer.to({ key: "echo-fanout-rk" }).message.echo("hello");
   * const reply = await producer.to({ timeout: 2_000, retries: 0 }).rpc.echo("hi");
   */
  to(options: SendOptions): ProducerApi<M, R>;
}

/** Counters of a producer. */
export interface ProducerStats {
  /** Messages published (each exchange/key couple counts once; RPC retries count again). */
  sent: number;
  readonly rpc: RpcStats;
}

/** A producer: the {@link ProducerApi} on its default routing, plus its lifecycle. */
export interface Producer<M extends MessageBuilders = {}, R extends MessageBuilders = {}> extends ProducerApi<M, R> {
  /** The fingerprint stamped on every message. */
  readonly fingerprint: FingerprintDict;
  readonly stats: ProducerStats;
  /** Closes the publisher and the RPC client (pending calls reject with `CLOSED`). Idempotent. */
  close(): Promise<void>;
}

/** Builders of plain commands for the names `N`: `(parameters?: unknown) => CommandMessage`. */
export type CommandBuilders<N extends string> = { [K in N]: (parameters?: unknown) => CommandMessage };

/** Options of {@link createProducer}. */
export interface ProducerOptions<M extends MessageBuilders = {}, R extends MessageBuilders = {}, N extends string = never> {
  /** Default exchange/key couples ("eks"); every send goes to each. @default [] (then give routing with `.to()`) */
  exchanges?: ExchangeKeys;
  /**
   * Names of plain commands: each gets `message.<name>(parameters?)`, `rpc.<name>(parameters?)` and
   * `rpcQueued.<name>(parameters?)`, typed (builders of the same name win).
   * @example createProducer(broker, { exchanges: [[echo, "echo-rk"]], commands: ["echo"] }).rpc.echo("hi")
   */
  commands?: readonly N[];
  /** Stamped on every message. @default Fingerprint.collect() */
  fingerprint?: Fingerprint | FingerprintDict;
  /** @default jsonEncoder */
  encoder?: Encoder;
  /** Message builders by name, for `message.<name>` and `rpc.<name>` / `rpcQueued.<name>`. */
  builders?: { message?: M; rpc?: R };
  /**
   * Wait for publisher confirms on commands, events and queue-mode RPC requests: a publish resolves
   * once the broker took the message, and rejects when it refused it (nack), when the exchange is
   * missing, or with `UNROUTABLE` (mandatory) when no queue took it; a publish caught in a
   * connection drop is sent again after the reconnect.
   *
   * `false` is the fast mode: a publish resolves once written. It gives up knowing whether the broker
   * stored the message: a broker-side loss, a nack, or a drop of the connection after the write go
   * unseen, and nothing retries them. Mandatory messages no queue takes are still returned by
   * RabbitMQ; the return is reported as an `UNROUTABLE` {@link TransportError} through the driver's
   * `onError` (the publish has resolved already). So is a publish to an exchange deleted after the
   * producer declared it (the producer does not notice, so does not declare it again). Direct reply-to RPC requests never
   * wait for confirms, whatever this says (see {@link RpcOptions}). The memory broker settles every
   * publish at once either way. Unconfirmed publishes can outrun a consumer's prefetch window: give
   * their consumers a larger `prefetch` (the README's fast mode says how much it buys).
   * @default true
   */
  confirm?: boolean;
  /** Fail publishes nobody receives (a clear `TransportError`). Set false for fire-and-forget. @default true */
  mandatory?: boolean;
  /**
   * Publish persistent (delivery mode 2), so that a durable queue keeps the message across a broker
   * restart. Unset, commands and events are persistent and RPC requests are not, as in Python Postage:
   * a request that outlives a broker restart has no one to answer (the caller's reply queue or
   * direct reply-to channel is gone), and the caller re-sends it after its timeout anyway,
   * while storing it costs the broker of a durable queue 15-40% more CPU per call (measured, see the
   * README's RPC section). Set, it applies to both.
   * @default true for commands and events, false for RPC requests
   */
  persistent?: boolean;
  /** Default RPC options. @default { timeout: 30_000, retries: 4, replyMode: "shared" } */
  rpc?: RpcOptions;
  /** Largest reply accepted, in bytes. @default 1 MiB (core's default) */
  maxReplyBytes?: number;
  /** Told how RPC calls end, for metrics (an actor's producer gets the scheduler's). @default none */
  observer?: TransportObserver;
}

/**
 * Creates a producer (Python Postage's `GenericProducer`): a typed API of messages sent to default
 * exchanges. Every message is stamped with the producer's fingerprint, encoded (JSON by default),
 * given a content type and a fresh `messageId` (reused on RPC retries), and published with publisher
 * confirms (commands and events persistent, RPC requests transient: see
 * {@link ProducerOptions.persistent}); exchanges are declared once, lazily. The producer is closed
 * with the broker.
 *
 * @example
 * const echo = defineExchange({ name: "echo-exchange" });
 * const producer = createProducer(broker, {
 *   exchanges: [[echo, "echo-rk"]],
 *   builders: { message: { online: () => new StatusMessage("online") } },
 * });
 * await producer.message.online();
 * await producer.message.echo("A test message");          // CommandMessage("echo", "A test message")
 * const reply = await producer.rpc.echo("RPC test message"); // SuccessResult | ErrorResult | ExceptionResult
 */
export function createProducer<M extends MessageBuilders = {}, R extends MessageBuilders = {}, N extends string = never>(
  broker: Broker,
  options: ProducerOptions<M, R, N> = {},
): Producer<CommandBuilders<N> & M, CommandBuilders<N> & R> {
  type PM = CommandBuilders<N> & M;
  type PR = CommandBuilders<N> & R;
  broker.assertOpen();
  const encoder = options.encoder ?? jsonEncoder;
  const fingerprintSource = options.fingerprint ?? Fingerprint.collect();
  const fingerprint: FingerprintDict = fingerprintSource instanceof Fingerprint ? fingerprintSource.toDict() : { ...fingerprintSource };
  const defaults: ExchangeKeys = options.exchanges ?? [];
  const messageBuilders: MessageBuilders = options.builders?.message ?? {};
  const rpcBuilders: MessageBuilders = options.builders?.rpc ?? {};
  const confirm = options.confirm ?? true;
  const base: SendOptions = {
    ...DEFAULT_RPC_OPTIONS,
    ...options.rpc,
    ...(options.persistent !== undefined && { persistent: options.persistent }),
    mandatory: options.mandatory ?? true,
  };
  const noCalls: RpcStats = Object.freeze({ calls: 0, replies: 0, retries: 0, resent: 0, timeouts: 0, dropped: 0, invalid: 0 });
  const stats: ProducerStats = {
    sent: 0,
    get rpc() {
      return rpcClient?.stats ?? noCalls;
    },
  };

  let closing: Promise<void> | undefined;
  let publisher: DriverPublisher | undefined;
  let unregisterPublisher: (() => void) | undefined;
  let rpcClient: RpcClient | undefined;
  let unregisterRpc: (() => void) | undefined;

  const assertOpen = (): void => {
    if (closing !== undefined) throw new TransportError("CLOSED", "the producer is closed");
    broker.assertOpen();
  };

  const getPublisher = (): DriverPublisher => {
    if (publisher === undefined) {
      const created = broker.driver.createPublisher({ confirm });
      publisher = created;
      const owned: Closable = { close: () => created.close() };
      unregisterPublisher = broker.own("publisher", owned);
    }
    return publisher;
  };

  const getRpc = (): RpcClient => {
    if (rpcClient === undefined) {
      const client = new RpcClient(broker, getPublisher, { encoder, maxBytes: options.maxReplyBytes }, options.observer, (count) => {
        stats.sent += count;
      });
      rpcClient = client;
      unregisterRpc = broker.own("rpc", client);
    }
    return rpcClient;
  };

  /** `persistent` is the default for this kind of message (commands and events: true; RPC requests: false). */
  const propertiesFor = (sendOptions: SendOptions, messageId: string, persistent: boolean): MessageProperties => {
    const properties: MessageProperties = {
      contentType: encoder.contentType,
      messageId,
      persistent: sendOptions.persistent ?? persistent,
      timestamp: Math.floor(Date.now() / 1000),
    };
    if (sendOptions.headers !== undefined) properties.headers = { ...sendOptions.headers };
    return properties;
  };

  const publishBytes = (body: Uint8Array, sendOptions: SendOptions, describe: () => string): Promise<void> => {
    let routes: ExchangeKeys;
    try {
      assertOpen();
      routes = resolveRouting(defaults, sendOptions);
    } catch (error) {
      return Promise.reject(error);
    }
    // Not an async function: one promise less per message on the hot path.
    return publishRoutes(broker, getPublisher(), routes, body, propertiesFor(sendOptions, nanoid(), true), { mandatory: sendOptions.mandatory ?? true }, describe).then(() => {
      stats.sent += routes.length;
    });
  };

  const sendMessage = (message: Message, sendOptions: SendOptions): Promise<void> => {
    message.stamp(fingerprint);
    return publishBytes(encoder.encode(message.toBody()), sendOptions, () => `${message.type}/${message.name}`);
  };

  /** The RPC options of a send (made once per `to()` binding for the usual calls, see `api`). */
  const rpcOptionsOf = (sendOptions: SendOptions): Required<RpcOptions> => ({
    timeout: sendOptions.timeout ?? DEFAULT_RPC_OPTIONS.timeout,
    retries: sendOptions.retries ?? DEFAULT_RPC_OPTIONS.retries,
    replyMode: sendOptions.replyMode ?? DEFAULT_RPC_OPTIONS.replyMode,
  });

  /** Stamps and encodes an RPC request. @throws when the producer is closed or the routing is wrong. */
  const requestOf = (message: Message, sendOptions: SendOptions, messageId: string): RpcRequest => {
    assertOpen();
    message.category = "rpc";
    message.stamp(fingerprint);
    const routes = resolveRouting(defaults, sendOptions);
    return {
      routes,
      name: message.name,
      body: encoder.encode(message.toBody()),
      properties: propertiesFor(sendOptions, messageId, false),
      mandatory: sendOptions.mandatory ?? true,
      describe: () => `${message.type}/${message.name}`,
    };
  };

  /** The request of `message` for `getRpc()[how]`, or the error (a rejected promise: a sender never throws). */
  const rpcWith = <T>(message: Message, sendOptions: SendOptions, run: (request: RpcRequest, messageId: string) => Promise<T>): Promise<T> => {
    const messageId = nanoid();
    let request: RpcRequest;
    try {
      request = requestOf(message, sendOptions, messageId);
    } catch (error) {
      return Promise.reject(error);
    }
    return run(request, messageId);
  };

  // Not async functions: a call is one promise (its result), not a chain (this is the hot path).
  const callRequest = (message: Message, sendOptions: SendOptions, rpcOptions = rpcOptionsOf(sendOptions)): Promise<ResultMessage> =>
    rpcWith(message, sendOptions, (request, messageId) => getRpc().call(request, rpcOptions, messageId));

  const startRequest = (message: Message, sendOptions: SendOptions): Promise<PendingReply> =>
    rpcWith(message, sendOptions, (request, messageId) => getRpc().start(request, rpcOptionsOf(sendOptions), messageId));

  const proxy = <Result>(builders: MessageBuilders, build: (name: string) => (...args: unknown[]) => Message, run: (message: Message) => Promise<Result>) =>
    new Proxy(Object.create(null) as Record<string, (...args: unknown[]) => Promise<Result>>, {
      get(_target, name) {
        if (typeof name !== "string") return undefined;
        // Never look like a thenable: `await producer.message` must not call a "then" command.
        if (name === "then" && !(name in builders)) return undefined;
        const builder = build(name);
        return (...args: unknown[]) => {
          let message: Message;
          try {
            message = builder(...args);
          } catch (error) {
            return Promise.reject(error);
          }
          return run(message);
        };
      },
    });

  const buildWith =
    (builders: MessageBuilders, fallback: (name: string, parameters?: unknown) => Message) =>
    (name: string) => {
      const builder = Object.hasOwn(builders, name) ? (builders[name] as ((...args: unknown[]) => Message) | undefined) : undefined;
      return builder ?? ((...args: unknown[]) => fallback(name, args[0]));
    };

  const api = (sendOptions: SendOptions): ProducerApi<PM, PR> => {
    const rpcOptions = rpcOptionsOf(sendOptions);
    return {
      message: proxy(messageBuilders, buildWith(messageBuilders, (name, parameters) => new CommandMessage(name, parameters)), (message) =>
        sendMessage(message, sendOptions),
      ) as unknown as SendProxy<PM, void>,
      rpc: proxy(rpcBuilders, buildWith(rpcBuilders, (name, parameters) => new RpcCommandMessage(name, parameters)), (message) =>
        callRequest(message, sendOptions, rpcOptions),
      ) as unknown as SendProxy<PR, ResultMessage>,
      rpcQueued: proxy(rpcBuilders, buildWith(rpcBuilders, (name, parameters) => new RpcCommandMessage(name, parameters)), (message) =>
        startRequest(message, sendOptions),
      ) as unknown as SendProxy<PR, PendingReply>,
      gather: async (name, parameters, gatherOptions) => {
        assertOpen();
        const message = new RpcCommandMessage(name, parameters).stamp(fingerprint);
        const routes = resolveRouting(defaults, sendOptions);
        const replies = await gatherReplies(
          broker,
          getPublisher(),
          {
            routes,
            body: encoder.encode(message.toBody()),
            properties: propertiesFor(sendOptions, nanoid(), true),
            mandatory: sendOptions.mandatory ?? true,
            describe: () => `${message.type}/${message.name} (gather)`,
          },
          { ...gatherOptions, timeout: gatherOptions?.timeout ?? sendOptions.timeout ?? DEFAULT_RPC_OPTIONS.timeout },
          { encoder, maxBytes: options.maxReplyBytes },
        );
        stats.sent += routes.length;
        return replies;
      },
      command: (name, parameters) => sendMessage(new CommandMessage(name, parameters), sendOptions),
      call: (name, parameters) => callRequest(new RpcCommandMessage(name, parameters), sendOptions, rpcOptions),
      send: (message, more) => sendMessage(message, merge(sendOptions, more)),
      request: (message, more) => (more === undefined ? callRequest(message, sendOptions, rpcOptions) : callRequest(message, merge(sendOptions, more))),
      requestQueued: (message, more) => startRequest(message, merge(sendOptions, more)),
      generic: (args, kwds, more) => sendMessage(new GenericMessage(args, kwds), merge(sendOptions, more)),
      forward: (body, more) => {
        const bytes = body instanceof Uint8Array ? body : encoder.encode(body);
        const describe = body instanceof Uint8Array ? () => `${bytes.byteLength} bytes` : () => `${body.type}/${body.name} (forwarded)`;
        return publishBytes(bytes, merge(sendOptions, more), describe);
      },
      to: (more) => api(merge(sendOptions, more)),
    };
  };

  const producer: Producer<PM, PR> = {
    ...api(base),
    fingerprint,
    stats,
    close() {
      closing ??= (async () => {
        unregisterRpc?.();
        unregisterPublisher?.();
        const results = await Promise.allSettled([rpcClient?.close(), publisher?.close()]);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed !== undefined) throw failed.reason;
      })();
      return closing;
    },
  };
  return producer;
}

/** Later options win; `eks` given later drops an earlier `key` (and the reverse), so the last routing applies. */
function merge(current: SendOptions, more: SendOptions | undefined): SendOptions {
  if (more === undefined) return current;
  const merged: SendOptions = { ...current, ...stripUndefined(more) };
  if (more.eks !== undefined) delete merged.key;
  else if (more.key !== undefined) delete merged.eks;
  if (current.headers !== undefined && more.headers !== undefined) merged.headers = { ...current.headers, ...more.headers };
  return merged;
}

function stripUndefined(options: SendOptions): SendOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as SendOptions;
}
