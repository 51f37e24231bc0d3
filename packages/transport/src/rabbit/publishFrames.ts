import type { Envelope } from "rabbitmq-client";
import { TransportError } from "../errors.js";

/**
 * AMQP 0-9-1 encoding of one `basic.publish` (method frame, content header frame, body frames)
 * into a single buffer, for the driver's own publish path (`OutboundChannel.ts`).
 *
 * rabbitmq-client builds a publish from a generator that encodes each frame into a Buffer of its
 * own through generic, table-driven codecs (an object walk per field, `Buffer.byteLength` per
 * string, a BigInt per timestamp). This encoder writes the same bytes straight into slices of one
 * shared slab, keeps the encoded method frame per exchange and routing key, and writes short ASCII
 * strings with a loop. Its output equals rabbitmq-client's for every envelope field it takes
 * (`publishFrames.test.ts` compares them byte for byte), with one deliberate difference: a body
 * frame carries at most `frameMax - 8` bytes (the frame limit counts the 8 bytes of frame header
 * and end), where rabbitmq-client puts `frameMax` bytes in one and relies on the broker's slack.
 * @internal
 */

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
/** Frame type, channel, size before the payload; the end octet after it. */
const FRAME_OVERHEAD = 8;
/** Class 60 (basic), method 40 (publish). */
const BASIC_PUBLISH = 0x003c0028;
/** Class 60 (basic) and weight 0, the start of a content header payload. */
const BASIC_CONTENT = 0x003c0000;
const SHORTSTR_MAX = 255;
const TWO_32 = 0x1_0000_0000;

// Property flags, in the order their values follow the flags (AMQP 0-9-1, basic class).
const CONTENT_TYPE = 0x8000;
const CONTENT_ENCODING = 0x4000;
const HEADERS = 0x2000;
const DELIVERY_MODE = 0x1000;
const PRIORITY = 0x0800;
const CORRELATION_ID = 0x0400;
const REPLY_TO = 0x0200;
const EXPIRATION = 0x0100;
const MESSAGE_ID = 0x0080;
const TIMESTAMP = 0x0040;
const TYPE = 0x0020;
const USER_ID = 0x0010;
const APP_ID = 0x0008;
const CLUSTER_ID = 0x0004;

/** The shared slab publishes are encoded into (each publish keeps its own slice: nothing is reused while a write may hold it). */
const SLAB_SIZE = 256 * 1024;
/** Publishes needing more than this get a buffer of their own. */
const SLAB_MAX_PIECE = 32 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

/** Room for `size` bytes at `slabUsed` (a new slab when this one is full). */
function reserve(size: number): Buffer {
  if (size > SLAB_MAX_PIECE) return Buffer.allocUnsafeSlow(size);
  if (slabUsed + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  return slab;
}

/** Method frames kept per (mandatory, immediate) pair, exchange and routing key. */
const METHOD_CACHE_MAX = 512;

/** A string field value as rabbitmq-client sees it: `null`/`undefined` empty, numbers as text. */
function asText(value: unknown): string {
  return value == null ? "" : String(value);
}

/** Upper bound of a short string's encoded size: a UTF-16 unit is at most 3 bytes of UTF-8. */
function shortStrBound(text: string): number {
  return 1 + Math.min(text.length * 3, SHORTSTR_MAX);
}

/** Writes `text` as an AMQP short string at `offset`; returns the offset after it. Longer than 255 bytes is cut (as rabbitmq-client does). */
function writeShortStr(buf: Buffer, offset: number, text: string): number {
  const length = text.length;
  if (length <= SHORTSTR_MAX) {
    let i = 0;
    for (; i < length; i += 1) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) break;
      buf[offset + 1 + i] = code;
    }
    if (i === length) {
      buf[offset] = length;
      return offset + 1 + length;
    }
  }
  const bytes = Buffer.byteLength(text);
  const kept = Math.min(bytes, SHORTSTR_MAX);
  const written = buf.write(text, offset + 1, kept, "utf8");
  // A multi-byte character cut at 255 bytes is left out by Buffer#write: keep the length byte true to what was written
  // (rabbitmq-client would leave those bytes unwritten, garbage).
  if (written < kept) buf.fill(0, offset + 1 + written, offset + 1 + kept);
  buf[offset] = kept;
  return offset + 1 + kept;
}

