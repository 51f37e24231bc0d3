import { createRequire } from "node:module";
import type { Socket } from "node:net";
import type { AsyncMessage, Channel, Connection } from "rabbitmq-client";
import { TransportError } from "../errors.js";
import { batchAcks, type AckingChannel } from "./batchAcks.js";
import { coalesceSocketWrites, isCoalescing } from "./coalesceWrites.js";
import { directAcks } from "./directAcks.js";
import { hidePassword } from "./hidePassword.js";
import { adoptSocket, inboundChannelProblem, inboundPathProblem, readsFrames } from "./inboundPath.js";
import { hideDecodedContentType, type HeaderFieldsLike } from "./rawBodies.js";

/**
 * Every place where Postage reaches into rabbitmq-client's internals, in one module.
 *
 * | patch | internal | why |
 * |---|---|---|
 * | raw bodies | `Channel#_onHeader` | the library decodes `application/json` / `text/plain` bodies; we need the bytes |
 * | return counting | `Channel#_onMethod`, `Channel#emit` | lets a confirmed mandatory publish skip waiting for a return that is not coming |
 * | write coalescing | `Connection#_socket` | one system call per callback (per turn under load) instead of one per frame |
 * | batched acks | `Channel#basicAck`, `#basicNack`, `#close` (public methods, wrapped per channel) | one `multiple` ack per turn instead of one frame per message (`batchAcks.ts`) |
 * | hidden password | `Connection#_opt` | `console.log` of a connection must not print the password |
 * | the hook for the above | `Connection#acquire` (an own property per connection) | every channel, the library's own included, is made here |
 * | a consumer's channel (read only) | `Consumer#_ch` | a delivery's `signal` is aborted when the channel it came on closes |
 * | direct acks | `Channel#_state.stream` (its queue, read only; its socket) | an ack written as 21 bytes while the channel's frame queue is empty (`directAcks.ts`) |
 * | inbound path | `util.createAsyncReader`, `codec.decodeFrame` (module exports), `Connection#_handleChunk`, `Channel#_state.consumers` | frames cut synchronously, deliveries built once (`inboundPath.ts`) |
 * | own publish path | `Connection#_socket`, `#_state.frameMax`, `Channel#_onMethod` (per publishing channel) | publishes encoded into one buffer and confirms tracked by Postage (`OutboundChannel.ts`) |
 * | no-ack flow control | `Consumer#_consumerTag` (written), `Channel#_state.consumers` (read) | a consumer without acks is cancelled and consumes again with the library's own callback (`DeliveryWindow.ts`) |
 *
 * They were written against {@link PATCHED_CLIENT_VERSION}, which `package.json` pins exactly. Each
 * one is checked where it is applied and fails closed: {@link patchConnection} refuses a client of
 * another version or shape, a channel that cannot be patched is closed and its acquisition fails
 * with `UNSUPPORTED_CLIENT` (nothing ever consumes on a channel that would hand over decoded
 * bodies), and {@link ConnectionPatches.verify} (run by the driver at every connect, before
 * `ready()` resolves) fails the driver when the socket or a probe channel was not patched. The
 * return-counting fast path (no wait for a return that is not coming) is switched off for good as
 * soon as a confirm channel's `_onMethod` hook is not seen running.
 * @internal
 */
export const PATCHED_CLIENT_VERSION = "5.0.8";

/** What {@link ConnectionPatches.status} reports: each patch and whether it is in place. */
export interface PatchStatus {
  /** The rabbitmq-client version loaded. */
  readonly version: string;
  /** `_opt.password` is not enumerable. */
  readonly passwordHidden: boolean;
  /** The current socket coalesces writes (false while no socket was ever connected). */
  readonly socketCoalescing: boolean;
  /** The current socket is read by Postage's inbound path (`inboundPath.ts`), not the library's reader. */
  readonly inboundPath: boolean;
  /** Channels acquired on this connection whose `_onHeader`, `_onMethod` and `emit` were all replaced. */
  readonly channelsPatched: number;
  /** Channels (of any connection) in confirm mode whose `_onMethod` hook was seen running; their returns are counted. */
  readonly confirmChannelsProven: number;
  /** Whether the return-counting fast path is allowed: false for good once a confirm channel's hook did not run. */
  readonly returnCountingActive: boolean;
  /** Returns (process-wide) counted on arrival and not emitted yet: 0 once things settle, else the fast path stays off. */
  readonly returnsInFlight: number;
}

/** The patches of one connection. @internal */
export interface ConnectionPatches {
  /**
   * Checks, on a live connection, that every patch took: the socket coalesces writes, the
   * password is hidden, and a probe channel (acquired and closed at once) was patched.
   * @throws {TransportError} `UNSUPPORTED_CLIENT` naming the patch that did not apply.
   */
  verify(): Promise<void>;
  status(): PatchStatus;
  /**
   * Whether the current socket can still be written to. The library's `ready` stays true from the
   * moment its socket dies (a reset, or the broker's `connection.close`) until the socket's
   * `close` event, a turn or more later; publishes made in between wait for the next connection.
   */
  socketOpen(): boolean;
}

