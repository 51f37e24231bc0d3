import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { toProperties } from "./amqpMessages.js";
import { decodeConfirm, decodeContentHeader, decodeDeliver, RecentFields } from "./inboundDecoding.js";
import { InboundMessage } from "./inboundMessage.js";

// rabbitmq-client's own codec is the reference: our decoders must give exactly its values.
interface LibraryFrame {
  params?: Record<string, unknown>;
  fields?: Record<string, unknown>;
  bodySize?: number;
}
const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve("rabbitmq-client")), "codec.js")) as {
  encodeFrame(frame: unknown, frameMax?: number): Buffer;
  decodeFrame(read: (n: number) => Promise<Buffer>): Promise<LibraryFrame>;
  Cmd: Record<string, number>;
};
const Cmd = codec.Cmd as { BasicDeliver: number; BasicAck: number; BasicNack: number };

function libraryDecode(bytes: Buffer): Promise<LibraryFrame> {
  let at = 0;
  return codec.decodeFrame((n) => {
    const slice = bytes.subarray(at, at + n);
    at += n;
    return Promise.resolve(slice);
  });
}

/** Payload bounds of a single encoded frame. */
function payload(bytes: Buffer): [number, number] {
  return [7, 7 + bytes.readUInt32BE(3)];
}

/** A content header frame with a headers table written by hand, with every field type the codec knows. */
function headerWithEveryType(): Buffer {
  const parts: Buffer[] = [];
  const key = (name: string): Buffer => Buffer.concat([Buffer.from([name.length]), Buffer.from(name)]);
  const typed = (name: string, code: string, value: Buffer): void => {
    parts.push(key(name), Buffer.from(code), value);
  };
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  typed("t", "t", Buffer.from([1]));
  typed("f", "t", Buffer.from([0]));
  typed("b", "b", Buffer.from([0xfe]));
  typed("B", "B", Buffer.from([0xfe]));
  typed("s", "s", Buffer.from([0xff, 0x00]));
  typed("u", "u", Buffer.from([0xff, 0x00]));
  typed("I", "I", Buffer.from([0xff, 0xff, 0xff, 0xfe]));
  typed("i", "i", Buffer.from([0xff, 0xff, 0xff, 0xfe]));
  typed("l", "l", Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]));
  typed("big", "l", Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  typed("T", "T", Buffer.from([0, 0, 0, 0, 0x65, 0x00, 0x00, 0x01]));
  typed("fl", "f", Buffer.from([0x3f, 0xc0, 0, 0]));
  typed("d", "d", Buffer.from([0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]));
  typed("D", "D", Buffer.from([2, 0, 0, 0x30, 0x39]));
  typed("S", "S", Buffer.concat([u32(4), Buffer.from("h\u00e9!")]));
  typed("x", "x", Buffer.concat([u32(3), Buffer.from([0, 0xff, 0x80])]));
  typed("V", "V", Buffer.alloc(0));
  const inner = Buffer.concat([key("k"), Buffer.from("S"), u32(1), Buffer.from("v")]);
  typed("F", "F", Buffer.concat([u32(inner.length), inner]));
  const items = Buffer.concat([Buffer.from("I"), Buffer.from([0, 0, 0, 7]), Buffer.from("t"), Buffer.from([1]), Buffer.from("V")]);
  typed("A", "A", Buffer.concat([u32(items.length), items]));
  const table = Buffer.concat(parts);
  const props = Buffer.concat([u32(table.length), table]);
  const head = Buffer.alloc(14);
  head.writeUInt16BE(60, 0);
  head.writeBigUInt64BE(5n, 4);
  head.writeUInt16BE(0x2000, 12);
  const content = Buffer.concat([head, props]);
  const frame = Buffer.alloc(8 + content.length);
  frame.writeUInt8(2, 0);
  frame.writeUInt16BE(1, 1);
  frame.writeUInt32BE(content.length, 3);
  content.copy(frame, 7);
  frame.writeUInt8(0xce, 7 + content.length);
  return frame;
}

function decodeOurs(frame: Buffer): { message: InboundMessage; bodySize: number } {
  const message = new InboundMessage("tag", 1, false, "", "");
  const [start, end] = payload(frame);
  return { message, bodySize: decodeContentHeader(frame, start, end, message, new RecentFields()) };
}

