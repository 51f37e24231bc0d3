import { createRequire } from "node:module";
import type { Envelope } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { PublishEncoder } from "./publishFrames.js";

// rabbitmq-client's own encoder (internal, not exported from its index): the reference.
interface Codec {
  encodeFrame(frame: unknown, maxSize?: number): Buffer;
  Cmd: { BasicPublish: number };
  FrameType: { METHOD: number; HEADER: number; BODY: number };
}
const codec = createRequire(import.meta.url)("rabbitmq-client/lib/codec.js") as Codec;

/** What rabbitmq-client's Channel#basicPublish writes for `envelope`, with body frames of at most `frameMax - 8` bytes. */
function reference(channelId: number, frameMax: number, envelope: Envelope, body: Buffer, now: number): Buffer {
  const params: Record<string, unknown> = { timestamp: Math.floor(now / 1000), ...envelope };
  params["deliveryMode"] = params["durable"] || params["deliveryMode"] === 2 ? 2 : 1;
  params["rsvp1"] = 0;
  const frames = [
    codec.encodeFrame({ type: codec.FrameType.METHOD, channelId, methodId: codec.Cmd.BasicPublish, params }),
    codec.encodeFrame({ type: codec.FrameType.HEADER, channelId, bodySize: body.length, fields: params }, frameMax),
  ];
  for (let at = 0; at < body.length; at += frameMax - 8) {
    frames.push(codec.encodeFrame({ type: codec.FrameType.BODY, channelId, payload: body.subarray(at, at + frameMax - 8) }));
  }
  return Buffer.concat(frames);
}

const id = "V1StGXR8_Z5jdHi6B-myT";
const envelopes: Array<[string, Envelope]> = [
  ["nothing but a routing key", { routingKey: "jobs" }],
  ["the default exchange, empty key", { exchange: "", routingKey: "" }],
  ["an event as Producer sends it", { exchange: "events", routingKey: "order.placed", mandatory: true, contentType: "application/json", messageId: id, durable: true, timestamp: 1_764_700_000 }],
  ["a reply", { exchange: "", routingKey: "amq.rabbitmq.reply-to.g1h2AA5yZXQAAA", mandatory: false, contentType: "application/json", correlationId: id, messageId: id }],
  ["a request", { exchange: "rpc", routingKey: "svc", mandatory: true, replyTo: "amq.rabbitmq.reply-to", correlationId: "c-1", expiration: "5000", type: "request" }],
  ["every property", {
    exchange: "x", routingKey: "k", mandatory: true, immediate: true as unknown as string, contentType: "text/plain", contentEncoding: "gzip", headers: { a: 1 },
    priority: 7, correlationId: "c", replyTo: "r", expiration: "60000", messageId: "m", timestamp: 0, type: "t", userId: "guest", appId: "app", clusterId: "cl",
  }],
  ["deliveryMode 2 given instead of durable", { routingKey: "k", deliveryMode: 2 } as Envelope],
  ["timestamp left out (present as undefined)", { routingKey: "k", timestamp: undefined }],
  ["a timestamp past 2^32", { routingKey: "k", timestamp: 2 ** 40 + 5 }],
  ["non-ASCII strings", { exchange: "échange", routingKey: "clé.ü", messageId: "идентификатор", type: "類型", correlationId: "😀" }],
  ["a routing key of exactly 255 bytes", { routingKey: "k".repeat(255) }],
  ["a routing key longer than 255 bytes (cut)", { routingKey: "k".repeat(300), messageId: "m".repeat(256) }],
  ["numbers where strings go", { routingKey: "k", messageId: 42 as unknown as string, expiration: 1000 as unknown as string }],
  ["headers of every type", {
    routingKey: "k",
    headers: {
      str: "text", empty: "", long: "é".repeat(400), yes: true, no: false, i8: -128, i8b: 127, i16: -32768, i16b: 300, i32: 70_000, i32n: -2_000_000_000,
      i64: 2 ** 40, i64n: -(2 ** 40), big: 12345678901234567n, double: 1.5, negDouble: -0.25, inf: Number.POSITIVE_INFINITY, nil: null, skipped: undefined,
      list: [1, "two", true, null, [3], { in: "table" }, undefined, 2.5], nested: { deeper: { deepest: 1 } }, emptyTable: {}, emptyList: [], "ключ": "значение", CC: ["a", "b"],
    },
  }],
  ["headers given as a Map", { routingKey: "k", headers: new Map<string, unknown>([["a", 1], ["b", "two"]]) as unknown as Envelope["headers"] }],
  ["headers with values AMQP has no type for (left out)", { routingKey: "k", headers: { fn: () => 1, sym: Symbol("s"), kept: 1 } }],
];

