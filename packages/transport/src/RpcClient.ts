import type { Context } from "@opentelemetry/api";
import { decodeMessage, ExceptionResult, ResultMessage, type Encoder } from "@postage/core";
import { nanoid } from "nanoid";
import type { Broker } from "./Broker.js";
import type { Delivery, DriverConsumer, DriverPublisher, DriverReplyChannel, MessageProperties } from "./driver/BrokerDriver.js";
import { TransportError } from "./errors.js";
import { publishRoutes, type PublishTarget } from "./publishRoutes.js";
import type { ExchangeKeys } from "./routing.js";
import { RpcCallWatch } from "./telemetry/RpcCallWatch.js";
import type { TransportObserver } from "./telemetry/TransportObserver.js";

/**
 * How replies come back:
 * - `direct`: RabbitMQ direct reply-to, matched by correlation id. Fast; the default between
 *   Postage for TypeScript components. A reply without correlation id (Python Postage servers send
 *   none) is accepted only while exactly one call is pending on the channel.
 * - `queue`: an exclusive, auto-delete, server-named queue per call, as Python Postage does. Slower
 *   (about 7x), but any server can answer unambiguously.
 */
export type ReplyMode = "direct" | "queue";

/** Options of one RPC call. */
export interface RpcOptions {
  /** How long to wait for a reply to each attempt, in milliseconds. @default 30_000 */
  timeout?: number;
  /** How many times the request is sent again (same message id) when an attempt times out. @default 4 */
  retries?: number;
  /** @default "direct" */
  replyMode?: ReplyMode;
}

/** The RPC defaults, as Python Postage's (`_timeout` 30 s, `_max_retry` 4). */
export const DEFAULT_RPC_OPTIONS: Readonly<Required<RpcOptions>> = Object.freeze({ timeout: 30_000, retries: 4, replyMode: "direct" });

/** A published RPC request whose reply may still come (see `producer.rpcQueued`). */
export interface PendingReply {
  /** The request's message id (the same on every retry). */
  readonly messageId: string;
  /** Where the reply goes: the reply queue's name, or the direct reply-to address. */
  readonly replyTo: string;
  /**
   * The reply. Resolves to `ExceptionResult("TimeoutError", ...)` when every attempt timed out,
   * never hangs; rejects only when a retry cannot be published or the producer is closed.
   */
  reply(): Promise<ResultMessage>;
}

/** RPC counters of one producer. */
export interface RpcStats {
  /** Calls started. */
  calls: number;
  /** Replies matched to a call. */
  replies: number;
  /** Requests sent again after a timeout. */
  retries: number;
  /** Calls that ended with a `TimeoutError` result. */
  timeouts: number;
  /** Replies that matched no pending call (late replies after a timeout, duplicates): dropped. */
  dropped: number;
  /** Replies that were not a valid result message (the call got an `InvalidReply` exception result). */
  invalid: number;
}

/** What one call sends. @internal */
export interface RpcRequest {
  routes: ExchangeKeys;
  /** The command's name (the RPC method, for telemetry). */
  name: string;
  body: Uint8Array;
  properties: MessageProperties;
  mandatory: boolean;
  describe: () => string;
}

/** One call waiting for its reply. */
class Call {
  settled = false;
  attempts = 0;
  timer: NodeJS.Timeout | undefined;
  readonly result: Promise<ResultMessage>;
  private resolveResult!: (result: ResultMessage) => void;
  private rejectResult!: (error: unknown) => void;

  constructor(
    readonly id: string,
    private readonly onSettled: () => void,
  ) {
    this.result = new Promise<ResultMessage>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // The result may never be awaited (a queue-only call nobody asks); the caller still sees any rejection.
    this.result.catch(() => undefined);
  }

  resolve(result: ResultMessage): void {
    if (this.finish()) this.resolveResult(result);
  }

  reject(error: unknown): void {
    if (this.finish()) this.rejectResult(error);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    clearTimeout(this.timer);
    this.onSettled();
    return true;
  }
}

/**
 * The client side of Postage RPC for one producer. Requests carry a stable message id (reused on
 * retries) and a correlation id; each attempt waits `timeout` ms, then the request is sent again
 * up to `retries` times; after that the call resolves to `ExceptionResult("TimeoutError", ...)`.
 * Replies that match no call are counted in {@link RpcStats.dropped} and dropped.
 * @internal Used through {@link Producer}.
 */