/** Writes an unsigned 64-bit integer (a timestamp, a body size). Non-integers and negatives throw, as rabbitmq-client's BigInt conversion does. */
function writeUint64(buf: Buffer, offset: number, value: number): number {
  if (Number.isSafeInteger(value) && value >= 0) {
    buf.writeUInt32BE(Math.floor(value / TWO_32), offset);
    buf.writeUInt32BE(value >>> 0, offset + 4);
    return offset + 8;
  }
  return buf.writeBigUInt64BE(BigInt(value), offset);
}

// ---- field tables (headers): the type rules of rabbitmq-client's getBestType, so the bytes match ----

type FieldKind = "S" | "t" | "d" | "b" | "s" | "I" | "l" | "A" | "V" | "F" | undefined;

function kindOf(value: unknown): FieldKind {
  switch (typeof value) {
    case "string":
      return "S";
    case "boolean":
      return "t";
    case "number":
      // Past 2^50 a float cannot be told from an integer: such numbers go as 64-bit integers.
      if (value >= 0x8000000000000000 || (value > -0x4000000000000 && value < 0x4000000000000 && Math.floor(value) !== value)) return "d";
      if (value >= -0x80 && value < 0x80) return "b";
      if (value >= -0x8000 && value < 0x8000) return "s";
      if (value >= -0x80000000 && value < 0x80000000) return "I";
      return "l";
    case "bigint":
      return "l";
    case "object":
      if (Array.isArray(value)) return "A";
      if (value === null) return "V";
      return "F";
    default:
      return undefined;
  }
}

function tableEntries(table: object): Iterable<[unknown, unknown]> {
  return table instanceof Map ? (table.entries() as Iterable<[unknown, unknown]>) : Object.entries(table);
}

function valueSize(kind: FieldKind, value: unknown): number {
  switch (kind) {
    case "S":
      return 4 + Math.min(Buffer.byteLength(value as string), 0xffffffff);
    case "t":
    case "b":
      return 1;
    case "s":
      return 2;
    case "I":
      return 4;
    case "d":
    case "l":
      return 8;
    case "A":
      return arraySize(value as unknown[]);
    case "V":
      return 0;
    case "F":
      return tableSize(value as object);
    default:
      return 0;
  }
}

function arraySize(items: unknown[]): number {
  let size = 4;
  for (const item of items) {
    const kind = kindOf(item);
    if (kind !== undefined) size += 1 + valueSize(kind, item);
  }
  return size;
}

function tableSize(table: object): number {
  let size = 4;
  for (const [key, value] of tableEntries(table)) {
    if (value === undefined) continue;
    const kind = kindOf(value);
    if (kind === undefined) continue;
    size += 1 + Math.min(Buffer.byteLength(String(key)), SHORTSTR_MAX) + 1 + valueSize(kind, value);
  }
  return size;
}

function writeValue(buf: Buffer, offset: number, kind: FieldKind, value: unknown): number {
  switch (kind) {
    case "S": {
      const text = value as string;
      const length = Math.min(Buffer.byteLength(text), 0xffffffff);
      buf.writeUInt32BE(length, offset);
      buf.write(text, offset + 4, length, "utf8");
      return offset + 4 + length;
    }
    case "t":
      buf[offset] = value ? 1 : 0;
      return offset + 1;
    case "b":
      return buf.writeInt8(value as number, offset);
    case "s":
      return buf.writeInt16BE(value as number, offset);
    case "I":
      return buf.writeInt32BE(value as number, offset);
    case "l":
      return buf.writeBigInt64BE(BigInt(value as number | bigint), offset);
    case "d":
      return buf.writeDoubleBE(value as number, offset);
    case "A":
      return writeArray(buf, offset, value as unknown[]);
    case "V":
      return offset;
    case "F":
      return writeTable(buf, offset, value as object);
    default:
      return offset;
  }
}

function writeArray(buf: Buffer, offset: number, items: unknown[]): number {
  const start = offset;
  offset += 4;
  for (const item of items) {
    const kind = kindOf(item);
    if (kind === undefined) continue;
    buf[offset] = kind.charCodeAt(0);
    offset = writeValue(buf, offset + 1, kind, item);
  }
  buf.writeUInt32BE(offset - start - 4, start);
  return offset;
}

function writeTable(buf: Buffer, offset: number, table: object): number {
  const start = offset;
  offset += 4;
  for (const [key, value] of tableEntries(table)) {
    if (value === undefined) continue;
    const kind = kindOf(value);
    if (kind === undefined) continue;
    offset = writeShortStr(buf, offset, String(key));
    buf[offset] = kind.charCodeAt(0);
    offset = writeValue(buf, offset + 1, kind, value);
  }
  buf.writeUInt32BE(offset - start - 4, start);
  return offset;
}