describe("PublishEncoder", () => {
  const bodies: Array<[string, Buffer]> = [
    ["an empty body", Buffer.alloc(0)],
    ["a small body", Buffer.from('{"hello":"world"}')],
    ["a body of exactly one frame", Buffer.alloc(4096 - 8, 7)],
    ["a body one byte over a frame", Buffer.alloc(4096 - 7, 9)],
    ["a body of several frames", Buffer.from(Array.from({ length: 20_000 }, (_, i) => i % 251))],
    ["a body larger than the slab piece limit", Buffer.alloc(100_000, 3)],
  ];

  for (const [what, envelope] of envelopes) {
    it(`matches rabbitmq-client byte for byte: ${what}`, () => {
      for (const [, body] of bodies) {
        for (const channelId of [1, 258, 2047]) {
          const encoder = new PublishEncoder(channelId, 4096);
          const before = Date.now();
          const ours = encoder.encode(envelope, body);
          // Twice: the second time the method frame comes from the cache.
          const again = encoder.encode(envelope, body);
          const after = Date.now();
          // The default timestamp is "now": any second the two encodings may have run in.
          const candidates: Buffer[] = [];
          for (let second = Math.floor(before / 1000); second <= Math.floor(after / 1000); second += 1) {
            candidates.push(reference(channelId, 4096, envelope, body, second * 1000));
          }
          expect(candidates.some((candidate) => candidate.equals(ours)), `${what}, body ${body.length} B, channel ${channelId}`).toBe(true);
          expect(candidates.some((candidate) => candidate.equals(again)), `${what}, again`).toBe(true);
        }
      }
    });
  }

  it("keeps every frame within the frame size limit and splits the body in order", () => {
    const body = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) % 256));
    for (const frameMax of [4096, 8192, 131_072]) {
      const frames = parseFrames(new PublishEncoder(5, frameMax).encode({ routingKey: "k" }, body));
      expect(frames.map((f) => f.type).slice(0, 2)).toEqual([1, 2]);
      for (const frame of frames) {
        expect(frame.payload.length + 8).toBeLessThanOrEqual(frameMax);
        expect(frame.channel).toBe(5);
      }
      const bodyFrames = frames.filter((f) => f.type === 3);
      expect(bodyFrames.length).toBe(Math.ceil(body.length / (frameMax - 8)));
      expect(Buffer.concat(bodyFrames.map((f) => f.payload)).equals(body)).toBe(true);
    }
  });

  it("sends no body frame for an empty body", () => {
    const frames = parseFrames(new PublishEncoder(1, 4096).encode({ routingKey: "k" }, Buffer.alloc(0)));
    expect(frames.map((f) => f.type)).toEqual([1, 2]);
  });

  it("gives each publish its own bytes: a later publish does not overwrite an earlier one's", () => {
    const encoder = new PublishEncoder(1, 131_072);
    const first = encoder.encode({ routingKey: "a", messageId: "1" }, Buffer.from("first"));
    const copy = Buffer.from(first);
    for (let i = 0; i < 20_000; i += 1) encoder.encode({ routingKey: `key-${i % 700}`, messageId: String(i) }, Buffer.alloc(i % 50, 1));
    expect(first.equals(copy)).toBe(true);
  });

  it("refuses properties larger than a frame, and values AMQP cannot carry, like rabbitmq-client", () => {
    const encoder = new PublishEncoder(1, 4096);
    expect(() => encoder.encode({ routingKey: "k", headers: { big: "x".repeat(5000) } }, Buffer.alloc(0))).toThrow(/frame size limit of 4096/);
    expect(() => encoder.encode({ routingKey: "k", timestamp: -1 }, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => encoder.encode({ routingKey: "k", headers: { nan: Number.NaN } }, Buffer.alloc(0))).toThrow(RangeError);
  });
});

function parseFrames(bytes: Buffer): Array<{ type: number; channel: number; payload: Buffer }> {
  const frames: Array<{ type: number; channel: number; payload: Buffer }> = [];
  let at = 0;
  while (at < bytes.length) {
    const size = bytes.readUInt32BE(at + 3);
    frames.push({ type: bytes[at] as number, channel: bytes.readUInt16BE(at + 1), payload: bytes.subarray(at + 7, at + 7 + size) });
    expect(bytes[at + 7 + size]).toBe(0xce);
    at += 8 + size;
  }
  return frames;
}