function expectSameAsLibrary(message: InboundMessage, fields: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(fields)) expect((message as unknown as Record<string, unknown>)[name], name).toEqual(value);
  expect(message.durable).toBe(fields["deliveryMode"] === 2);
  // Our properties are what toProperties made of the library's message.
  expect(message.properties).toEqual(toProperties({ ...fields, durable: fields["deliveryMode"] === 2 }));
}

describe("inbound decoders, against rabbitmq-client's codec", () => {
  const combinations: Array<Record<string, unknown>> = [
    {},
    { contentType: "application/json" },
    { contentType: "text/plain", contentEncoding: "gzip", deliveryMode: 2, priority: 7 },
    { deliveryMode: 1, correlationId: "c-1", replyTo: "amq.rabbitmq.reply-to.g2d", expiration: "60000", messageId: "m\u00e9", timestamp: 1_764_000_000, type: "order.placed", userId: "guest", appId: "app", clusterId: "c" },
    { headers: { "x-death": [{ count: 2, reason: "rejected", queue: "q", time: 5, "routing-keys": ["a", "b"] }], n: 1, neg: -70_000, big: 2 ** 40, f: 1.5, ok: true, none: null, s: "caf\u00e9", nested: { a: { b: "c" } } } },
    { contentType: "application/octet-stream", headers: {}, timestamp: 0, messageId: "" },
  ];

  it.each(combinations.map((fields, index) => [index, fields] as const))("decodes content header %i like the library", async (_index, fields) => {
    const frame = codec.encodeFrame({ type: 2, channelId: 3, bodySize: 123_456, fields }, 131_072);
    const library = await libraryDecode(frame);
    const { message, bodySize } = decodeOurs(frame);
    expect(bodySize).toBe(library.bodySize);
    expectSameAsLibrary(message, library.fields ?? {});
  });

  it("decodes every field-table type like the library", async () => {
    const frame = headerWithEveryType();
    const library = await libraryDecode(frame);
    const { message, bodySize } = decodeOurs(frame);
    expect(bodySize).toBe(5);
    expect(Object.keys(message.headers ?? {})).toHaveLength(19);
    expectSameAsLibrary(message, library.fields ?? {});
  });

  it("keeps a header named __proto__ as a plain field", () => {
    const name = Buffer.from("__proto__");
    const table = Buffer.concat([Buffer.from([name.length]), name, Buffer.from("F"), Buffer.from([0, 0, 0, 0])]);
    const content = Buffer.alloc(14 + 4 + table.length);
    content.writeUInt16BE(0x2000, 12);
    content.writeUInt32BE(table.length, 14);
    table.copy(content, 18);
    const message = new InboundMessage("tag", 1, false, "", "");
    decodeContentHeader(content, 0, content.length, message, new RecentFields());
    expect(Object.getPrototypeOf(message.headers)).toBe(Object.prototype);
    expect(Object.keys(message.headers ?? {})).toEqual(["__proto__"]);
  });

  it("fails with FRAME_ERROR when a field runs past its frame, even with more bytes after it", () => {
    const frame = codec.encodeFrame({ type: 2, channelId: 1, bodySize: 1, fields: { correlationId: "abcdef" } });
    const [start, end] = payload(frame);
    // The short string says 6 bytes; the frame is cut 3 bytes short (the rest of the buffer is still there).
    expect(() => decodeContentHeader(frame, start, end - 3, new InboundMessage("", 1, false, "", ""), new RecentFields())).toThrowError(expect.objectContaining({ code: "FRAME_ERROR" }));
    const table = codec.encodeFrame({ type: 2, channelId: 1, bodySize: 1, fields: { headers: { a: "bcdefgh" } } });
    const [tableStart, tableEnd] = payload(table);
    expect(() => decodeContentHeader(table, tableStart, tableEnd - 2, new InboundMessage("", 1, false, "", ""), new RecentFields())).toThrowError(expect.objectContaining({ code: "FRAME_ERROR" }));
  });

  it("fails on an unknown field-table type, as the library does", async () => {
    const frame = headerWithEveryType();
    // The first value's type code ("t") becomes "?".
    const at = frame.indexOf(Buffer.from([1, 0x74, 0x74, 1]));
    frame[at + 2] = 0x3f;
    await expect(libraryDecode(frame)).rejects.toThrowError(/unknown AMQP 0.9.1 type code: 63/);
    expect(() => decodeOurs(frame)).toThrowError(/unknown AMQP 0.9.1 type code: 63/);
  });

  it("decodes basic.deliver like the library", async () => {
    for (const params of [
      { consumerTag: "amq.ctag-x", deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q" },
      { consumerTag: "", deliveryTag: 2 ** 40 + 3, redelivered: true, exchange: "ex.\u00e9", routingKey: "a.b.c".repeat(40) },
    ]) {
      const frame = codec.encodeFrame({ type: 1, channelId: 9, methodId: Cmd.BasicDeliver, params });
      const library = await libraryDecode(frame);
      const [start, end] = payload(frame);
      const message = decodeDeliver(frame, start, end, new RecentFields());
      expect({ consumerTag: message.consumerTag, deliveryTag: message.deliveryTag, redelivered: message.redelivered, exchange: message.exchange, routingKey: message.routingKey }).toEqual(library.params);
    }
  });

  it("decodes a field that repeats from delivery to delivery right when it changes (same length, other bytes; empty; longer)", () => {
    const tags = ["amq.ctag-aaaa", "amq.ctag-aaaa", "AAAAAAAAAAAAA", "amq.ctag-aaab", "", "amq.ctag-aaab", "amq.ctag-aaab-longer", "\u00e9t\u00e9"];
    const recent = new RecentFields();
    const decoded = tags.map((consumerTag, index) => {
      const frame = codec.encodeFrame({ type: 1, channelId: 1, methodId: Cmd.BasicDeliver, params: { consumerTag, deliveryTag: index + 1, redelivered: false, exchange: consumerTag, routingKey: `k${index % 2}` } });
      const [start, end] = payload(frame);
      const message = decodeDeliver(frame, start, end, recent);
      // The frame's bytes change afterwards (a socket chunk is not ours to keep): what was decoded must not.
      frame.fill(0x41, start, end);
      return message;
    });
    expect(decoded.map((m) => m.consumerTag)).toEqual(tags);
    expect(decoded.map((m) => m.exchange)).toEqual(tags);
    expect(decoded.map((m) => m.routingKey)).toEqual(tags.map((_t, index) => `k${index % 2}`));
  });

  it("keeps each channel's repeated fields apart: interleaved deliveries of two consumers both find theirs", () => {
    const deliver = (consumerTag: string, routingKey: string, deliveryTag: number): Buffer =>
      codec.encodeFrame({ type: 1, channelId: 1, methodId: Cmd.BasicDeliver, params: { consumerTag, deliveryTag, redelivered: false, exchange: "ex", routingKey } });
    const caller = new RecentFields();
    const service = new RecentFields();
    const seen: string[] = [];
    for (let i = 1; i <= 3; i += 1) {
      for (const [recent, tag, key] of [[caller, "amq.ctag-caller", "amq.rabbitmq.reply-to.g1h2"], [service, "amq.ctag-servic", "rpc"]] as const) {
        const frame = deliver(tag, key, i);
        const [start, end] = payload(frame);
        const message = decodeDeliver(frame, start, end, recent);
        seen.push(`${message.consumerTag} ${message.routingKey}`);
      }
    }
    expect(seen).toEqual(Array.from({ length: 3 }, () => ["amq.ctag-caller amq.rabbitmq.reply-to.g1h2", "amq.ctag-servic rpc"]).flat());
    // Each channel holds its own last values, so the next delivery of either compares equal.
    expect([caller.consumerTags.value, caller.routingKeys.value, service.consumerTags.value, service.routingKeys.value]).toEqual(["amq.ctag-caller", "amq.rabbitmq.reply-to.g1h2", "amq.ctag-servic", "rpc"]);
  });

  it("decodes basic.ack and basic.nack like the library", async () => {
    for (const [methodId, params] of [
      [Cmd.BasicAck, { deliveryTag: 17, multiple: true }],
      [Cmd.BasicAck, { deliveryTag: 2 ** 33, multiple: false }],
      [Cmd.BasicNack, { deliveryTag: 5, multiple: false, requeue: true }],
      [Cmd.BasicNack, { deliveryTag: 6, multiple: true, requeue: false }],
    ] as const) {
      const frame = codec.encodeFrame({ type: 1, channelId: 2, methodId, params });
      const library = await libraryDecode(frame);
      const [start, end] = payload(frame);
      expect(decodeConfirm(frame, start, end, methodId === Cmd.BasicNack)).toEqual(library.params);
    }
  });
});
