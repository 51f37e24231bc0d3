import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Channel } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { directAcks, encodeAck } from "./directAcks.js";

const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve("rabbitmq-client")), "codec.js")) as { encodeFrame(frame: unknown): Buffer; Cmd: { BasicAck: number } };

/** A channel as far as directAcks looks at it: its frame queue (the library's EncoderStream) and that queue's socket. */
function fakeChannel() {
  const written: Buffer[] = [];
  const libraryAcks: Array<{ deliveryTag?: number; multiple?: boolean }> = [];
  const stream = { writable: true, writableLength: 0, _cur: undefined as unknown, _out: { write: (chunk: Buffer) => written.push(chunk) } };
  const channel = {
    active: true,
    id: 7,
    _state: { stream },
    basicAck(params: { deliveryTag?: number; multiple?: boolean }) {
      libraryAcks.push(params);
    },
  };
  directAcks(channel as unknown as Channel);
  return { channel, stream, written, libraryAcks };
}

describe("direct acks", () => {
  it("encode basic.ack byte for byte as rabbitmq-client's codec does", () => {
    for (const [deliveryTag, multiple] of [
      [1, false],
      [255, true],
      [2 ** 32 + 5, false],
      [2 ** 53 - 1, true],
    ] as const) {
      expect(encodeAck(3, deliveryTag, multiple).equals(codec.encodeFrame({ type: 1, channelId: 3, methodId: codec.Cmd.BasicAck, params: { deliveryTag, multiple } }))).toBe(true);
    }
  });

  it("write the ack to the channel's socket while its frame queue is empty", () => {
    const { channel, written, libraryAcks } = fakeChannel();
    channel.basicAck({ deliveryTag: 12, multiple: true });
    expect(written.map((b) => b.toString("hex"))).toEqual([encodeAck(7, 12, true).toString("hex")]);
    expect(libraryAcks).toEqual([]);
  });

  it("leave the ack to the library while the queue holds frames (never overtaking them), and on a closed channel", () => {
    const { channel, stream, written, libraryAcks } = fakeChannel();
    stream.writableLength = 1;
    channel.basicAck({ deliveryTag: 1 });
    stream.writableLength = 0;
    stream._cur = {};
    channel.basicAck({ deliveryTag: 2 });
    stream._cur = undefined;
    channel.active = false;
    channel.basicAck({ deliveryTag: 3 });
    channel.active = true;
    stream.writable = false;
    channel.basicAck({ deliveryTag: 4 });
    expect(libraryAcks.map((a) => a.deliveryTag)).toEqual([1, 2, 3, 4]);
    expect(written).toEqual([]);
  });

  it("leave a channel whose internals they do not know to the library", () => {
    const libraryAcks: number[] = [];
    const channel = { active: true, id: 1, _state: {}, basicAck: (p: { deliveryTag: number }) => libraryAcks.push(p.deliveryTag) };
    directAcks(channel as unknown as Channel);
    channel.basicAck({ deliveryTag: 9 });
    expect(libraryAcks).toEqual([9]);
  });
});
