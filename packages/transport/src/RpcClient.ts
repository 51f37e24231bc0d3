import type { Context } from "@opentelemetry/api";
import { decodeMessage, ExceptionResult, ResultMessage, type DecodeOptions, type Encoder } from "@postage/core";
import type { Broker } from "./Broker.js";
import type { Delivery, DriverConsumer, DriverPublisher, DriverReplyChannel, MessageProperties, ReplyChannelOptions } from "./driver/BrokerDriver.js";
import { TransportError } from "./errors.js";
import { publishRoutes, type PublishTarget } from "./publishRoutes.js";
import type { ExchangeKeys } from "./routing.js";
import { RpcCallWatch } from "./telemetry/RpcCallWatch.js";
import type { TransportObserver } from "./telemetry/TransportObserver.js";

/**
 * How replies come back:
 * - `shared` (the default): one exclusive, auto-delete, server-named reply queue per producer,
 *   consumed without acks and matched by correlation id. It is declared at the producer's first
 *   call and again each time its channel opens after a loss, under a new name; it goes away with
 *   the producer, its channel or its connection. Deleted under it (by an operator), it is replaced
 *   at once and the calls pending on it are sent again. It needs the right to declare queues
 *   (`configure` on `amq.gen-.*` names).
 * - `direct`: RabbitMQ direct reply-to (`amq.rabbitmq.reply-to`), matched by correlation id: no
 *   queue on the broker at all. Measured on RabbitMQ 3.10 with 50 calls in flight, it costs the
 *   broker about 10-15% more CPU per call than `shared` and makes 5-10% fewer calls/s; with
 *   one call in flight the two are level.
 * - `queue`: an exclusive, auto-delete, server-named queue per call, as Python Postage does. About
 *   10x slower, but any server can answer unambiguously. Requests go through the producer's
 *   publisher, with its confirms (`confirm`, on by default).
 *
 * In `shared` and `direct` modes requests go without publisher confirms: the reply confirms the
 * request end to end (see {@link RpcOptions}). A reply without correlation id (Python Postage
 * servers send none) is accepted there only while exactly one call is pending.
 */
export type ReplyMode = "shared" | "direct" | "queue";

/**
 * Options of one RPC call.
 *
 * What a call guarantees: it ends, with the reply, an `ExceptionResult("TimeoutError")` after its
 * last attempt, or a rejection (below); it never hangs. In `shared` and `direct` modes a request
 * is published without publisher confirms, since the reply is the end-to-end confirmation:
 * - a mandatory request no queue takes is returned by the broker, and the call rejects with
 *   `UNROUTABLE` as soon as the return arrives (not at its timeout), unless it was sent or came
 *   back while the connection was down or in the 10 s after a reconnect: its server may still be
 *   declaring its queue again then, so it is sent again every 250 ms within its window;
 * - a request lost with the connection, or with the reply channel (replies to it would be lost
 *   too), is sent again at once on the new channel, same message id, within the same attempt
 *   window (once per window; later losses wait for the window's end);
 * - a request the broker drops for another reason (a queue that rejects publishes) gets no reply:
 *   the attempt times out and the next one sends it again.
 * A server may therefore see a request more than once (same message id), as with any retry.
 */
export interface RpcOptions {
  /** How long to wait for a reply to each attempt, in milliseconds. @default 30_000 */
  timeout?: number;
  /** How many times the request is sent again (same message id) when an attempt times out. @default 4 */
  retries?: number;
  /** @default "shared" */
  replyMode?: ReplyMode;
}

/** The RPC defaults, as Python Postage's (`_timeout` 30 s, `_max_retry` 4). */
export const DEFAULT_RPC_OPTIONS: Readonly<Required<RpcOptions>> = Object.freeze({ timeout: 30_000, retries: 4, replyMode: "shared" });

