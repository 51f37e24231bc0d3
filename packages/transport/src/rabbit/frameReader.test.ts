import { describe, expect, it } from "vitest";
import { FRAME_BODY, FRAME_HEARTBEAT, FRAME_METHOD, FrameReader } from "./frameReader.js";

interface Cut {
  type: number;
  channel: number;
  payload: string;
}

function frame(type: number, channel: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt8(type, 0);
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([0xce])]);
}

const HEARTBEAT = frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0));

function collector(maxPayload = 1 << 20): { reader: FrameReader; cuts: Cut[] } {
  const cuts: Cut[] = [];
  const reader = new FrameReader((type, channel, buffer, start, size) => {
    cuts.push({ type, channel, payload: buffer.subarray(start, start + size).toString("hex") });
    return true;
  }, maxPayload);
  return { reader, cuts };
}

/** A stream of frames of every kind: a method, a big body, heartbeats between, an empty body. */
function stream(): { bytes: Buffer; expected: Cut[] } {
  const big = Buffer.alloc(3_000);
  for (let i = 0; i < big.length; i += 1) big[i] = (i * 7) & 0xff;
  const frames: Array<[number, number, Buffer]> = [
    [FRAME_METHOD, 1, Buffer.from("003c003c0000", "hex")],
    [FRAME_HEARTBEAT, 0, Buffer.alloc(0)],
    [FRAME_BODY, 1, big],
    [FRAME_BODY, 65535, Buffer.from([0xce, 0xce])],
    [FRAME_HEARTBEAT, 0, Buffer.alloc(0)],
    [FRAME_BODY, 2, Buffer.alloc(0)],
  ];
  return {
    bytes: Buffer.concat(frames.map(([type, channel, payload]) => frame(type, channel, payload))),
    expected: frames.map(([type, channel, payload]) => ({ type, channel, payload: payload.toString("hex") })),
  };
}

describe("FrameReader", () => {
  it("cuts many frames from one chunk, without copying their payloads", () => {
    const { bytes, expected } = stream();
    const { reader, cuts } = collector();
    const seen: Buffer[] = [];
    const sharing = new FrameReader((_type, _channel, buffer) => {
      seen.push(buffer);
      return true;
    }, 1 << 20);
    reader.push(bytes);
    sharing.push(bytes);
    expect(cuts).toEqual(expected);
    expect(seen.every((buffer) => buffer === bytes)).toBe(true);
    expect(reader.pending).toBe(0);
  });

  it("puts frames split at every byte boundary back together (two chunks)", () => {
    const { bytes, expected } = stream();
    for (let split = 1; split < bytes.length; split += 1) {
      const { reader, cuts } = collector();
      reader.push(bytes.subarray(0, split));
      reader.push(bytes.subarray(split));
      expect(cuts, `split at ${split}`).toEqual(expected);
      expect(reader.pending).toBe(0);
    }
  });

  it("puts frames together when every byte comes in a chunk of its own", () => {
    const { bytes, expected } = stream();
    const { reader, cuts } = collector();
    for (let i = 0; i < bytes.length; i += 1) reader.push(bytes.subarray(i, i + 1));
    expect(cuts).toEqual(expected);
    expect(reader.pending).toBe(0);
  });

  it("keeps a partial frame until the rest comes", () => {
    const { reader, cuts } = collector();
    reader.push(HEARTBEAT.subarray(0, 5));
    expect(cuts).toEqual([]);
    expect(reader.pending).toBe(5);
    reader.push(HEARTBEAT.subarray(5));
    expect(cuts).toHaveLength(1);
  });

  it("pauses when the sink says so and goes on, in order, on resume", () => {
    const { bytes, expected } = stream();
    const cuts: Cut[] = [];
    const reader = new FrameReader((type, channel, buffer, start, size) => {
      cuts.push({ type, channel, payload: buffer.subarray(start, start + size).toString("hex") });
      return type !== FRAME_METHOD;
    }, 1 << 20);
    reader.push(bytes.subarray(0, 100));
    expect(cuts).toHaveLength(1);
    expect(reader.isPaused).toBe(true);
    reader.push(bytes.subarray(100));
    expect(cuts).toHaveLength(1);
    reader.resume();
    expect(cuts).toEqual(expected);
  });

  it("fails with FRAME_ERROR on a wrong frame-end octet, and stays failed", () => {
    const { reader } = collector();
    const bad = Buffer.from(HEARTBEAT);
    bad[7] = 0;
    expect(() => reader.push(bad)).toThrowError(expect.objectContaining({ code: "FRAME_ERROR", message: expect.stringContaining("FRAME_END") }));
    expect(() => reader.push(HEARTBEAT)).toThrowError(expect.objectContaining({ code: "FRAME_ERROR" }));
  });

  it("fails with FRAME_ERROR on a frame larger than frame-max, before waiting for its bytes", () => {
    const { reader, cuts } = collector(4_088);
    const head = Buffer.from([FRAME_BODY, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    expect(() => reader.push(head)).toThrowError(expect.objectContaining({ code: "FRAME_ERROR", message: expect.stringContaining("exceeds") }));
    expect(cuts).toEqual([]);
  });

  it("builds its errors with the given factory (the client's connection error)", () => {
    class Custom extends Error {}
    const reader = new FrameReader(() => true, 10, (_code, message) => new Custom(message));
    expect(() => reader.push(Buffer.from([FRAME_BODY, 0, 1, 0, 0, 0, 11]))).toThrowError(Custom);
  });
});
