import { createRequire } from "node:module";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { Connection, type AsyncMessage, type Channel } from "rabbitmq-client";
import { afterEach, describe, expect, it } from "vitest";
import { toDelivery } from "./amqpMessages.js";
import { patchConnection } from "./clientPatches.js";
import { FrameReader } from "./frameReader.js";
import { InboundMessage } from "./inboundMessage.js";
import { inboundPathProblem, inboundSourcesProblem, readsFrames } from "./inboundPath.js";

// The inbound path end to end, against a fake broker speaking AMQP with rabbitmq-client's own codec:
// byte layouts we choose (splits, several frames per write, malformed frames) that RabbitMQ would not produce on demand.

interface LibraryFrame {
  type: number;
  channelId: number;
  methodId?: number;
  params?: Record<string, unknown>;
}
const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve("rabbitmq-client")), "codec.js")) as {
  encodeFrame(frame: unknown, frameMax?: number): Buffer;
  decodeFrame(read: (n: number) => Promise<Buffer>): Promise<LibraryFrame>;
  Cmd: Record<string, number>;
  HEARTBEAT_FRAME: Buffer;
};
const Cmd = codec.Cmd as Record<string, number>;
const FRAME_MAX = 4096;

const method = (channelId: number, name: string, params: Record<string, unknown> = {}): Buffer => codec.encodeFrame({ type: 1, channelId, methodId: Cmd[name], params });

/** The frames of one delivery: deliver, header, body frames of at most frame-max. */
function delivery(channelId: number, consumerTag: string, deliveryTag: number, body: Buffer, fields: Record<string, unknown>): Buffer {
  const frames = [method(channelId, "BasicDeliver", { consumerTag, deliveryTag, redelivered: deliveryTag % 2 === 0, exchange: "ex", routingKey: `key.${deliveryTag}` })];
  frames.push(codec.encodeFrame({ type: 2, channelId, bodySize: body.length, fields }, FRAME_MAX));
  for (let at = 0; at < body.length; at += FRAME_MAX - 8) frames.push(codec.encodeFrame({ type: 3, channelId, payload: body.subarray(at, at + FRAME_MAX - 8) }));
  return Buffer.concat(frames);
}

type Script = (socket: Socket, channelId: number, connectionIndex: number) => void | Promise<void>;