/**
 * Encodes the publishes of one channel. Not shared between channels: the channel id is part of
 * every frame, and the method frames it keeps carry it.
 * @internal
 */
export class PublishEncoder {
  /** Method frames by flag bits (mandatory 1, immediate 2), then exchange, then routing key. */
  private readonly methods: Array<Map<string, Map<string, Buffer>>> = [new Map(), new Map(), new Map(), new Map()];
  private cachedMethods = 0;
  private readonly bodyFrameMax: number;

  /**
   * @param channelId the AMQP channel the frames are for.
   * @param frameMax the connection's negotiated frame size limit (frame header and end included).
   * @throws {TransportError} `BROKER_ERROR` when `frameMax` is too small to carry a body byte.
   */
  constructor(
    private readonly channelId: number,
    private readonly frameMax: number,
  ) {
    if (!(frameMax > FRAME_OVERHEAD)) throw new TransportError("BROKER_ERROR", `cannot publish with a frame size limit of ${frameMax} bytes`);
    this.bodyFrameMax = frameMax - FRAME_OVERHEAD;
  }

  /**
   * The frames of one publish, in one buffer. Takes the envelope as rabbitmq-client's
   * `Channel#basicPublish` does: `timestamp` defaults to now (seconds) unless the key is present,
   * `deliveryMode` is 2 when `durable` (or `deliveryMode: 2`), else 1.
   * @throws {TransportError} `BROKER_ERROR` when the content header does not fit in one frame;
   *   a `RangeError` for a property value AMQP cannot carry (as rabbitmq-client does).
   */
  encode(envelope: Envelope, body: Buffer): Buffer {
    const method = this.method(envelope);
    const contentType = envelope.contentType;
    const contentEncoding = envelope.contentEncoding;
    const headers = envelope.headers;
    const priority = envelope.priority;
    const correlationId = envelope.correlationId;
    const replyTo = envelope.replyTo;
    const expiration = envelope.expiration;
    const messageId = envelope.messageId;
    const timestamp = envelope.timestamp !== undefined ? envelope.timestamp : "timestamp" in envelope ? undefined : Math.floor(Date.now() / 1000);
    const type = envelope.type;
    const userId = envelope.userId;
    const appId = envelope.appId;
    const clusterId = envelope.clusterId;

    // Upper bound of the header payload (14 bytes of class, weight, body size and flags, plus properties).
    let bound = 14 + 1;
    if (contentType != null) bound += shortStrBound(asText(contentType));
    if (contentEncoding != null) bound += shortStrBound(asText(contentEncoding));
    const headersSize = headers != null ? tableSize(headers) : 0;
    bound += headersSize;
    if (priority != null) bound += 1;
    if (correlationId != null) bound += shortStrBound(asText(correlationId));
    if (replyTo != null) bound += shortStrBound(asText(replyTo));
    if (expiration != null) bound += shortStrBound(asText(expiration));
    if (messageId != null) bound += shortStrBound(asText(messageId));
    if (timestamp != null) bound += 8;
    if (type != null) bound += shortStrBound(asText(type));
    if (userId != null) bound += shortStrBound(asText(userId));
    if (appId != null) bound += shortStrBound(asText(appId));
    if (clusterId != null) bound += shortStrBound(asText(clusterId));

    const bodySize = body.length;
    const bodyFrames = Math.ceil(bodySize / this.bodyFrameMax);
    const need = method.length + FRAME_OVERHEAD + bound + bodySize + bodyFrames * FRAME_OVERHEAD;
    const buf = reserve(need);
    const start = buf === slab ? slabUsed : 0;
    let offset = start + method.copy(buf, start);

    // Content header frame; its size is filled in once the properties are written.
    const headerStart = offset;
    buf[offset] = FRAME_HEADER;
    buf.writeUInt16BE(this.channelId, offset + 1);
    buf.writeUInt32BE(BASIC_CONTENT, offset + 7);
    writeUint64(buf, offset + 11, bodySize);
    const flagsAt = offset + 19;
    offset += 21;
    let flags = DELIVERY_MODE;
    if (contentType != null) {
      flags |= CONTENT_TYPE;
      offset = writeShortStr(buf, offset, asText(contentType));
    }
    if (contentEncoding != null) {
      flags |= CONTENT_ENCODING;
      offset = writeShortStr(buf, offset, asText(contentEncoding));
    }
    if (headers != null) {
      flags |= HEADERS;
      offset = writeTable(buf, offset, headers);
    }
    buf[offset] = envelope.durable || (envelope as { deliveryMode?: number }).deliveryMode === 2 ? 2 : 1;
    offset += 1;
    if (priority != null) {
      flags |= PRIORITY;
      offset = buf.writeUInt8(priority, offset);
    }
    if (correlationId != null) {
      flags |= CORRELATION_ID;
      offset = writeShortStr(buf, offset, asText(correlationId));
    }
    if (replyTo != null) {
      flags |= REPLY_TO;
      offset = writeShortStr(buf, offset, asText(replyTo));
    }
    if (expiration != null) {
      flags |= EXPIRATION;
      offset = writeShortStr(buf, offset, asText(expiration));
    }
    if (messageId != null) {
      flags |= MESSAGE_ID;
      offset = writeShortStr(buf, offset, asText(messageId));
    }
    if (timestamp != null) {
      flags |= TIMESTAMP;
      offset = writeUint64(buf, offset, timestamp);
    }
    if (type != null) {
      flags |= TYPE;
      offset = writeShortStr(buf, offset, asText(type));
    }
    if (userId != null) {
      flags |= USER_ID;
      offset = writeShortStr(buf, offset, asText(userId));
    }
    if (appId != null) {
      flags |= APP_ID;
      offset = writeShortStr(buf, offset, asText(appId));
    }
    if (clusterId != null) {
      flags |= CLUSTER_ID;
      offset = writeShortStr(buf, offset, asText(clusterId));
    }
    buf.writeUInt16BE(flags, flagsAt);
    const headerPayload = offset - headerStart - 7;
    if (headerPayload + FRAME_OVERHEAD > this.frameMax) {
      throw new TransportError("BROKER_ERROR", `the message's properties take ${headerPayload + FRAME_OVERHEAD} bytes, more than the connection's frame size limit of ${this.frameMax}: send fewer or smaller headers`);
    }
    buf.writeUInt32BE(headerPayload, headerStart + 3);
    buf[offset] = FRAME_END;
    offset += 1;

    for (let at = 0; at < bodySize; at += this.bodyFrameMax) {
      const piece = Math.min(this.bodyFrameMax, bodySize - at);
      buf[offset] = FRAME_BODY;
      buf.writeUInt16BE(this.channelId, offset + 1);
      buf.writeUInt32BE(piece, offset + 3);
      body.copy(buf, offset + 7, at, at + piece);
      offset += 7 + piece;
      buf[offset] = FRAME_END;
      offset += 1;
    }
    if (buf === slab) slabUsed = offset;
    return buf.subarray(start, offset);
  }