interface ChannelInternals {
  confirmSelect: Channel["confirmSelect"];
  _onHeader?: (this: Channel, frame: { fields?: HeaderFieldsLike }) => void;
  _onMethod?: (this: Channel, frame: { methodId?: number }) => void;
  emit: Channel["emit"];
  [HOOKED]?: true;
}

interface ConnectionInternals {
  _opt?: { password?: unknown };
  _socket?: Socket;
}

const HOOKED = Symbol("postage.channelPatched");

/** rabbitmq-client's method id of `basic.return` (class 60, method 50). */
const BASIC_RETURN = (60 << 16) | 50;

/** Returns whose frames arrived but which rabbitmq-client has not emitted yet (it emits them from a setImmediate). */
let returnsInFlight = 0;
/**
 * Set for good once a channel entered confirm mode without its `_onMethod` hook having seen the
 * `confirm.select-ok`: the hook does not run, returns on that channel would go uncounted.
 */
let returnCountingBroken = false;
/** Channels in confirm mode whose hook was seen running (so their returns are counted). */
let confirmChannelsProven = 0;

/** The rabbitmq-client version installed (read from its package.json). @internal */
export function installedClientVersion(): string {
  const require = createRequire(import.meta.url);
  const manifest = require("rabbitmq-client/package.json") as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

/** @throws {TransportError} `UNSUPPORTED_CLIENT` unless `version` is the one the patches were written for. @internal */
export function assertPatchedVersion(version: string): void {
  if (version === PATCHED_CLIENT_VERSION) return;
  throw unsupported(`rabbitmq-client ${version} is installed, but @postage/transport patches internals of ${PATCHED_CLIENT_VERSION} exactly (see clientPatches.ts): install rabbitmq-client@${PATCHED_CLIENT_VERSION}`);
}

/**
 * Applies every patch to `connection` (a new rabbitmq-client Connection, before any channel):
 * hides its password and makes each channel and socket it opens patched.
 * @throws {TransportError} `UNSUPPORTED_CLIENT` when the version or the connection's shape is not the one the patches know.
 * @internal
 */
export function patchConnection(connection: Connection, version: string = installedClientVersion()): ConnectionPatches {
  assertPatchedVersion(version);
  const inbound = inboundPathProblem();
  if (inbound !== undefined) throw unsupported(inbound);
  const internals = connection as unknown as ConnectionInternals;
  const options = internals._opt;
  if (typeof options !== "object" || options === null || !("password" in options)) throw unsupported("Connection#_opt holds no password to hide");
  hidePassword(options);
  if (typeof connection.acquire !== "function") throw unsupported("Connection#acquire is missing");

  let channelsPatched = 0;
  const acquire = connection.acquire.bind(connection);
  // An own property: the library's Publisher, Consumer and lazy channel call `this.acquire()`, so they get patched channels too.
  connection.acquire = async (acquireOptions?: { emitErrorsFromChannel?: boolean }): Promise<Channel> => {
    const channel = await acquire(acquireOptions);
    try {
      patchChannel(channel);
    } catch (err) {
      await channel.close();
      throw err;
    }
    channelsPatched += 1;
    return channel;
  };

  // Each reconnect brings a new socket; the library emits "connection" once it is logged in.
  const patchSocket = (): void => {
    const socket = internals._socket;
    if (socket !== undefined && typeof socket.write === "function") coalesceSocketWrites(socket);
    if (socket !== undefined) adoptSocket(connection, socket);
  };
  connection.on("connection", patchSocket);

  const socketCoalescing = (): boolean => {
    const socket = internals._socket;
    return socket !== undefined && isCoalescing(socket);
  };
  const passwordHidden = (): boolean => Object.getOwnPropertyDescriptor(options, "password")?.enumerable === false;

  return {
    async verify() {
      // Listeners run in order: ours was added first, but make sure even if the driver's ran before it.
      patchSocket();
      if (!socketCoalescing()) throw unsupported("Connection#_socket is not a socket whose writes can be coalesced");
      if (!passwordHidden()) throw unsupported("Connection#_opt.password could not be hidden");
      const probe = await connection.acquire();
      const hooked = (probe as unknown as ChannelInternals)[HOOKED] === true;
      await probe.close();
      if (!hooked) throw unsupported("a channel was acquired without going through the patched Connection#acquire");
      // The probe's channel.open-ok came after the handshake: by now the inbound path reads the socket.
      if (!readsFrames(internals._socket)) throw unsupported("the socket is not read by the inbound path (util.createAsyncReader or the reader loop is not the one it knows)");
    },
    socketOpen() {
      const socket = internals._socket;
      return socket !== undefined && !socket.destroyed && socket.writable;
    },
    status() {
      return {
        version,
        passwordHidden: passwordHidden(),
        socketCoalescing: socketCoalescing(),
        inboundPath: readsFrames(internals._socket),
        channelsPatched,
        confirmChannelsProven,
        returnCountingActive: !returnCountingBroken,
        returnsInFlight,
      };
    },
  };
}

/**
 * Replaces `_onHeader` (raw bodies), `_onMethod` and `emit` (return counting) on one channel, and
 * batches its acks.
 * @throws {TransportError} `UNSUPPORTED_CLIENT` when one of them is missing: the channel must not be used.
 */
function patchChannel(channel: Channel): void {
  const internals = channel as unknown as ChannelInternals;
  if (internals[HOOKED] === true) return;
  const onHeader = internals._onHeader;
  const onMethod = internals._onMethod;
  if (typeof onHeader !== "function") throw unsupported("Channel#_onHeader is missing: message bodies would be decoded by the library");
  if (typeof onMethod !== "function") throw unsupported("Channel#_onMethod is missing: returned messages could not be counted");
  const inbound = inboundChannelProblem(channel);
  if (inbound !== undefined) throw unsupported(inbound);
  const emit = internals.emit.bind(channel);

  internals._onHeader = function rawBodyOnHeader(this: Channel, frame): void {
    if (frame.fields !== undefined) frame.fields = hideDecodedContentType(frame.fields);
    onHeader.call(this, frame);
  };

  let hookRan = false;
  internals._onMethod = function countingOnMethod(this: Channel, frame): void {
    hookRan = true;
    if (frame.methodId === BASIC_RETURN) returnsInFlight += 1;
    onMethod.call(this, frame);
  };
  internals.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === "basic.return") returnsInFlight -= 1;
    return emit(event, ...args);
  }) as Channel["emit"];
  // The proof: confirm.select-ok is a method frame, so by the time confirmSelect resolves the hook
  // must have run. Only confirm channels wait for returns (a return comes on the publish's channel).
  const confirmSelect = internals.confirmSelect.bind(channel);
  internals.confirmSelect = async (): Promise<void> => {
    await confirmSelect();
    if (hookRan) confirmChannelsProven += 1;
    else returnCountingBroken = true;
  };
  directAcks(channel);
  batchAcks(channel as unknown as AckingChannel);
  internals[HOOKED] = true;
}