/** A published RPC request whose reply may still come (see `producer.rpcQueued`). */
export interface PendingReply {
  /** The request's message id (the same on every retry). */
  readonly messageId: string;
  /** Where the reply goes: the reply queue's name, or the direct reply-to address (as last sent). */
  readonly replyTo: string;
  /**
   * The reply. Resolves to `ExceptionResult("TimeoutError", ...)` when every attempt timed out,
   * never hangs; rejects when the request was returned (`UNROUTABLE`), when a retry cannot be
   * published, or when the producer is closed.
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
  /** Requests sent again at once because the reply channel (or its connection) was lost with them. */
  resent: number;
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
  /** Made for this call: the client sets `messageId`, `correlationId` and `replyTo` on it. */
  properties: MessageProperties;
  mandatory: boolean;
  describe: () => string;
}

/** Pause before sending again a request returned right after an outage (its server may not be bound again yet). */
const RETURNED_RETRY_MS = 250;
/**
 * For this long after a reconnect the outage counts as still going on: a server, on this
 * connection or another, may still be declaring its queue and bindings again, so a request sent
 * or returned then is retried when returned (within the call's window) instead of failing the
 * call with `UNROUTABLE`.
 */
const RECONNECT_GRACE_MS = 10_000;

/**
 * One call: its state across attempts, and its result. Attempt windows of `options.timeout` ms
 * follow each other from the call's start (one timer, re-armed per window).
 */
class Call {
  settled = false;
  /** Attempt windows begun (the first at the start). */
  attempts = 0;
  /** Some attempt was written (the call ends with a `TimeoutError` result rather than a `TIMEOUT` error). */
  published = false;
  /** An attempt is being published (waiting for the channel, the connection or the exchange). */
  inFlight = false;
  /** The request was sent again in this window after a lost channel (at most once per window). */
  resentInWindow = false;
  /** An attempt went out around an outage: a return then is part of it, not a missing server. */
  sawOutage = false;
  replyTo = "";
  timer: NodeJS.Timeout | undefined;
  /** The queue-mode call's own reply queue consumer. */
  consumer: DriverConsumer | undefined;
  /** Told when the first attempt is published (`start`, which hands out a {@link PendingReply}). */
  onFirstPublished: (() => void) | undefined;
  readonly result: Promise<ResultMessage>;
  resolveResult!: (result: ResultMessage) => void;
  rejectResult!: (error: unknown) => void;

  constructor(
    readonly id: string,
    readonly request: RpcRequest,
    readonly options: Required<RpcOptions>,
    readonly parent: Context | undefined,
    /** The reply channel its replies come to; undefined in queue mode (a queue of its own). */
    readonly slot: ReplySlot | undefined,
  ) {
    this.result = new Promise<ResultMessage>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
  }
}

/** The reply channel of one address, opened at the first call that needs it. */
class ReplySlot {
  opening: Promise<DriverReplyChannel> | undefined;
  /** The channel once open (it re-opens by itself after a reconnect): no promise to wait for. */
  open: DriverReplyChannel | undefined;

  constructor(readonly address: NonNullable<ReplyChannelOptions["address"]>) {}
}

/**
 * The client side of Postage RPC for one producer. Requests carry a stable message id (reused on
 * retries) and a correlation id; each attempt waits `timeout` ms, then the request is sent again
 * up to `retries` times; after that the call resolves to `ExceptionResult("TimeoutError", ...)`.
 * Replies that match no call are counted in {@link RpcStats.dropped} and dropped. See
 * {@link RpcOptions} for what a call guarantees.
 * @internal Used through {@link Producer}.
 */
export class RpcClient {
  readonly stats: RpcStats = { calls: 0, replies: 0, retries: 0, resent: 0, timeouts: 0, dropped: 0, invalid: 0 };
  /** The reply channels of `shared` and `direct` calls. */
  private readonly slots = { shared: new ReplySlot("queue"), direct: new ReplySlot("direct-reply-to") };
  /** `shared` and `direct` calls by correlation id (their message id). */
  private readonly pending = new Map<string, Call>();
  /** Queue-mode calls, to end them on close. */
  private readonly queued = new Set<Call>();
  /** Cleanups of per-call reply queues still running. */
  private readonly cleanups = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;
  private readonly decodeOptions: DecodeOptions;
  private lastDecodeOptions: DecodeOptions | undefined;
  private readonly windowEnded = (call: Call): void => this.onWindowEnd(call);