/** A broker that logs in anyone, opens channels, and on basic.consume runs `script` (which must send the consume-ok). */
class FakeBroker {
  readonly server: Server;
  connections = 0;
  readonly acks: number[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(private readonly script: Script) {
    this.server = createServer((socket) => this.serve(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private serve(socket: Socket): void {
    const index = this.connections;
    this.connections += 1;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("error", () => undefined);
    let greeted = false;
    let chain = Promise.resolve();
    const reader = new FrameReader((_type, _channel, buffer, start, size) => {
      const bytes = Buffer.from(buffer.subarray(start - 7, start + size + 1));
      chain = chain.then(() => this.answer(socket, bytes, index)).catch(() => void socket.destroy());
      return true;
    }, 1 << 20);
    socket.on("data", (chunk: Buffer) => {
      if (!greeted) {
        greeted = true;
        socket.write(method(0, "ConnectionStart", { versionMajor: 0, versionMinor: 9, serverProperties: {}, mechanisms: "PLAIN", locales: "en_US" }));
        chunk = chunk.subarray(8);
      }
      reader.push(chunk);
    });
  }

  private async answer(socket: Socket, bytes: Buffer, index: number): Promise<void> {
    let at = 0;
    const frame = await codec.decodeFrame((n) => {
      const slice = bytes.subarray(at, at + n);
      at += n;
      return Promise.resolve(slice);
    });
    if (frame.type !== 1) return;
    const channel = frame.channelId;
    switch (frame.methodId) {
      case Cmd["ConnectionStartOK"]:
        socket.write(method(0, "ConnectionTune", { channelMax: 100, frameMax: FRAME_MAX, heartbeat: 0 }));
        break;
      case Cmd["ConnectionOpen"]:
        socket.write(method(0, "ConnectionOpenOK", { knownHosts: "" }));
        break;
      case Cmd["ConnectionClose"]:
        socket.end(method(0, "ConnectionCloseOK"));
        break;
      case Cmd["ChannelOpen"]:
        socket.write(method(channel, "ChannelOpenOK", { rsvp1: "" }));
        break;
      case Cmd["ChannelClose"]:
        socket.write(method(channel, "ChannelCloseOK"));
        break;
      case Cmd["BasicQos"]:
        socket.write(method(channel, "BasicQosOK"));
        break;
      case Cmd["BasicAck"]:
        this.acks.push(Number(frame.params?.["deliveryTag"]));
        break;
      case Cmd["BasicConsume"]:
        await this.script(socket, channel, index);
        break;
      default:
        break;
    }
  }
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function start(script: Script): Promise<{ broker: FakeBroker; connection: Connection; errors: Array<Error & { code?: string }> }> {
  const broker = new FakeBroker(script);
  const port = await broker.listen();
  cleanups.push(() => broker.close());
  const connection = new Connection({ hostname: "127.0.0.1", port, frameMax: FRAME_MAX, heartbeat: 0, retryLow: 20, retryHigh: 50 });
  const errors: Array<Error & { code?: string }> = [];
  connection.on("error", (err: Error & { code?: string }) => errors.push(err));
  cleanups.push(() => Promise.race([connection.close(), new Promise((resolve) => setTimeout(resolve, 500))]).finally(() => connection.unsafeDestroy()));
  const patches = patchConnection(connection);
  await connection.onConnect(5_000);
  await patches.verify();
  return { broker, connection, errors };
}

async function consume(connection: Connection, received: AsyncMessage[]): Promise<Channel> {
  const channel = await connection.acquire();
  await channel.basicConsume({ queue: "q" }, (message) => {
    received.push(message);
  });
  return channel;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

const big = Buffer.alloc(10_000);
for (let i = 0; i < big.length; i += 1) big[i] = (i * 31) & 0xff;
const json = Buffer.from('{"a":"\\u00e9","n":12345678901234567890}');

/** consume-ok, then three deliveries (one body frame; several; none) with heartbeats between. */
function script(channel: number, withBig = true): Buffer {
  return Buffer.concat([
    method(channel, "BasicConsumeOK", { consumerTag: "ctag" }),
    delivery(channel, "ctag", 1, json, { contentType: "application/json", headers: { h: "v", n: 7 }, deliveryMode: 2, correlationId: "c1", timestamp: 1_764_000_000 }),
    codec.HEARTBEAT_FRAME,
    delivery(channel, "ctag", 2, withBig ? big : Buffer.from("x"), { contentType: "application/octet-stream", messageId: "m2" }),
    codec.HEARTBEAT_FRAME,
    delivery(channel, "ctag", 3, Buffer.alloc(0), {}),
  ]);
}

function expectScriptDelivered(received: AsyncMessage[], withBig = true): void {
  expect(received.map((m) => m.deliveryTag)).toEqual([1, 2, 3]);
  for (const message of received) expect(message).toBeInstanceOf(InboundMessage);
  const [first, second, third] = received.map((m) => toDelivery(m));
  expect(Buffer.from(first?.body ?? []).equals(json)).toBe(true);
  expect(first?.properties).toEqual({ contentType: "application/json", headers: { h: "v", n: 7 }, persistent: true, correlationId: "c1", timestamp: 1_764_000_000 });
  expect(first).toMatchObject({ exchange: "ex", routingKey: "key.1", redelivered: false });
  // The library's own fields are there too (its Consumer and reply functions read them).
  expect(received[0]).toMatchObject({ consumerTag: "ctag", deliveryTag: 1, durable: true, deliveryMode: 2, correlationId: "c1", contentType: "application/json" });
  expect(Buffer.from(second?.body ?? []).equals(withBig ? big : Buffer.from("x"))).toBe(true);
  expect(second).toMatchObject({ redelivered: true, properties: { contentType: "application/octet-stream", messageId: "m2" } });
  expect(third?.body.byteLength).toBe(0);
}

describe("the inbound path's installation", () => {
  const library = <T = never>(file: string): T => require(join(dirname(require.resolve("rabbitmq-client")), file)) as T;

  it("is installed over the rabbitmq-client in use", () => {
    expect(inboundPathProblem()).toBeUndefined();
  });

  it("refuses a library whose internals differ (fail closed), naming what differs", () => {
    const util = library("util.js");
    const connection = library<{ Connection: { prototype: Record<string, unknown> } }>("Connection.js");
    const loop = { Connection: { prototype: { ...Object.fromEntries(["_connect", "_negotiate", "_handleChunk"].map((name) => [name, connection.Connection.prototype[name]])), _connect: async function _connect() {} } } };
    expect(inboundSourcesProblem(loop as never, library("Channel.js"), util, { decodeFrame: codec.decodeFrame })).toMatch(/Connection#_connect is not the one .*createAsyncReader/);
    const channel = { Channel: { prototype: { _onMethod: () => undefined, _onBody: () => undefined } } };
    expect(inboundSourcesProblem(connection as never, channel as never, util, { decodeFrame: codec.decodeFrame })).toMatch(/Channel#_onMethod/);
  });
});

describe("the inbound path against a fake broker", () => {
  it("takes the socket over after the handshake", async () => {
    const { connection } = await start((socket, channel) => void socket.write(method(channel, "BasicConsumeOK", { consumerTag: "ctag" })));
    expect(readsFrames((connection as unknown as { _socket: Socket })._socket)).toBe(true);
  });

  it("hands over deliveries written in one chunk with the consume-ok, in order: bodies over several frames, empty bodies, heartbeats between", async () => {
    const { connection, errors } = await start((socket, channel) => void socket.write(script(channel)));
    const received: AsyncMessage[] = [];
    await consume(connection, received);
    await until(() => received.length === 3, "three deliveries");
    expectScriptDelivered(received);
    expect(errors).toEqual([]);
  });

  it("hands a chunk's deliveries over in the loop phase that read them, before the loop's next setImmediate", async () => {
    let sendDeliveries: (() => void) | undefined;
    const { connection, errors } = await start((socket, channel) => {
      socket.write(method(channel, "BasicConsumeOK", { consumerTag: "ctag" }));
      sendDeliveries = () => void socket.write(Buffer.concat([1, 2].map((tag) => delivery(channel, "ctag", tag, json, {}))));
    });
    let immediateRan = false;
    const seenBeforeImmediate: boolean[] = [];
    const channel = await connection.acquire();
    await channel.basicConsume({ queue: "q" }, () => {
      seenBeforeImmediate.push(!immediateRan);
    });
    // Queued when the chunk is readable, ahead of the reader: a hand-over in a setImmediate of its own would come after it.
    (connection as unknown as { _socket: Socket })._socket.prependListener("readable", () => {
      immediateRan = false;
      setImmediate(() => (immediateRan = true));
    });
    await until(() => sendDeliveries !== undefined, "the consume");
    sendDeliveries?.();
    await until(() => seenBeforeImmediate.length === 2, "two deliveries");
    expect(seenBeforeImmediate).toEqual([true, true]);
    expect(errors).toEqual([]);
  });

  it("puts deliveries together when every byte comes in a write of its own", async () => {
    const { connection, errors } = await start(async (socket, channel) => {
      const bytes = script(channel, false);
      for (let i = 0; i < bytes.length; i += 1) {
        socket.write(bytes.subarray(i, i + 1));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    });
    const received: AsyncMessage[] = [];
    await consume(connection, received);
    await until(() => received.length === 3, "three deliveries");
    expectScriptDelivered(received, false);
    expect(errors).toEqual([]);
  });

  it("a malformed frame is a connection error (FRAME_ERROR), not a crash: the connection is dropped and made again", async () => {
    const { broker, connection, errors } = await start((socket, channel, index) => {
      const bytes = script(channel);
      if (index === 0) bytes[bytes.length - 1] = 0; // the last frame's end octet
      socket.write(bytes);
    });
    const received: AsyncMessage[] = [];
    await consume(connection, received);
    // The complete deliveries before the bad frame are still handed over (as the library's queued immediates would); it reconnects.
    await until(() => errors.length > 0 && received.length === 2, "the connection error and two deliveries");
    expect(errors[0]).toMatchObject({ code: "FRAME_ERROR" });
    expect(received.map((m) => m.deliveryTag)).toEqual([1, 2]);
    await until(() => broker.connections === 2, "a reconnect");
    await until(() => readsFrames((connection as unknown as { _socket: Socket })._socket), "the new socket read by the inbound path");
  });

  it("a delivery on a channel that is not open is a connection error (UNEXPECTED_FRAME)", async () => {
    const { connection, errors } = await start((socket, channel) => {
      socket.write(Buffer.concat([method(channel, "BasicConsumeOK", { consumerTag: "ctag" }), delivery(channel + 7, "ctag", 1, json, {})]));
    });
    await consume(connection, []);
    await until(() => errors.length > 0, "the connection error");
    expect(errors[0]).toMatchObject({ code: "UNEXPECTED_FRAME" });
  });

  it("a header frame in the middle of a body is a connection error, not a mixed-up message", async () => {
    const { connection, errors } = await start((socket, channel) => {
      const one = delivery(channel, "ctag", 1, big, {});
      // deliver + header + first body frame, then another header instead of the rest.
      const cut = one.length - (big.length - (FRAME_MAX - 8)) - 8 * 2;
      socket.write(Buffer.concat([method(channel, "BasicConsumeOK", { consumerTag: "ctag" }), one.subarray(0, cut), codec.encodeFrame({ type: 2, channelId: channel, bodySize: 1, fields: {} })]));
    });
    const received: AsyncMessage[] = [];
    await consume(connection, received);
    await until(() => errors.length > 0, "the connection error");
    expect(errors[0]).toMatchObject({ code: "UNEXPECTED_FRAME" });
    expect(received).toEqual([]);
  });

  it("leaves to the library what it does not handle: basic.cancel from the broker, connection.blocked/unblocked, connection.close", async () => {
    const { connection, errors } = await start((socket, channel) => {
      socket.write(
        Buffer.concat([
          method(channel, "BasicConsumeOK", { consumerTag: "ctag" }),
          delivery(channel, "ctag", 1, json, {}),
          method(0, "ConnectionBlocked", { reason: "low on memory" }),
          method(0, "ConnectionUnblocked"),
          method(channel, "BasicCancel", { consumerTag: "ctag", nowait: true }),
        ]),
      );
    });
    const events: string[] = [];
    connection.on("connection.blocked", (reason: string) => events.push(`blocked: ${reason}`));
    connection.on("connection.unblocked", () => events.push("unblocked"));
    const received: AsyncMessage[] = [];
    const channel = await consume(connection, received);
    channel.on("basic.cancel", (tag: string) => events.push(`cancelled ${tag}`));
    await until(() => events.length === 3, "the events");
    expect(events).toEqual(["blocked: low on memory", "unblocked", "cancelled ctag"]);
    expect(received.map((m) => m.deliveryTag)).toEqual([1]);
    expect(errors).toEqual([]);
  });

  it("handles the frames that came just before the socket closed, even those held while it waited for the library", async () => {
    const { connection } = await start((socket, channel, index) => {
      socket.write(method(channel, "BasicConsumeOK", { consumerTag: "ctag" }));
      if (index === 0) socket.end(Buffer.concat([method(0, "ConnectionBlocked", { reason: "one" }), method(0, "ConnectionUnblocked"), method(0, "ConnectionBlocked", { reason: "two" })]));
    });
    const events: string[] = [];
    connection.on("connection.blocked", (reason: string) => events.push(`blocked: ${reason}`));
    connection.on("connection.unblocked", () => events.push("unblocked"));
    await consume(connection, []);
    await until(() => events.length === 3, "the three events");
    expect(events).toEqual(["blocked: one", "unblocked", "blocked: two"]);
  });

  it("leaves connection.close from the broker to the library: it is reported and the connection made again", async () => {
    const { broker, connection, errors } = await start((socket, channel, index) => {
      socket.write(method(channel, "BasicConsumeOK", { consumerTag: "ctag" }));
      if (index === 0) socket.write(method(0, "ConnectionClose", { replyCode: 320, replyText: "CONNECTION_FORCED - bye", methodId: 0 }));
    });
    await consume(connection, []);
    await until(() => errors.length > 0 && broker.connections === 2, "the error and a reconnect");
    expect(errors[0]).toMatchObject({ code: "CONNECTION_FORCED" });
  });
});
