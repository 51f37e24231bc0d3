import type { Socket } from "node:net";
import type { Channel } from "rabbitmq-client";

/** `basic.ack` (class 60, method 80) as it goes on the wire. */
const BASIC_ACK = (60 << 16) | 80;
/** type 1 + channel 2 + size 4 + method id 4 + delivery-tag 8 + multiple 1 + frame-end 1. */
const ACK_FRAME_SIZE = 21;

/** The parts of rabbitmq-client's Channel a direct ack relies on. */
interface ChannelInternals {
  active: boolean;
  id: number;
  _state?: { stream?: EncoderStreamLike };
  basicAck(params: { deliveryTag?: number; multiple?: boolean }): void;
}

/** rabbitmq-client's `util.EncoderStream` (an object-mode Writable feeding the socket), as far as its queue goes. */
interface EncoderStreamLike {
  readonly writable: boolean;
  readonly writableLength: number;
  /** The iterator of frames being written (set while the socket wants draining). */
  _cur?: unknown;
  /** The socket it writes to. */
  _out?: Socket;
}

const WRAPPED = Symbol("postage.directAcks");

/**
 * Encodes `basic.ack` exactly as rabbitmq-client's codec does (delivery-tag as a signed 64-bit
 * integer, `multiple` in bit 0). @internal Exported for tests.
 */
export function encodeAck(channel: number, deliveryTag: number, multiple: boolean): Buffer {
  const frame = Buffer.allocUnsafe(ACK_FRAME_SIZE);
  frame[0] = 1;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(13, 3);
  frame.writeUInt32BE(BASIC_ACK, 7);
  frame.writeBigInt64BE(BigInt(deliveryTag), 11);
  frame[19] = multiple ? 1 : 0;
  frame[20] = 0xce;
  return frame;
}

/**
 * Makes `channel.basicAck` write its frame to the socket the channel writes to itself while the channel's
 * own frame queue (the library's `EncoderStream`) is empty, which is what that queue would do at
 * once anyway: the same bytes, in the same order with everything else sent on the channel, but
 * without the object-mode stream write, the generator, the generic codec and the callback per ack.
 * While that queue holds anything (the socket wants draining) and on a closed channel, the ack
 * goes the library's way, so it never overtakes a frame queued before it (a `basic.nack` for a
 * lower tag must reach the broker before a `multiple` ack over it).
 *
 * Applied by `clientPatches.ts` before `batchAcks.ts` (whose batched acks then take this path).
 * A channel whose internals are not the expected ones is left as it is (the library's path).
 * Idempotent. @internal
 */
export function directAcks(channel: Channel): void {
  const internals = channel as unknown as ChannelInternals & { [WRAPPED]?: true };
  if (internals[WRAPPED] === true) return;
  const stream = internals._state?.stream;
  const socket = stream?._out;
  if (stream === undefined || typeof stream.writableLength !== "number" || socket === undefined || typeof socket.write !== "function") return;
  internals[WRAPPED] = true;
  const libraryAck = internals.basicAck.bind(channel);
  internals.basicAck = (params) => {
    const tag = params.deliveryTag;
    if (!internals.active || tag === undefined || !Number.isSafeInteger(tag) || !stream.writable || stream.writableLength !== 0 || stream._cur !== undefined) {
      libraryAck(params);
      return;
    }
    socket.write(encodeAck(internals.id, tag, params.multiple === true));
  };
}
