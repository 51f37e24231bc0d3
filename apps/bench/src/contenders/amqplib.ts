import { connect } from "amqplib";
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from "amqplib";
import { once } from "node:events";
import type { Contender, ContenderFactory, RunResult } from "../Contender.js";
import { Countdown } from "../Countdown.js";
import { runConcurrently, timeCalls } from "../runConcurrently.js";
import { createBodyFactory, randomSuffix } from "../settings.js";
import type { BenchBody, BenchSettings } from "../settings.js";

/**
 * Raw amqplib: a ConfirmChannel publishing to a queue consumed on a second connection with prefetch 100
 * and one `ack` per message; RPC through a hand-made direct reply-to client (correlation ids, confirms on)
 * calling a consumer that replies with `sendToQueue(replyTo)` and acks.
 */
export const amqplibContender: ContenderFactory = {
  key: "amqplib",
  label: "amqplib",
  async open(settings) {
    return AmqplibContender.open(settings);
  },
};

const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

class AmqplibContender implements Contender {
  #countdown = new Countdown(0);
  #closed: Promise<void> | undefined;
  readonly #pending = new Map<string, { resolve: (body: BenchBody) => void; reject: (e: Error) => void }>();
  #nextId = 0;

  private constructor(
    private readonly settings: BenchSettings,
    private readonly clientConn: ChannelModel,
    private readonly serverConn: ChannelModel,
    private readonly pubCh: ConfirmChannel,
    private readonly rpcCh: ConfirmChannel,
    private readonly tpQueue: string,
    private readonly rpcQueue: string,
  ) {}

  static async open(settings: BenchSettings): Promise<AmqplibContender> {
    const socketOptions = { noDelay: true, clientProperties: { connection_name: "bench amqplib" } };
    const [clientConn, serverConn] = await Promise.all([connect(settings.url, socketOptions), connect(settings.url, socketOptions)]);
    const suffix = randomSuffix();
    const tpQueue = `bench.amqplib.tp.${suffix}`;
    const rpcQueue = `bench.amqplib.rpc.${suffix}`;

    const [pubCh, rpcCh, tpCh, srvCh] = await Promise.all([
      clientConn.createConfirmChannel(),
      clientConn.createConfirmChannel(),
      serverConn.createChannel(),
      serverConn.createChannel(),
    ]);
    const self = new AmqplibContender(settings, clientConn, serverConn, pubCh, rpcCh, tpQueue, rpcQueue);
    // channel errors also close the channel; a run then fails on its next publish
    for (const emitter of [clientConn, serverConn, pubCh, rpcCh, tpCh, srvCh]) emitter.on("error", () => undefined);

    await setupConsumer(tpCh, tpQueue, settings.prefetch, (msg) => {
      JSON.parse(msg.content.toString("utf8")) as BenchBody;
      tpCh.ack(msg);
      self.#countdown.tick();
    });
    await setupConsumer(srvCh, rpcQueue, settings.prefetch, (msg) => {
      const { replyTo, correlationId } = msg.properties as { replyTo?: string; correlationId?: string };
      const body = JSON.parse(msg.content.toString("utf8")) as BenchBody;
      if (replyTo) {
        srvCh.sendToQueue(replyTo, Buffer.from(JSON.stringify(body)), { correlationId, contentType: "application/json" });
      }
      srvCh.ack(msg);
    });
    await rpcCh.consume(DIRECT_REPLY_TO, (msg) => {
      if (!msg) return;
      const id = msg.properties.correlationId as string | undefined;
      const call = id === undefined ? undefined : self.#pending.get(id);
      if (!call || id === undefined) return;
      self.#pending.delete(id);
      call.resolve(JSON.parse(msg.content.toString("utf8")) as BenchBody);
    }, { noAck: true });
    return self;
  }

  async throughput(n: number): Promise<RunResult> {
    const body = createBodyFactory(this.settings.bodyBytes);
    const countdown = (this.#countdown = new Countdown(n));
    const t0 = performance.now();
    await runConcurrently(n, this.settings.publishWindow, (i) =>
      confirmPublish(this.pubCh, this.tpQueue, Buffer.from(JSON.stringify(body(i))), {}),
    );
    await countdown.done;
    return { count: n, seconds: (performance.now() - t0) / 1000, latenciesMs: [] };
  }


  async rpcConcurrent(n: number, inFlight: number): Promise<RunResult> {
    const body = createBodyFactory(this.settings.bodyBytes);
    return timeCalls(n, inFlight, async (i) => {
      const res = await this.#call(body(i));
      if (res.seq !== i) throw new Error(`rpc reply ${i} mismatched`);
    });
  }

  async #call(body: BenchBody): Promise<BenchBody> {
    const id = String(++this.#nextId);
    const reply = new Promise<BenchBody>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error("rpc timed out"));
      }, this.settings.rpcTimeoutMs);
      this.#pending.set(id, {
        resolve: (b) => { clearTimeout(timer); resolve(b); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
    const confirmed = confirmPublish(this.rpcCh, this.rpcQueue, Buffer.from(JSON.stringify(body)), {
      replyTo: DIRECT_REPLY_TO,
      correlationId: id,
    });
    const [, res] = await Promise.all([confirmed, reply]);
    return res;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const call of this.#pending.values()) call.reject(new Error("closed"));
      this.#pending.clear();
      await Promise.all([this.clientConn.close(), this.serverConn.close()]);
    })();
    return this.#closed;
  }
}

async function setupConsumer(ch: Channel, queue: string, prefetch: number, onMessage: (msg: ConsumeMessage) => void): Promise<void> {
  await ch.assertQueue(queue, { exclusive: true, autoDelete: true });
  await ch.prefetch(prefetch);
  await ch.consume(queue, (msg) => {
    if (msg) onMessage(msg);
  });
}

/** Publishes to `queue` and resolves on the broker's confirm; waits for 'drain' when the socket is full. */
async function confirmPublish(ch: ConfirmChannel, queue: string, content: Buffer, options: { replyTo?: string; correlationId?: string }): Promise<void> {
  let sent!: boolean;
  const confirmed = new Promise<void>((resolve, reject) => {
    sent = ch.sendToQueue(queue, content, { ...options, contentType: "application/json" }, (err: unknown) => {
      if (err) reject(err instanceof Error ? err : new Error("publish nacked"));
      else resolve();
    });
  });
  if (!sent) await once(ch, "drain");
  await confirmed;
}