  /** The `basic.publish` method frame for the envelope's exchange, routing key and flags (kept for reuse). */
  private method(envelope: Envelope): Buffer {
    const exchange = asText(envelope.exchange);
    const routingKey = asText(envelope.routingKey);
    const byExchange = this.methods[(envelope.mandatory ? 1 : 0) | (envelope.immediate ? 2 : 0)] as Map<string, Map<string, Buffer>>;
    let byKey = byExchange.get(exchange);
    const cached = byKey?.get(routingKey);
    if (cached !== undefined) return cached;
    const frame = Buffer.allocUnsafe(7 + 4 + 2 + shortStrBound(exchange) + shortStrBound(routingKey) + 1 + 1);
    frame[0] = FRAME_METHOD;
    frame.writeUInt16BE(this.channelId, 1);
    frame.writeUInt32BE(BASIC_PUBLISH, 7);
    frame.writeUInt16BE(0, 11);
    let offset = writeShortStr(frame, 13, exchange);
    offset = writeShortStr(frame, offset, routingKey);
    frame[offset] = (envelope.mandatory ? 1 : 0) | (envelope.immediate ? 2 : 0);
    offset += 1;
    frame.writeUInt32BE(offset - 7, 3);
    frame[offset] = FRAME_END;
    const exact = frame.subarray(0, offset + 1);
    // Routing keys that change per message (an id in the key) must not grow the cache without bound.
    if (this.cachedMethods >= METHOD_CACHE_MAX) {
      for (const map of this.methods) map.clear();
      this.cachedMethods = 0;
      byKey = undefined;
    }
    if (byKey === undefined) {
      byKey = new Map();
      byExchange.set(exchange, byKey);
    }
    byKey.set(routingKey, exact);
    this.cachedMethods += 1;
    return exact;
  }
}