  constructor(
    private readonly broker: Broker,
    private readonly publisher: () => DriverPublisher,
    decode: { encoder: Encoder; maxBytes: number | undefined },
    private readonly observer?: TransportObserver,
    /** Told of each request published (`routes` messages), retries included. */
    private readonly onSent: (count: number) => void = () => undefined,
  ) {
    this.decodeOptions = decode.maxBytes === undefined ? { encoder: decode.encoder } : { encoder: decode.encoder, maxBytes: decode.maxBytes };
  }

  /**
   * Makes a call and resolves to its reply (see {@link PendingReply.reply}). Rejects as soon as the
   * first attempt fails to publish or comes back unroutable (nobody was listening at all), with
   * `CLOSED` on close.
   */
  call(request: RpcRequest, options: Required<RpcOptions>, messageId: string): Promise<ResultMessage> {
    if (this.closing !== undefined) return Promise.reject(new TransportError("CLOSED", "the RPC client is closed"));
    const call = this.begin(request, options, messageId);
    return call.result;
  }

  /**
   * Publishes a request and returns once it is published (written; confirmed in queue mode when
   * confirms are on). Every wait counts from this call: the reply channel or reply queue, the
   * publish and each reply share the attempts' windows, so a call made while the broker is
   * unreachable settles on time.
   */
  start(request: RpcRequest, options: Required<RpcOptions>, messageId: string): Promise<PendingReply> {
    if (this.closing !== undefined) return Promise.reject(new TransportError("CLOSED", "the RPC client is closed"));
    let firstPublished!: () => void;
    const published = new Promise<void>((resolve) => {
      firstPublished = resolve;
    });
    const started = this.begin(request, options, messageId, firstPublished);
    // The result may never be awaited (a queue-only call nobody asks); the caller still sees any rejection.
    started.result.catch(() => undefined);
    return Promise.race([published, started.result]).then(() => ({ messageId: started.id, replyTo: started.replyTo, reply: () => started.result }));
  }

  private begin(request: RpcRequest, options: Required<RpcOptions>, messageId: string, onFirstPublished?: () => void): Call {
    this.stats.calls += 1;
    const watch = RpcCallWatch.start(request, messageId, options.replyMode, this.observer); // undefined without tracing or metrics
    const call = new Call(messageId, request, options, watch?.parent, options.replyMode === "queue" ? undefined : this.slots[options.replyMode]);
    call.onFirstPublished = onFirstPublished;
    watch?.watch(call.result);
    if (call.slot !== undefined) {
      this.pending.set(messageId, call);
    } else {
      this.queued.add(call);
      try {
        call.consumer = this.broker.driver.createConsumer({ queue: { name: "", exclusive: true, autoDelete: true }, prefetch: 1 }, (delivery) => {
          // Any delivery on this private queue is the reply to this call, correlation id or not.
          this.settleWith(call, delivery);
          return "ack";
        });
      } catch (error) {
        this.reject(call, error);
        return call;
      }
    }
    call.timer = setTimeout(this.windowEnded, options.timeout, call);
    this.send(call, true);
    return call;
  }

  /**
   * Sends the request once. `newWindow`: a window begins with it (the first one, or a retry after
   * a window without reply); otherwise it repeats the current window's (a lost channel, a return
   * during an outage). An attempt still waiting for the connection when its window ends is not
   * sent twice: it goes out when the broker is back, and the next window waits for it.
   */
  private send(call: Call, newWindow: boolean): void {
    if (newWindow) call.attempts += 1;
    const window = call.attempts;
    call.inFlight = true;
    if (this.inOutage()) call.sawOutage = true;
    let published: Promise<void>;
    const slot = call.slot;
    if (slot !== undefined) {
      const channel = slot.open;
      published = channel !== undefined ? this.publishTo(call, channel, channel.replyTo) : this.replyChannel(slot).then((opened) => this.publishTo(call, opened, opened.replyTo));
    } else {
      // Asked per attempt: after a reconnect the server-named queue has a new name, and a retry
      // carrying the old one would be answered into a queue that no longer exists.
      const consumer = call.consumer as DriverConsumer;
      published = consumer.consuming().then((replyTo) => this.publishTo(call, this.publisher(), replyTo));
    }
    published.then(
      () => this.onPublished(call),
      (error: unknown) => this.onPublishFailed(call, window, error),
    );
  }

