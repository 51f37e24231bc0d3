import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { AMQPConnectionError, type Channel, type Connection } from "rabbitmq-client";
import { FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FrameReader } from "./frameReader.js";
import { decodeConfirm, decodeContentHeader, decodeDeliver, RecentFields, setDecodeError } from "./inboundDecoding.js";
import type { InboundMessage } from "./inboundMessage.js";

/**
 * Postage's own inbound path over rabbitmq-client 5.0.8's connection: bytes from the socket are
 * cut into frames synchronously (`frameReader.ts`) as each chunk arrives, and a `basic.deliver`
 * with its header and body frames becomes one {@link InboundMessage} (body bytes as a view of the
 * chunk when they came in one frame, properties decoded once, straight into our shape), handed to
 * the channel's consumer callback. Everything else is the library's: publisher confirms
 * (`basic.ack`/`basic.nack`, decoded here, handled by its `Channel#_onMethod`), heartbeats, body
 * frames of a `basic.get-ok` or `basic.return`, go to `Connection#_handleChunk` at once; any other
 * frame (connection.close, blocked/unblocked, channel.close, basic.cancel, the replies to its RPCs,
 * content headers it awaits) is decoded by the library's own `codec.decodeFrame` and handed to
 * `_handleChunk`, the reader pausing meanwhile so that order is kept, and going on only in a
 * `setImmediate` after it, so that whatever that frame settled has run its continuations.
 *
 * Why: the library reads every frame with two promisified `socket.read(n)` calls (promises and a
 * Readable copy per frame, three frames a message), builds each message with object spreads of the
 * method and header fields, `Buffer.concat`s even a single body frame, and hands each delivery
 * over in a `setImmediate` of its own; Postage then mapped the message once more.
 *
 * Ordering: deliveries are handed over in the order they arrived, all those cut from one chunk in
 * one microtask after the chunk (not one `setImmediate` each, as the library does). A
 * `basic.consume-ok` has resolved `basicConsume` before any delivery after it is handed over, which
 * is what the library's per-delivery `setImmediate` was for: it pauses the reader until a
 * `setImmediate` after the library handled it, so the deliveries behind it are not even cut before
 * its continuations ran. The consumer callback is looked up when the delivery is complete and, if
 * the tag is not registered yet, again when it is handed over.
 *
 * Why a microtask and not a `setImmediate`: a delivery handed over in the check phase has its reply
 * or ack written there, and whatever that write schedules with `setImmediate` (the loop markers of
 * `coalesceWrites.ts`, `batchAcks.ts` and the actors' scheduler) then falls into the next loop
 * iteration. strace of a sequential RPC run: each hop (read, write) was followed by two
 * `epoll_pwait` calls that found nothing before the one that waits; handing over in the poll phase
 * leaves one.
 *
 * How it hooks in: the library's reader loop (`Connection#_connect`) looks up
 * `util.createAsyncReader` and `codec.decodeFrame` on their module objects at call time. Both are
 * replaced once, process-wide, by functions that do exactly what the originals do, except that
 * the first `decodeFrame` after a connection Postage adopted ({@link adoptSocket}, on its
 * "connection" event, i.e. after the handshake the library still reads itself) takes the socket
 * over and returns a promise that settles only when reading stops: rejected with `READ_END` when
 * the socket closes (the loop ends quietly, as before) or with the error of a malformed frame or
 * of a frame handler (the loop destroys the socket with it, as before, and the library reconnects).
 * Connections nobody adopted are read by the library as they always were.
 *
 * Fail closed: {@link inboundPathProblem} reports why the hook could not be installed (another
 * version or shape of the library, checked on the source of what is replaced);
 * `clientPatches.ts` then refuses the connection (`UNSUPPORTED_CLIENT`), and its `verify()`
 * fails a connection whose socket is not read by this path.
 * @internal
 */