export class RpcClient {
  readonly stats: RpcStats = { calls: 0, replies: 0, retries: 0, timeouts: 0, dropped: 0, invalid: 0 };
  private channel: Promise<DriverReplyChannel> | undefined;
  /** Direct-mode calls by correlation id. */
  private readonly pending = new Map<string, Call>();
  /** Every unsettled call (both modes), to end them on close. */
  private readonly calls = new Set<Call>();
  /** Cleanups of per-call reply queues still running. */
  private readonly cleanups = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly publisher: () => DriverPublisher,
    private readonly decode: { encoder: Encoder; maxBytes: number | undefined },
    private readonly observer?: TransportObserver,
  ) {}

  /**
   * Publishes a request and returns once it is published (confirmed, when confirms are on).
   * Every wait counts from this call: the reply channel or reply queue, the publish and each reply
   * share the attempts' timers, so a call made while the broker is unreachable settles on time.
   */
  async start(request: RpcRequest, options: Required<RpcOptions>): Promise<PendingReply> {
    if (this.closing !== undefined) throw new TransportError("CLOSED", "the RPC client is closed");
    this.stats.calls += 1;
    const messageId = request.properties.messageId ?? nanoid();
    const watch = RpcCallWatch.start(request, messageId, options.replyMode, this.observer); // undefined without tracing or metrics
    const parent = watch?.parent;
    const started = options.replyMode === "queue" ? this.startQueued(messageId, request, options, parent) : this.startDirect(messageId, request, options, parent);
    return watch === undefined ? started : watch.follow(started);
  }

  private startDirect(messageId: string, request: RpcRequest, options: Required<RpcOptions>, parent: Context | undefined): Promise<PendingReply> {
    const call = this.track(messageId, () => this.pending.delete(messageId));
    this.pending.set(messageId, call);
    // The direct reply-to address is the same after a reconnect (the reply channel re-opens on its own).
    return this.runAttempts(call, request, options, parent, async () => {
      const channel = await this.replyChannel();
      return { target: channel, replyTo: channel.replyTo };
    });
  }

  private startQueued(messageId: string, request: RpcRequest, options: Required<RpcOptions>, parent: Context | undefined): Promise<PendingReply> {
    let consumer: DriverConsumer | undefined;
    const call = this.track(messageId, () => {
      if (consumer === undefined) return;
      const closing = consumer.close().catch((error: unknown) => {
        this.broker.log(`[postage] closing the reply queue of call ${messageId} failed: ${String(error)}`);
      });
      this.cleanups.add(closing);
      void closing.finally(() => this.cleanups.delete(closing)); // deliberate: tracked in `cleanups`, awaited by close()
    });
    try {
      consumer = this.broker.driver.createConsumer({ queue: { name: "", exclusive: true, autoDelete: true }, prefetch: 1 }, (delivery) => {
        // Any delivery on this private queue is the reply to this call, correlation id or not.
        this.settleWith(call, delivery);
        return "ack";
      });
    } catch (error) {
      call.reject(error);
      return Promise.reject(error);
    }
    const replies = consumer;
    // Asked per attempt: after a reconnect the server-named queue has a new name, and a retry
    // carrying the old one would be answered into a queue that no longer exists.
    return this.runAttempts(call, request, options, parent, async () => ({ target: this.publisher(), replyTo: await replies.consuming() }));
  }

  private track(id: string, cleanup: () => void): Call {
    const call: Call = new Call(id, () => {
      this.calls.delete(call);
      cleanup();
    });
    this.calls.add(call);
    return call;
  }

  /**
   * Runs the attempts of a call. Attempt windows of `options.timeout` ms start now, one after the
   * other: each prepares its target and `reply_to` (`prepare`), publishes, and waits for the reply
   * until its window ends; then the next one sends the request again (same message id). An attempt
   * still waiting for the connection when its window ends is not sent twice: it goes out when the
   * broker is back, and the next window waits for it. After the last window the call resolves to a
   * `TimeoutError` result, or rejects with `TIMEOUT` if the request never left.
   *
   * Resolves once the first attempt is published; rejects when it fails (nobody was listening at
   * all), or when the call ends first.
   */
  private runAttempts(
    call: Call,
    request: RpcRequest,
    options: Required<RpcOptions>,
    parent: Context | undefined,
    prepare: () => Promise<{ target: PublishTarget; replyTo: string }>,
  ): Promise<PendingReply> {
    let replyTo = "";
    let published = false;
    let inFlight = false;
    let firstPublished!: () => void;
    const first = new Promise<void>((resolve) => {
      firstPublished = resolve;
    });
    const attempt = async (): Promise<void> => {
      call.attempts += 1;
      inFlight = true;
      try {
        const prepared = await prepare();
        if (call.settled) return;
        replyTo = prepared.replyTo;
        const properties: MessageProperties = { ...request.properties, messageId: call.id, correlationId: call.id, replyTo };
        await publishRoutes(this.broker, prepared.target, request.routes, request.body, properties, { mandatory: request.mandatory }, request.describe, parent);
        published = true;
        firstPublished();
      } finally {
        inFlight = false;
      }
    };
    const send = (): void => {
      const window = call.attempts + 1;
      attempt().catch((error: unknown) => {
        if (call.settled) return;
        // The first attempt's failure within its window ends the call: nobody was listening at all.
        // A later one that finds no route (the server's queue is being re-declared after a broker
        // restart), loses the connection or misses its publish deadline is an attempt without a
        // reply: the next window may succeed, and the last one ends the call.
        const code = (error as { code?: unknown } | null)?.code;
        if (window === 1 && call.attempts === 1) call.reject(error);
        else if (code !== "UNROUTABLE" && code !== "CONNECTION_LOST" && code !== "TIMEOUT") call.reject(error);
      });
    };
    const onWindowEnd = (): void => {
      if (call.settled) return;
      if (call.attempts > options.retries) {
        if (published) {
          this.stats.timeouts += 1;
          call.resolve(new ExceptionResult("TimeoutError", `no reply to ${request.describe()} within ${options.timeout} ms, after ${call.attempts} attempt(s)`));
        } else {
          call.reject(
            new TransportError(
              "TIMEOUT",
              `${request.describe()} could not be sent within ${options.timeout * call.attempts} ms (${call.attempts} attempt(s) of ${options.timeout} ms): the broker is unreachable or not answering`,
            ),
          );
        }
        return;
      }
      if (inFlight) {
        // Still waiting for the connection: this window counts, the same request is not queued twice.
        call.attempts += 1;
      } else {
        this.stats.retries += 1;
        send();
      }
      call.timer = setTimeout(onWindowEnd, options.timeout);
    };
    call.timer = setTimeout(onWindowEnd, options.timeout);
    send();
    return Promise.race([first, call.result]).then(() => ({ messageId: call.id, replyTo, reply: () => call.result }));
  }

  private replyChannel(): Promise<DriverReplyChannel> {
    if (this.channel === undefined) {
      const channel = this.broker.driver.createReplyChannel((delivery) => this.onDirectReply(delivery));
      this.channel = channel;
      channel.catch(() => {
        // Let the next call try again; this call sees the rejection.
        if (this.channel === channel) this.channel = undefined;
      });
    }
    return this.channel;
  }

  private onDirectReply(delivery: Delivery): void {
    const correlationId = delivery.properties.correlationId;
    let call: Call | undefined;
    if (correlationId !== undefined && correlationId !== "") {
      call = this.pending.get(correlationId);
    } else if (this.pending.size === 1) {
      // Python Postage servers reply without a correlation id: unambiguous only with one call pending.
      call = this.pending.values().next().value;
    }
    if (call === undefined) {
      this.stats.dropped += 1;
      this.broker.log(() => `[postage] dropped a reply matching no pending call (correlation id ${correlationId ?? "none"})`);
      return;
    }
    this.settleWith(call, delivery);
  }

  private settleWith(call: Call, delivery: Delivery): void {
    if (call.settled) {
      this.stats.dropped += 1;
      return;
    }
    this.stats.replies += 1;
    call.resolve(this.toResult(delivery));
  }

  private toResult(delivery: Delivery): ResultMessage {
    const outcome = decodeMessage(delivery.body, {
      encoder: this.decode.encoder,
      ...(this.decode.maxBytes !== undefined ? { maxBytes: this.decode.maxBytes } : {}),
      ...(delivery.properties.contentType !== undefined ? { contentType: delivery.properties.contentType } : {}),
      ...(delivery.properties.contentEncoding !== undefined ? { contentEncoding: delivery.properties.contentEncoding } : {}),
    });
    if (!outcome.ok) {
      this.stats.invalid += 1;
      return new ExceptionResult("InvalidReply", `the reply is not a Postage message (${outcome.error.code}): ${outcome.error.reason}`);
    }
    this.broker.log(() => `[postage] received reply ${outcome.message.type}/${outcome.message.name} to ${delivery.properties.correlationId ?? "(uncorrelated)"}`);
    if (!(outcome.message instanceof ResultMessage)) {
      this.stats.invalid += 1;
      return new ExceptionResult("InvalidReply", `the reply is a ${outcome.message.type} message "${outcome.message.name}", not a result`);
    }
    return outcome.message;
  }

  /** Ends pending calls (they reject with `CLOSED`), closes the reply channel and reply queues. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    for (const call of [...this.calls]) call.reject(new TransportError("CLOSED", `RPC call ${call.id} ended: the producer was closed`));
    const channel = this.channel;
    this.channel = undefined;
    const closings: Promise<void>[] = [...this.cleanups];
    if (channel !== undefined) closings.push(channel.then((c) => c.close(), () => undefined));
    const results = await Promise.allSettled(closings);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
}
