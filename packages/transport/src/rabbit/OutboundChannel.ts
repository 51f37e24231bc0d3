import type { Socket } from "node:net";
import type { Channel, Connection, Envelope, ReturnedMessage } from "rabbitmq-client";
import { unsupported } from "./clientPatches.js";
import { type AwaitedConfirm, ConfirmTracker } from "./ConfirmTracker.js";
import { PublishEncoder } from "./publishFrames.js";

/** rabbitmq-client's method ids (class << 16 | method). */
const BASIC_ACK = (60 << 16) | 80;
const BASIC_NACK = (60 << 16) | 120;
const CONFIRM_SELECT_OK = (85 << 16) | 11;

/** A waiting publish a channel error can be matched to (the exchange it was sent to). */
export interface OutboundConfirm extends AwaitedConfirm {
  readonly exchange: string | undefined;
}

/** What an {@link OutboundChannel} tells its owner. @internal */
export interface OutboundEvents {
  /** A `basic.return` (emitted by rabbitmq-client, after the return's frames arrived). */
  onReturn(message: ReturnedMessage): void;
  /** A channel error no waiting publish was given (a publish without confirms to a missing exchange, ...). */
  onUnclaimedError(error: Error): void;
  /** The error a publish that waited past its deadline fails with. */
  expired(publish: AwaitedConfirm): Error;
}

interface ChannelInternals {
  _onMethod?: (this: Channel, frame: { methodId?: number; params?: { deliveryTag?: number; multiple?: boolean } }) => void;
}

interface ConnectionInternals {
  _socket?: Socket;
  _state?: { frameMax?: unknown };
}

/**
 * A channel of rabbitmq-client's connection that Postage publishes on itself: the library opens
 * and closes the channel, runs `confirm.select`, reads every frame and emits returns; Postage
 * encodes each publish into one buffer ({@link PublishEncoder}) written straight to the
 * connection's (coalescing) socket, and tracks confirms itself ({@link ConfirmTracker}).
 *
 * What it takes from the library's internals, checked when the channel is opened (fail closed
 * with `UNSUPPORTED_CLIENT`, the channel closed): `Connection#_socket` (written to),
 * `Connection#_state.frameMax` (the negotiated frame size), and `Channel#_onMethod` (replaced on
 * this channel only: `basic.ack` / `basic.nack` settle our publishes; every other method goes on to
 * the library). A confirm channel proves the hook runs: its `confirm.select-ok` must pass through it.
 *
 * Since the library never publishes on this channel its own confirm bookkeeping stays empty: an
 * ack it does not see costs nothing, and a channel error names nobody it waits for, so the
 * channel is opened with `emitErrorsFromChannel` and its `error` event is ours: a refused publish
 * (`channel.close` 404 for a missing exchange) fails the waiting publish to the exchange the broker
 * names (the oldest waiting one when it names none), and when the channel then closes every other
 * waiting publish fails with `CH_CLOSE` (which the caller retries on a new channel). When the
 * connection drops, the library closes the channel the same way.
 *
 * {@link channel} is the library's channel and can consume too (direct reply-to wants requests
 * published and replies consumed on one channel): only `basicPublish` must not be used on it, as
 * the library's delivery tags would then no longer match ours.
 * @internal
 */
export class OutboundChannel {
  private readonly confirms: ConfirmTracker | undefined;
  private readonly encoder: PublishEncoder;
  private drainWaiters: AwaitedConfirm[] = [];
  private listeningForDrain = false;
  private closed = false;

  private constructor(
    readonly channel: Channel,
    private readonly socket: Socket,
    frameMax: number,
    confirm: boolean,
    private readonly events: OutboundEvents,
  ) {
    this.encoder = new PublishEncoder(channel.id, frameMax);
    this.confirms = confirm ? new ConfirmTracker(events.expired) : undefined;
  }

  /**
   * Acquires a channel on `connection` (waiting for it to connect, within its acquire timeout),
   * puts it in confirm mode when `confirm`, and takes over its publishing.
   * @throws {TransportError} `UNSUPPORTED_CLIENT` when the library's internals are not the expected
   *   ones; otherwise rabbitmq-client's acquire and confirm errors (`TIMEOUT`, `CLOSING`, ...).
   */
  static async open(connection: Connection, confirm: boolean, events: OutboundEvents): Promise<OutboundChannel> {
    const channel = await connection.acquire({ emitErrorsFromChannel: true });
    let outbound: OutboundChannel | undefined;
    // Listened to at once: with emitErrorsFromChannel an "error" nobody listens to would throw in the library's reader.
    channel.on("error", (error: Error) => {
      if (outbound !== undefined) outbound.onChannelError(error);
      else events.onUnclaimedError(error);
    });
    try {
      const internals = connection as unknown as ConnectionInternals;
      const socket = internals._socket;
      const frameMax = internals._state?.frameMax;
      if (socket === undefined || typeof socket.write !== "function") throw unsupported("Connection#_socket is not a socket");
      if (typeof frameMax !== "number" || !(frameMax > 8)) throw unsupported("Connection#_state.frameMax is not the negotiated frame size");
      outbound = new OutboundChannel(channel, socket, frameMax, confirm, events);
      const proven = outbound.hookMethods();
      channel.on("basic.return", (message: ReturnedMessage) => events.onReturn(message));
      channel.once("close", () => outbound?.onChannelClosed());
      if (confirm) {
        await channel.confirmSelect();
        if (!proven()) throw unsupported("Channel#_onMethod did not see confirm.select-ok: confirms would never settle");
      }
      return outbound;
    } catch (err) {
      await channel.close();
      throw err;
    }
  }