type Read = (bytes: number) => Promise<Buffer>;
type Listener = (...args: unknown[]) => void;

/** A frame as rabbitmq-client's codec decodes it. */
interface LibraryFrame {
  type: number;
  channelId: number;
  methodId?: number;
  params?: unknown;
  payload?: Buffer;
}

interface ConnectionInternals {
  _state: {
    hasRead: boolean;
    frameMax: number;
    leased: { get(id: number): Channel | undefined };
  };
  _handleChunk(frame: LibraryFrame): void;
}

type ConsumerCallback = (message: unknown) => void;

interface ChannelInternals {
  _state: { consumers: Map<string, ConsumerCallback>; incoming?: unknown };
}

const BASIC_DELIVER = (60 << 16) | 60;
const BASIC_ACK = (60 << 16) | 80;
const BASIC_NACK = (60 << 16) | 120;
const EMPTY_BODY = Buffer.alloc(0);

const ConnectionError = AMQPConnectionError as unknown as new (code: string, message: string) => Error;
const connectionError = (code: string, message: string): Error => new ConnectionError(code, message);
setDecodeError(connectionError);

/** A content being received on one channel: its deliver, then the header, then the body frames. */
interface Incoming {
  readonly message: InboundMessage;
  readonly channel: Channel;
  /** The channel's recent field values, for the header frame. */
  readonly recent: RecentFields;
  /** -1 until the header frame came. */
  bodySize: number;
  received: number;
  /** Body frames before the last one (undefined while there is at most one). */
  chunks: Buffer[] | undefined;
}

/** One socket's reader: the library's until {@link takeOver}, ours after. */
class SocketReader {
  connection: ConnectionInternals | undefined;
  /** Taken over: the socket is read by {@link frames}. */
  active = false;
  private frames: FrameReader | undefined;
  private failed = false;
  /** The socket closed; reading ends once the frames it held are handled. */
  private ended = false;
  private reject: ((error: unknown) => void) | undefined;
  private readonly incoming = new Map<number, Incoming>();
  /** Per channel id: the last values of its deliveries' repeated fields. */
  private readonly recent: Array<RecentFields | undefined> = [];
  private handlers: Array<ConsumerCallback | undefined> = [];
  private messages: InboundMessage[] = [];
  private channels: Channel[] = [];
  private scheduled = false;

  constructor(
    private readonly socket: Socket,
    private readonly libraryOnReadable: Listener,
    private readonly libraryOnClose: Listener,
  ) {}

  takeOver(connection: ConnectionInternals): Promise<never> {
    if (this.active) return Promise.reject(connectionError("UNEXPECTED_FRAME", "the frame reader was taken over twice"));
    this.active = true;
    const socket = this.socket;
    socket.removeListener("readable", this.libraryOnReadable);
    socket.removeListener("close", this.libraryOnClose);
    this.frames = new FrameReader(this.onFrame, connection._state.frameMax - 8, connectionError);
    const done = new Promise<never>((_resolve, reject) => {
      this.reject = reject;
    });
    socket.on("readable", this.onReadable);
    socket.on("close", this.onClose);
    // Whatever the socket buffered after the handshake.
    this.onReadable();
    return done;
  }

  private readonly onReadable = (): void => {
    const frames = this.frames as FrameReader;
    const connection = this.connection as ConnectionInternals;
    let chunk: Buffer | null;
    while (!this.failed && (chunk = this.socket.read() as Buffer | null) !== null) {
      connection._state.hasRead = true;
      try {
        frames.push(chunk);
      } catch (err) {
        this.fail(err);
      }
    }
  };

  private readonly onClose = (): void => {
    this.ended = true;
    // Frames still held while paused (a connection.close the broker sent just before closing, say) are handled first, as the library's reader did.
    if (!(this.frames as FrameReader).isPaused) this.endReading();
  };

  private endReading(): void {
    this.fail(connectionError("READ_END", "stream ended before all bytes received"));
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.socket.removeListener("readable", this.onReadable);
    this.reject?.(error);
  }