  private publishTo(call: Call, target: PublishTarget, replyTo: string): Promise<void> {
    if (call.settled) return Promise.resolve();
    call.replyTo = replyTo;
    const { request } = call;
    // The properties were made for this call: set, not copied (no attempt is in flight meanwhile).
    const properties = request.properties;
    properties.messageId = call.id;
    properties.correlationId = call.id;
    properties.replyTo = replyTo;
    return publishRoutes(this.broker, target, request.routes, request.body, properties, { mandatory: request.mandatory }, request.describe, call.parent);
  }

  private onPublished(call: Call): void {
    call.inFlight = false;
    if (call.settled) return;
    call.published = true;
    // A request written again on a channel that opened meanwhile went with its new reply queue.
    const channel = call.slot?.open;
    if (channel !== undefined) call.replyTo = channel.replyTo;
    this.onSent(call.request.routes.length);
    const first = call.onFirstPublished;
    if (first !== undefined) {
      call.onFirstPublished = undefined;
      first();
    }
  }

  private onPublishFailed(call: Call, window: number, error: unknown): void {
    call.inFlight = false;
    if (call.settled) return;
    // The first attempt's failure within its window ends the call: nobody was listening at all.
    // A later one (or a first one sent again after a lost channel) that finds no route (the
    // server's queue is being re-declared after a broker restart), loses the connection or misses
    // its publish deadline is an attempt without a reply: the next window may succeed, and the
    // last one ends the call.
    const code = (error as { code?: unknown } | null)?.code;
    if (!call.published && window === 1 && call.attempts === 1) this.reject(call, error);
    else if (code !== "UNROUTABLE" && code !== "CONNECTION_LOST" && code !== "TIMEOUT") this.reject(call, error);
  }

  private onWindowEnd(call: Call): void {
    if (call.settled) return;
    const { options } = call;
    call.resentInWindow = false;
    if (call.attempts > options.retries) {
      if (call.published) {
        this.stats.timeouts += 1;
        this.resolve(call, new ExceptionResult("TimeoutError", `no reply to ${call.request.describe()} within ${options.timeout} ms, after ${call.attempts} attempt(s)`));
      } else {
        this.reject(
          call,
          new TransportError(
            "TIMEOUT",
            `${call.request.describe()} could not be sent within ${options.timeout * call.attempts} ms (${call.attempts} attempt(s) of ${options.timeout} ms): the broker is unreachable or not answering`,
          ),
        );
      }
      return;
    }
    if (call.inFlight) {
      // Still waiting for the connection: this window counts, the same request is not queued twice.
      call.attempts += 1;
    } else {
      this.stats.retries += 1;
      this.send(call, true);
    }
    call.timer?.refresh();
  }

  /** The connection is down, or came back less than {@link RECONNECT_GRACE_MS} ago. */
  private inOutage(): boolean {
    const { connected, reconnectedAt } = this.broker.driver;
    return !connected || (reconnectedAt !== undefined && performance.now() - reconnectedAt < RECONNECT_GRACE_MS);
  }

  private replyChannel(slot: ReplySlot): Promise<DriverReplyChannel> {
    if (slot.opening === undefined) {
      const channel = this.broker.driver.createReplyChannel(
        (delivery) => this.onReply(delivery),
        {
          onReturned: (properties, error) => this.onReturned(properties, error),
          onLost: (error) => this.onChannelLost(slot, error),
        },
        { address: slot.address },
      );
      slot.opening = channel;
      channel.then(
        (opened) => {
          if (slot.opening === channel) slot.open = opened;
        },
        () => {
          // Let the next call try again; this call sees the rejection.
          if (slot.opening === channel) slot.opening = undefined;
        },
      );
    }
    return slot.opening;
  }