/**
 * Whether a `basic.return` may still be on its way to some listener. `false` is certain only while
 * return counting is proven to work (every confirm channel's hook saw its `confirm.select-ok`) and
 * no counted return is pending emission; otherwise callers wait for the library's immediates. @internal
 */
export function returnsMayBeInFlight(): boolean {
  return returnsInFlight > 0 || returnCountingBroken;
}

/** The `UNSUPPORTED_CLIENT` error naming the internal that is not as expected. @internal */
export function unsupported(what: string): TransportError {
  return new TransportError("UNSUPPORTED_CLIENT", `rabbitmq-client's internals are not the ones @postage/transport was written for: ${what}`);
}

/**
 * The channel a rabbitmq-client consumer currently consumes on (`Consumer#_ch`, read only), so a
 * delivery's signal can follow that channel's life. Undefined when the library has none (or no
 * longer keeps it there): deliveries then carry no signal, and nothing else changes.
 * @internal
 */
export function consumerChannel(consumer: object): Channel | undefined {
  const channel = (consumer as { _ch?: unknown })._ch;
  return typeof channel === "object" && channel !== null && typeof (channel as Channel).once === "function" ? (channel as Channel) : undefined;
}

/** The library's consumer field the no-ack flow control writes (see {@link unsubscribe}). */
interface ConsumerTagInternals {
  _consumerTag: string;
}

/** A patched channel's consumer callbacks by tag (their shape is checked when the channel is patched: `inboundChannelProblem`). */
interface ChannelConsumers {
  _state: { consumers: Map<string, (message: AsyncMessage) => void> };
}

/**
 * Why `consumer` (a rabbitmq-client Consumer) cannot be paused by {@link unsubscribe}, if it cannot.
 * @internal
 */
export function unsubscribeProblem(consumer: object): string | undefined {
  if (typeof (consumer as Partial<ConsumerTagInternals>)._consumerTag !== "string") return "Consumer#_consumerTag is not the consumer's tag";
  return undefined;
}

/**
 * Cancels a consumer's subscription on `channel` and returns a function that makes it again with
 * the callback the library registered for it, telling the library its new tag (so that its
 * `close()` cancels that one). The library's `basic.cancel` listener (a cancel by the broker) and
 * reconnects are unaffected. Undefined when the channel holds no callback for the current tag.
 * @internal
 */
export async function unsubscribe(consumer: object, channel: Channel, params: { queue: string; exclusive: boolean }): Promise<(() => Promise<void>) | undefined> {
  const internals = consumer as ConsumerTagInternals;
  const tag = internals._consumerTag;
  const callback = (channel as unknown as ChannelConsumers)._state.consumers.get(tag);
  if (tag === "" || callback === undefined) return undefined;
  await channel.basicCancel({ consumerTag: tag });
  return async () => {
    const { consumerTag } = await channel.basicConsume({ ...params, noAck: true }, callback);
    // Unless the library has moved on (a reconnect set up another channel meanwhile).
    if (internals._consumerTag === tag) internals._consumerTag = consumerTag;
  };
}