  private readonly onFrame = (type: number, channel: number, buffer: Buffer, start: number, size: number): boolean => {
    const connection = this.connection as ConnectionInternals;
    if (type === FRAME_METHOD) {
      if (size < 4) throw connectionError("FRAME_ERROR", "method frame shorter than its method id");
      const methodId = buffer.readUInt32BE(start);
      if (channel !== 0) {
        if (this.incoming.has(channel)) throw connectionError("UNEXPECTED_FRAME", "unexpected method frame, already awaiting header/body");
        if (methodId === BASIC_DELIVER) {
          const ch = connection._state.leased.get(channel);
          if (ch === undefined) throw connectionError("UNEXPECTED_FRAME", "client received a method frame for an unexpected channel");
          if ((ch as unknown as ChannelInternals)._state.incoming != null) throw connectionError("UNEXPECTED_FRAME", "unexpected method frame, already awaiting header/body");
          const recent = (this.recent[channel] ??= new RecentFields());
          this.incoming.set(channel, { message: decodeDeliver(buffer, start, start + size, recent), channel: ch, recent, bodySize: -1, received: 0, chunks: undefined });
          return true;
        }
        if (methodId === BASIC_ACK || methodId === BASIC_NACK) {
          connection._handleChunk({ type: FRAME_METHOD, channelId: channel, methodId, params: decodeConfirm(buffer, start, start + size, methodId === BASIC_NACK) });
          return true;
        }
      }
      return this.viaLibrary(buffer, start, size);
    }
    if (type === FRAME_HEADER) {
      const pending = this.incoming.get(channel);
      if (pending === undefined) return this.viaLibrary(buffer, start, size);
      if (pending.bodySize !== -1) throw connectionError("UNEXPECTED_FRAME", "unexpected header frame");
      pending.bodySize = decodeContentHeader(buffer, start, start + size, pending.message, pending.recent);
      if (pending.bodySize === 0) this.complete(channel, pending, EMPTY_BODY);
      return true;
    }
    if (type === FRAME_BODY) {
      const pending = this.incoming.get(channel);
      const payload = buffer.subarray(start, start + size);
      if (pending === undefined) {
        connection._handleChunk({ type: FRAME_BODY, channelId: channel, payload });
        return true;
      }
      if (pending.bodySize === -1) throw connectionError("UNEXPECTED_FRAME", "unexpected AMQP body frame");
      pending.received += size;
      if (pending.received > pending.bodySize) throw connectionError("FRAME_ERROR", `body frames carry more than the ${pending.bodySize} bytes their header announced`);
      if (pending.received === pending.bodySize) {
        const body = pending.chunks === undefined ? payload : Buffer.concat([...pending.chunks, payload], pending.bodySize);
        this.complete(channel, pending, body);
      } else {
        (pending.chunks ??= []).push(payload);
      }
      return true;
    }
    if (type === FRAME_HEARTBEAT) {
      connection._handleChunk({ type: FRAME_HEARTBEAT, channelId: 0 });
      return true;
    }
    throw connectionError("FRAME_ERROR", "invalid data frame");
  };

  /** Hands one frame to the library's decoder and `_handleChunk`, pausing the reader until it is done. */
  private viaLibrary(buffer: Buffer, start: number, size: number): false {
    const bytes = buffer.subarray(start - 7, start + size + 1);
    let at = 0;
    const read: Read = (n) => {
      const slice = bytes.subarray(at, at + n);
      at += n;
      return Promise.resolve(slice);
    };
    originalDecodeFrame(read).then(
      (frame) => {
        if (this.failed) return;
        try {
          (this.connection as ConnectionInternals)._handleChunk(frame);
        } catch (err) {
          this.fail(err);
          return;
        }
        // Not at once: what this frame settled (a basic.consume-ok resolving basicConsume, which then
        // registers the consumer) runs its continuations first, as it did between the library's reads.
        setImmediate(this.resume);
      },
      (err: unknown) => this.fail(err),
    );
    return false;
  }

