import { EventEmitter } from "node:events";
import type { Connection } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { OutboundChannel, type OutboundEvents } from "./OutboundChannel.js";

// The fail-closed checks of OutboundChannel.open, on stand-ins for rabbitmq-client's objects (the
// real library is covered by RabbitDriver.test.ts and the contract suite).

const CONFIRM_SELECT_OK = (85 << 16) | 11;
const BASIC_ACK = (60 << 16) | 80;

class FakeChannel extends EventEmitter {
  readonly id = 1;
  active = true;
  closed = false;
  methods: number[] = [];
  _onMethod?: (frame: { methodId: number; params?: unknown }) => void = (frame) => {
    this.methods.push(frame.methodId);
  };

  constructor(private readonly confirmThroughHook: boolean) {
    super();
  }

  async confirmSelect(): Promise<void> {
    if (this.confirmThroughHook) this._onMethod?.({ methodId: CONFIRM_SELECT_OK });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.active = false;
  }
}

function fakeConnection(channel: FakeChannel, internals: { _socket?: unknown; _state?: unknown }): { connection: Connection; written: Buffer[] } {
  const written: Buffer[] = [];
  const socket = { destroyed: false, writableNeedDrain: false, write: (chunk: Buffer) => written.push(chunk) > 0, once: () => undefined };
  const connection = { _socket: socket, _state: { frameMax: 4096 }, ...internals, acquire: async () => channel };
  return { connection: connection as unknown as Connection, written };
}

const events: OutboundEvents = {
  onReturn: () => undefined,
  onUnclaimedError: (error) => {
    throw error;
  },
  expired: () => new Error("expired"),
};

describe("OutboundChannel.open", () => {
  it("takes over a channel of the expected shape: acks settle its publishes, other methods reach the library", async () => {
    const channel = new FakeChannel(true);
    const { connection, written } = fakeConnection(channel, {});
    const out = await OutboundChannel.open(connection, true, events);
    let acked = false;
    out.send({ routingKey: "k" }, Buffer.from("x"), { deadline: Number.POSITIVE_INFINITY, exchange: "", confirmed: () => (acked = true), failed: () => undefined });
    expect(written.length).toBe(1);
    channel._onMethod?.({ methodId: BASIC_ACK, params: { deliveryTag: 1, multiple: false } });
    expect(acked).toBe(true);
    // confirm.select-ok went on to the library; the ack did not.
    expect(channel.methods).toEqual([CONFIRM_SELECT_OK]);
  });

  it("refuses a channel without _onMethod (UNSUPPORTED_CLIENT) and closes it", async () => {
    const channel = new FakeChannel(true);
    channel._onMethod = undefined;
    await expect(OutboundChannel.open(fakeConnection(channel, {}).connection, true, events)).rejects.toMatchObject({ code: "UNSUPPORTED_CLIENT", message: expect.stringContaining("Channel#_onMethod") });
    expect(channel.closed).toBe(true);
  });

  it("refuses a confirm channel whose confirm.select-ok does not pass through the hook", async () => {
    const channel = new FakeChannel(false);
    await expect(OutboundChannel.open(fakeConnection(channel, {}).connection, true, events)).rejects.toMatchObject({ code: "UNSUPPORTED_CLIENT", message: expect.stringContaining("confirm.select-ok") });
    expect(channel.closed).toBe(true);
  });

  it("refuses a connection without a socket or a negotiated frame size", async () => {
    for (const internals of [{ _socket: undefined }, { _state: {} }, { _state: { frameMax: "8192" } }]) {
      const channel = new FakeChannel(true);
      await expect(OutboundChannel.open(fakeConnection(channel, internals).connection, false, events)).rejects.toMatchObject({ code: "UNSUPPORTED_CLIENT" });
      expect(channel.closed).toBe(true);
    }
  });
});
