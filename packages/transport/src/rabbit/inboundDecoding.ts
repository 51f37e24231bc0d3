import { InboundMessage } from "./inboundMessage.js";

/**
 * Synchronous decoders for the frames the inbound path (`inboundPath.ts`) handles itself:
 * `basic.deliver`, `basic.ack` / `basic.nack` (publisher confirms) and the content header of a
 * delivery. They produce exactly the values rabbitmq-client 5.0.8's codec does (`codec.js`:
 * `Number()` of 64-bit integers, `=== 1` for booleans, tables and arrays as it reads them), so
 * handing their results to the library changes nothing it sees.
 *
 * Every read is bounded by the frame: a length that points past it throws a `FRAME_ERROR` (the
 * library's reads past its payload buffer throw too), so a malformed frame is a connection error,
 * never a read into the next frame.
 * @internal
 */

/** Where the current decode is (a module-level cursor: decoding is synchronous, nothing interleaves). */
let pos = 0;
let limit = 0;
let makeError: (code: string, message: string) => Error = (code, message) => Object.assign(new Error(message), { code });

/** Sets the error type thrown for malformed frames (the client's connection error). */
export function setDecodeError(factory: (code: string, message: string) => Error): void {
  makeError = factory;
}

function overrun(): Error {
  return makeError("FRAME_ERROR", "a field runs past the end of its frame");
}

/**
 * The last value of one field (a consumer tag, an exchange, a routing key, a content type...):
 * most deliveries on a channel repeat it, so comparing bytes spares decoding and allocating the same string.
 */
interface Recent {
  bytes: Uint8Array;
  value: string;
}

const recent = (): Recent => ({ bytes: new Uint8Array(0), value: "" });

/**
 * The last values of the repeated fields of one channel's deliveries. One per channel, not one per
 * process: a process's consumers (many actors on a shared connection, or a caller and its service)
 * each have a channel and a consumer tag of their own, and their deliveries interleave, so one set
 * for all of them would miss on nearly every delivery (~0.6 µs against ~0.15 µs a `basic.deliver`).
 */
export class RecentFields {
  readonly consumerTags = recent();
  readonly exchanges = recent();
  readonly routingKeys = recent();
  readonly contentTypes = recent();
  readonly contentEncodings = recent();
  readonly replyTos = recent();
  readonly types = recent();
  readonly userIds = recent();
  readonly appIds = recent();
}

/** A short string that is likely the same as last time (see {@link Recent}). */
function repeatedShortString(buffer: Buffer, last: Recent): string {
  const length = buffer[pos] as number;
  const start = pos + 1;
  pos = start + length;
  if (pos > limit) throw overrun();
  const known = last.bytes;
  if (known.length === length) {
    let i = 0;
    while (i < length && buffer[start + i] === known[i]) i += 1;
    if (i === length) return last.value;
  }
  const value = length === 0 ? "" : buffer.toString("utf8", start, pos);
  // A copy: the socket's chunk must not be kept alive by a cache.
  last.bytes = Uint8Array.prototype.slice.call(buffer, start, pos);
  last.value = value;
  return value;
}

function shortString(buffer: Buffer): string {
  const length = buffer[pos] as number;
  const start = pos + 1;
  pos = start + length;
  if (pos > limit) throw overrun();
  return length === 0 ? "" : buffer.toString("utf8", start, pos);
}

/** An unsigned 64-bit integer as `Number()` of it would be (exact below 2^53, correctly rounded above). */
function uint64(buffer: Buffer): number {
  if (pos + 8 > limit) throw overrun();
  const value = buffer.readUInt32BE(pos) * 0x100000000 + buffer.readUInt32BE(pos + 4);
  pos += 8;
  return value;
}

function int64(buffer: Buffer): number {
  if (pos + 8 > limit) throw overrun();
  const value = buffer.readInt32BE(pos) * 0x100000000 + buffer.readUInt32BE(pos + 4);
  pos += 8;
  return value;
}

/**
 * `basic.deliver`'s arguments (consumer-tag, delivery-tag, redelivered, exchange, routing-key)
 * from a method frame's payload `[start, end)` (`start` at the 4-byte method id); repeated
 * fields are compared with the channel's `recent` values first.
 * @throws a `FRAME_ERROR` when a field runs past the frame.
 */
export function decodeDeliver(buffer: Buffer, start: number, end: number, recent: RecentFields): InboundMessage {
  pos = start + 4;
  limit = end;
  const consumerTag = repeatedShortString(buffer, recent.consumerTags);
  const deliveryTag = int64(buffer);
  if (pos >= limit) throw overrun();
  const redelivered = buffer[pos] === 1;
  pos += 1;
  const exchange = repeatedShortString(buffer, recent.exchanges);
  const routingKey = repeatedShortString(buffer, recent.routingKeys);
  return new InboundMessage(consumerTag, deliveryTag, redelivered, exchange, routingKey);
}

/** The arguments of `basic.ack` (`nack` false) or `basic.nack` as the library's codec decodes them. */
export function decodeConfirm(buffer: Buffer, start: number, end: number, nack: boolean): { deliveryTag: number; multiple: boolean; requeue?: boolean } {
  pos = start + 4;
  limit = end;
  const deliveryTag = int64(buffer);
  if (pos >= limit) throw overrun();
  const bits = buffer[pos] as number;
  if (!nack) return { deliveryTag, multiple: bits === 1 };
  return { deliveryTag, multiple: (bits & 1) !== 0, requeue: (bits & 2) !== 0 };
}