  private readonly resume = (): void => {
    if (this.failed) return;
    const frames = this.frames as FrameReader;
    try {
      frames.resume();
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.ended && !frames.isPaused) this.endReading();
  };

  private complete(channel: number, pending: Incoming, body: Buffer): void {
    this.incoming.delete(channel);
    const message = pending.message;
    message.body = body;
    this.handlers.push((pending.channel as unknown as ChannelInternals)._state.consumers.get(message.consumerTag));
    this.messages.push(message);
    this.channels.push(pending.channel);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.handOver);
    }
  }

  /** Hands the deliveries completed since the last call to their consumers, in order. */
  private readonly handOver = (): void => {
    this.scheduled = false;
    const handlers = this.handlers;
    const messages = this.messages;
    const channels = this.channels;
    this.handlers = [];
    this.messages = [];
    this.channels = [];
    let index = 0;
    let threw = true;
    try {
      for (; index < messages.length; index += 1) {
        const message = messages[index] as InboundMessage;
        const handler = handlers[index] ?? (channels[index] as unknown as ChannelInternals)._state.consumers.get(message.consumerTag);
        // No callback for the tag: the library drops such a delivery too (its "should never happen").
        handler?.(message);
      }
      threw = false;
    } finally {
      if (threw) {
        // A callback threw (an uncaught exception, as with the library's own setImmediate): the rest still go, in order.
        this.handlers = [...handlers.slice(index + 1), ...this.handlers];
        this.messages = [...messages.slice(index + 1), ...this.messages];
        this.channels = [...channels.slice(index + 1), ...this.channels];
        if (this.messages.length > 0 && !this.scheduled) {
          this.scheduled = true;
          setImmediate(this.handOver);
        }
      }
    }
  };
}

interface CodecModule {
  decodeFrame: (read: Read) => Promise<LibraryFrame>;
}
interface UtilModule {
  createAsyncReader: (socket: Socket) => Read;
}
interface ConnectionModule {
  Connection: { prototype: Record<string, unknown> };
}
interface ChannelModule {
  Channel: { prototype: Record<string, unknown> };
}

const readers = new WeakMap<Read, SocketReader>();
const socketReaders = new WeakMap<Socket, SocketReader>();
let originalDecodeFrame: (read: Read) => Promise<LibraryFrame> = () => Promise.reject(connectionError("CODEC", "not installed"));
let problem: string | undefined;

/**
 * Why the given rabbitmq-client modules are not the ones the inbound path was written for (a
 * piece of source each replaced or relied-on internal of 5.0.8 must contain), or undefined.
 * @internal Exported for tests.
 */
export function inboundSourcesProblem(connection: ConnectionModule, channel: ChannelModule, util: UtilModule, codec: CodecModule): string | undefined {
  const source = (value: unknown): string => (typeof value === "function" ? Function.prototype.toString.call(value) : "");
  const expectations: Array<[string, string, string[]]> = [
    [
      "Connection#_connect",
      source(connection.Connection.prototype["_connect"]),
      ["const read = (0, util_1.createAsyncReader)(socket);", "await this._negotiate(read);", "this._handleChunk(await (0, codec_1.decodeFrame)(read));", "if (err.code !== 'READ_END')"],
    ],
    ["Connection#_negotiate", source(connection.Connection.prototype["_negotiate"]), ["this.emit('connection');", "this._state.frameMax = frameMax;"]],
    ["Connection#_handleChunk", source(connection.Connection.prototype["_handleChunk"]), ["this._state.hasRead = true;", "this._state.leased.get(frame.channelId)", "ch._onBody(frame);"]],
    ["Channel#_onMethod", source(channel.Channel.prototype["_onMethod"]), ["if (this._state.incoming != null)"]],
    ["Channel#_onBody", source(channel.Channel.prototype["_onBody"]), ["this._state.consumers.get(msg.consumerTag)", "setImmediate(handler, msg);"]],
    ["util.createAsyncReader", source(util.createAsyncReader), ["socket.on('close', _read);", "socket.on('readable', _read);", "socket.read(bytes)"]],
    ["codec.decodeFrame", source(codec.decodeFrame), ["await read(7);", "await read(frameSize + 1);"]],
  ];
  for (const [name, text, parts] of expectations) {
    const missing = parts.find((part) => !text.includes(part));
    if (missing !== undefined) return `${name} is not the one the inbound path was written for (no \`${missing}\`)`;
  }
  return undefined;
}