  /** Whether publishes can be written now (the channel is open and its socket alive). */
  get usable(): boolean {
    return !this.closed && this.channel.active && !this.socket.destroyed;
  }

  /**
   * Whether the socket holds more than its high-water mark: a publish without confirms should then
   * resolve only at the next `drain` ({@link whenDrained}), as rabbitmq-client's would.
   */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Publishes without confirms waiting for the socket to drain: `confirmed` once it did, `failed` if the channel closes first. */
  whenDrained(waiter: AwaitedConfirm): void {
    if (!this.usable) {
      waiter.failed(channelClosed());
      return;
    }
    this.drainWaiters.push(waiter);
    if (this.listeningForDrain) return;
    this.listeningForDrain = true;
    this.socket.once("drain", () => {
      this.listeningForDrain = false;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w.confirmed();
    });
  }

  /**
   * Writes one publish. With confirms `confirm` is settled by the broker's answer (or the channel's
   * end, or its deadline); without, the publish is done once written.
   * @throws {TransportError} from the encoder (properties larger than a frame), a `RangeError` for a
   *   property AMQP cannot carry, an error coded `CH_CLOSE` when the channel is closed:
   *   nothing was written then.
   */
  send(envelope: Envelope, body: Buffer, confirm: OutboundConfirm | undefined): void {
    if (!this.usable) throw channelClosed();
    const frames = this.encoder.encode(envelope, body);
    if (confirm !== undefined) this.confirms?.add(confirm);
    this.socket.write(frames);
  }

  /** Publishes waiting for a confirm. */
  get waitingConfirms(): number {
    return this.confirms?.size ?? 0;
  }

  /** Closes the channel (waiting publishes fail with `CH_CLOSE`). Never rejects. */
  async close(): Promise<void> {
    await this.channel.close();
  }

  /** Replaces this channel's `_onMethod`; returns whether the hook has seen `confirm.select-ok`. */
  private hookMethods(): () => boolean {
    const internals = this.channel as unknown as ChannelInternals;
    const onMethod = internals._onMethod;
    if (typeof onMethod !== "function") throw unsupported("Channel#_onMethod is missing");
    let sawConfirmSelectOk = false;
    const confirms = this.confirms;
    internals._onMethod = function outboundOnMethod(this: Channel, frame): void {
      const methodId = frame.methodId;
      if (confirms !== undefined && (methodId === BASIC_ACK || methodId === BASIC_NACK)) {
        const tag = frame.params?.deliveryTag ?? 0;
        const multiple = frame.params?.multiple === true;
        if (methodId === BASIC_ACK) confirms.ack(tag, multiple);
        else confirms.nack(tag, multiple, nacked);
        return;
      }
      if (methodId === CONFIRM_SELECT_OK) sawConfirmSelectOk = true;
      onMethod.call(this, frame);
    };
    return () => sawConfirmSelectOk;
  }

  private onChannelError(error: Error): void {
    const confirms = this.confirms;
    // Only a refused publish concerns a waiting publish (rabbitmq-client names the method that failed first).
    if (confirms !== undefined && error.message.startsWith("BasicPublish:")) {
      const refused = /no exchange '(.*)' in vhost/.exec(error.message)?.[1];
      const named = refused === undefined ? undefined : confirms.take((p) => (p as OutboundConfirm).exchange === refused);
      const victim = named ?? confirms.take(() => true);
      if (victim !== undefined) {
        victim.failed(error);
        return;
      }
    }
    this.events.onUnclaimedError(error);
  }

  private onChannelClosed(): void {
    this.closed = true;
    this.confirms?.failAll(channelClosed);
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter.failed(channelClosed());
  }
}

/** What rabbitmq-client rejects a publish with when its channel closed (mapped to `CONNECTION_LOST`: retried). */
function channelClosed(): Error {
  return Object.assign(new Error("channel is closed"), { code: "CH_CLOSE" });
}

/** What rabbitmq-client rejects a nacked publish with (mapped to `PUBLISH_FAILED`, broker code `NACK`). */
function nacked(): Error {
  return Object.assign(new Error("message rejected by server"), { code: "NACK" });
}