/**
 * Decodes a content header frame's payload `[start, end)` into `message` (the library's header
 * fields and our properties at once) and returns the body size; repeated fields are compared with
 * the channel's `recent` values first.
 * @throws a `FRAME_ERROR` when a field runs past the frame; an Error for an unknown field-table type (as the library).
 */
export function decodeContentHeader(buffer: Buffer, start: number, end: number, message: InboundMessage, recent: RecentFields): number {
  limit = end;
  if (start + 14 > end) throw overrun();
  // class-id (2) and weight (2) are not used; then body-size (8) and the property flags (2).
  pos = start + 4;
  const bodySize = uint64(buffer);
  const flags = buffer.readUInt16BE(pos);
  pos += 2;
  const properties = message.properties;
  if (flags & 0x8000) properties.contentType = message.contentType = repeatedShortString(buffer, recent.contentTypes);
  if (flags & 0x4000) properties.contentEncoding = message.contentEncoding = repeatedShortString(buffer, recent.contentEncodings);
  if (flags & 0x2000) properties.headers = message.headers = table(buffer);
  if (flags & 0x1000) {
    if (pos >= limit) throw overrun();
    const mode = buffer[pos] as number;
    pos += 1;
    message.deliveryMode = mode;
    if (mode === 2) {
      message.durable = true;
      properties.persistent = true;
    }
  }
  if (flags & 0x0800) {
    if (pos >= limit) throw overrun();
    message.priority = buffer[pos] as number;
    pos += 1;
  }
  if (flags & 0x0400) properties.correlationId = message.correlationId = shortString(buffer);
  if (flags & 0x0200) properties.replyTo = message.replyTo = repeatedShortString(buffer, recent.replyTos);
  if (flags & 0x0100) properties.expiration = message.expiration = shortString(buffer);
  if (flags & 0x0080) properties.messageId = message.messageId = shortString(buffer);
  if (flags & 0x0040) properties.timestamp = message.timestamp = uint64(buffer);
  if (flags & 0x0020) properties.type = message.type = repeatedShortString(buffer, recent.types);
  if (flags & 0x0010) message.userId = repeatedShortString(buffer, recent.userIds);
  if (flags & 0x0008) message.appId = repeatedShortString(buffer, recent.appIds);
  if (flags & 0x0004) message.clusterId = shortString(buffer);
  return bodySize;
}

/** A field table (`F`): a long length, then name / typed value pairs. */
function table(buffer: Buffer): Record<string, unknown> {
  const end = sized(buffer);
  const outer = limit;
  limit = end;
  const result: Record<string, unknown> = {};
  while (pos < end) {
    const key = shortString(buffer);
    const item = value(buffer);
    // An own property even for "__proto__" (a plain assignment would replace the object's prototype).
    if (key === "__proto__") Object.defineProperty(result, key, { value: item, enumerable: true, writable: true, configurable: true });
    else result[key] = item;
  }
  limit = outer;
  return result;
}

/** A field array (`A`): a long length, then typed values. */
function array(buffer: Buffer): unknown[] {
  const end = sized(buffer);
  const outer = limit;
  limit = end;
  const result: unknown[] = [];
  while (pos < end) result.push(value(buffer));
  limit = outer;
  return result;
}

/** Reads a long length and returns where that many bytes end. */
function sized(buffer: Buffer): number {
  if (pos + 4 > limit) throw overrun();
  const end = pos + 4 + buffer.readUInt32BE(pos);
  pos += 4;
  if (end > limit) throw overrun();
  return end;
}

/** Skips a long length and the bytes it counts; returns where they start (they end at `pos`). */
function longBytes(buffer: Buffer): number {
  const end = sized(buffer);
  const start = pos;
  pos = end;
  return start;
}

function need(bytes: number): number {
  const at = pos;
  pos += bytes;
  if (pos > limit) throw overrun();
  return at;
}

/** One typed value, with the type codes rabbitmq-client's codec knows (and its error for any other). */
function value(buffer: Buffer): unknown {
  const code = buffer[need(1)] as number;
  switch (code) {
    case 116: // t
      return buffer[need(1)] === 1;
    case 98: // b
      return buffer.readInt8(need(1));
    case 66: // B
      return buffer.readUInt8(need(1));
    case 115: // s
      return buffer.readInt16BE(need(2));
    case 117: // u
      return buffer.readUInt16BE(need(2));
    case 73: // I
      return buffer.readInt32BE(need(4));
    case 105: // i
      return buffer.readUInt32BE(need(4));
    case 108: // l
      return Number(buffer.readBigInt64BE(need(8)));
    case 84: // T
      return Number(buffer.readBigUInt64BE(need(8)));
    case 102: // f
      return buffer.readFloatBE(need(4));
    case 100: // d
      return buffer.readDoubleBE(need(8));
    case 68: {
      // D
      const at = need(5);
      return { scale: buffer.readUInt8(at), value: buffer.readInt32BE(at + 1) };
    }
    case 83: {
      // S
      const start = longBytes(buffer);
      return buffer.toString("utf8", start, pos);
    }
    case 120: // x
      return buffer.subarray(longBytes(buffer), pos);
    case 65: // A
      return array(buffer);
    case 70: // F
      return table(buffer);
    case 86: // V
      return null;
    default:
      throw new Error(`unknown AMQP 0.9.1 type code: ${code}`);
  }
}