function install(): void {
  const require = createRequire(import.meta.url);
  const directory = dirname(require.resolve("rabbitmq-client"));
  const load = <T>(file: string): T => require(join(directory, file)) as T;
  const util = load<UtilModule>("util.js");
  const codec = load<CodecModule>("codec.js");
  problem = inboundSourcesProblem(load<ConnectionModule>("Connection.js"), load<ChannelModule>("Channel.js"), util, codec);
  if (problem !== undefined) return;
  const createAsyncReader = util.createAsyncReader;
  const decodeFrame = codec.decodeFrame;
  originalDecodeFrame = decodeFrame;
  util.createAsyncReader = function postageCreateAsyncReader(socket: Socket): Read {
    const readable = socket.listeners("readable");
    const close = socket.listeners("close");
    const read = createAsyncReader(socket);
    const addedReadable = socket.listeners("readable").filter((listener) => !readable.includes(listener));
    const addedClose = socket.listeners("close").filter((listener) => !close.includes(listener));
    // Anything but one listener each: not the reader we know; the library keeps reading this socket (and verify() refuses it).
    if (addedReadable.length === 1 && addedClose.length === 1) {
      const reader = new SocketReader(socket, addedReadable[0] as Listener, addedClose[0] as Listener);
      readers.set(read, reader);
      socketReaders.set(socket, reader);
    }
    return read;
  };
  codec.decodeFrame = function postageDecodeFrame(read: Read): Promise<LibraryFrame> {
    const reader = readers.get(read);
    if (reader?.connection !== undefined) return reader.takeOver(reader.connection);
    return decodeFrame(read);
  };
}

install();

/** Why the inbound path is not installed (undefined when it is): the connection must then be refused. @internal */
export function inboundPathProblem(): string | undefined {
  return problem;
}

/** Why `channel` cannot be served by the inbound path, or undefined. @internal */
export function inboundChannelProblem(channel: Channel): string | undefined {
  const state = (channel as unknown as Partial<ChannelInternals>)._state;
  if (typeof state !== "object" || state === null || !(state.consumers instanceof Map)) return "Channel#_state.consumers is not the consumer map the inbound path hands deliveries to";
  return undefined;
}

/**
 * Makes the inbound path read `socket` (the current socket of `connection`, just logged in) from
 * its next frame on. Call it from the connection's "connection" event. A socket the library
 * created no known reader for is left to the library ({@link readsFrames} stays false).
 * @internal
 */
export function adoptSocket(connection: Connection, socket: Socket): void {
  const reader = socketReaders.get(socket);
  if (reader === undefined || reader.connection !== undefined) return;
  const internals = connection as unknown as Partial<ConnectionInternals>;
  const state = internals._state;
  if (typeof internals._handleChunk !== "function" || typeof state?.frameMax !== "number" || typeof state.leased?.get !== "function") return;
  reader.connection = connection as unknown as ConnectionInternals;
}

/** Whether `socket` is read by the inbound path (it took the socket over after the handshake). @internal */
export function readsFrames(socket: Socket | undefined): boolean {
  return socket !== undefined && socketReaders.get(socket)?.active === true;
}