  /** A request came back (no queue took it): the call fails now, unless a retry explains it. */
  private onReturned(properties: MessageProperties, error: TransportError): void {
    const id = properties.correlationId ?? properties.messageId;
    const call = id === undefined ? undefined : this.pending.get(id);
    if (call === undefined || call.settled) {
      this.broker.log(() => `[postage] a returned request matched no pending call (correlation id ${id ?? "none"})`);
      return;
    }
    if (call.attempts > 1) return; // a retry's return: an attempt without reply, the next window may succeed
    // Judged now too, not only when the call was sent: a request sent as the connection died goes
    // out on the new one, and comes back before its server could declare its queue again.
    if (call.sawOutage || this.inOutage()) {
      // Right after an outage its server may not have declared its queue again yet: try again
      // shortly, within this window (its end still ends the call as usual).
      setTimeout(() => {
        if (!call.settled && !call.inFlight && call.attempts === 1) this.send(call, false);
      }, RETURNED_RETRY_MS).unref();
      return;
    }
    this.reject(call, error);
  }

  /**
   * The reply channel died with requests on it: their replies are lost, so send them again now
   * on the new channel rather than wait for their windows to end. A channel the broker closed for
   * a request to a deleted exchange makes that exchange be declared again first.
   */
  private onChannelLost(slot: ReplySlot, error: TransportError | undefined): void {
    if (error?.code === "EXCHANGE_NOT_FOUND" && error.exchange !== undefined) this.broker.forgetExchange(error.exchange);
    // A dropped connection is an outage (servers re-declare their queues); a channel the broker
    // closed is not: a return then means nobody is bound, and fails the call as usual.
    const outage = error === undefined || error.code === "CONNECTION_LOST";
    for (const call of this.pending.values()) {
      if (call.slot !== slot || call.settled || call.inFlight || !call.published || call.resentInWindow) continue;
      call.resentInWindow = true;
      if (outage) call.sawOutage = true;
      this.stats.resent += 1;
      this.send(call, false);
    }
  }

  private onReply(delivery: Delivery): void {
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
    this.resolve(call, this.toResult(delivery));
  }

  private toResult(delivery: Delivery): ResultMessage {
    const outcome = decodeMessage(delivery.body, this.decodeOptionsFor(delivery.properties));
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

  /** The decode options for a reply's content type and encoding: the last ones made, when they match (they usually all do). */
  private decodeOptionsFor({ contentType, contentEncoding }: MessageProperties): DecodeOptions {
    if (contentType === undefined && contentEncoding === undefined) return this.decodeOptions;
    const last = this.lastDecodeOptions;
    if (last !== undefined && last.contentType === contentType && last.contentEncoding === contentEncoding) return last;
    const options: DecodeOptions = { ...this.decodeOptions };
    if (contentType !== undefined) options.contentType = contentType;
    if (contentEncoding !== undefined) options.contentEncoding = contentEncoding;
    this.lastDecodeOptions = options;
    return options;
  }

  private resolve(call: Call, result: ResultMessage): void {
    if (this.finish(call)) call.resolveResult(result);
  }

  private reject(call: Call, error: unknown): void {
    if (this.finish(call)) call.rejectResult(error);
  }

  private finish(call: Call): boolean {
    if (call.settled) return false;
    call.settled = true;
    clearTimeout(call.timer);
    if (call.slot !== undefined) {
      this.pending.delete(call.id);
      return true;
    }
    this.queued.delete(call);
    const consumer = call.consumer;
    if (consumer !== undefined) {
      const closing = consumer.close().catch((error: unknown) => {
        this.broker.log(`[postage] closing the reply queue of call ${call.id} failed: ${String(error)}`);
      });
      this.cleanups.add(closing);
      void closing.finally(() => this.cleanups.delete(closing)); // deliberate: tracked in `cleanups`, awaited by close()
    }
    return true;
  }

  /** Ends pending calls (they reject with `CLOSED`), closes the reply channel and reply queues. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    for (const call of [...this.pending.values(), ...this.queued]) this.reject(call, new TransportError("CLOSED", `RPC call ${call.id} ended: the producer was closed`));
    const closings: Promise<void>[] = [...this.cleanups];
    for (const slot of Object.values(this.slots)) {
      const channel = slot.opening;
      slot.opening = undefined;
      slot.open = undefined;
      if (channel !== undefined) closings.push(channel.then((c) => c.close(), () => undefined));
    }
    const results = await Promise.allSettled(closings);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
}
