import { Connection } from "rabbitmq-client";
import type { Consumer, Publisher, RPCClient } from "rabbitmq-client";
import type { Contender, ContenderFactory, RunResult } from "../Contender.js";
import { Countdown } from "../Countdown.js";
import { runConcurrently, timeCalls } from "../runConcurrently.js";
import { createBodyFactory, randomSuffix } from "../settings.js";
import type { BenchSettings } from "../settings.js";

/**
 * Raw rabbitmq-client: a confirming {@link Publisher} feeding a {@link Consumer} (prefetch 100, one ack
 * per message, as the library does), and its {@link RPCClient} (direct reply-to, confirms on) calling a
 * Consumer that replies through the `reply` callback. Client side and server side have a connection each.
 */
export const rabbitmqClientContender: ContenderFactory = {
  key: "rabbitmqClient",
  label: "rabbitmq-client",
  async open(settings) {
    return RabbitmqClientContender.open(settings);
  },
};

class RabbitmqClientContender implements Contender {
  #countdown = new Countdown(0);
  #closed: Promise<void> | undefined;

  private constructor(
    private readonly settings: BenchSettings,
    private readonly clientConn: Connection,
    private readonly serverConn: Connection,
    private readonly tpQueue: string,
    private readonly rpcQueue: string,
    private readonly publisher: Publisher,
    private readonly rpc: RPCClient,
    private readonly consumers: Consumer[],
  ) {}

  static async open(settings: BenchSettings): Promise<RabbitmqClientContender> {
    const options = { url: settings.url, noDelay: true, retryLow: 200, retryHigh: 2000, connectionName: "bench rabbitmq-client" };
    const clientConn = new Connection(options);
    const serverConn = new Connection(options);
    const errors: unknown[] = [];
    // an unhandled 'error' event would crash the process; a failure shows up as a rejected run anyway
    for (const c of [clientConn, serverConn]) c.on("error", (e) => errors.push(e));
    await Promise.all([clientConn.onConnect(10_000, true), serverConn.onConnect(10_000, true)]);

    const suffix = randomSuffix();
    const tpQueue = `bench.rabbitmq-client.tp.${suffix}`;
    const rpcQueue = `bench.rabbitmq-client.rpc.${suffix}`;
    let self: RabbitmqClientContender | undefined;
    const queueOptions = { exclusive: true, autoDelete: true };
    const qos = { prefetchCount: settings.prefetch };

    const tpConsumer = serverConn.createConsumer({ queue: tpQueue, queueOptions, qos, requeue: false }, (msg) => {
      // the library already decoded the JSON body (content type application/json)
      if (typeof msg.body !== "object") throw new Error("body not decoded");
      if (self) self.#countdown.tick();
    });
    const rpcServer = serverConn.createConsumer({ queue: rpcQueue, queueOptions, qos, requeue: false }, async (msg, reply) => {
      await reply(msg.body);
    });
    await Promise.all([tpConsumer, rpcServer].map((c) => new Promise<void>((resolve, reject) => {
      c.once("ready", resolve);
      c.once("error", reject);
    })));

    const publisher = clientConn.createPublisher({ confirm: true, maxAttempts: 1 });
    const rpc = clientConn.createRPCClient({ confirm: true, timeout: settings.rpcTimeoutMs });
    self = new RabbitmqClientContender(settings, clientConn, serverConn, tpQueue, rpcQueue, publisher, rpc, [tpConsumer, rpcServer]);
    return self;
  }

  async throughput(n: number): Promise<RunResult> {
    const body = createBodyFactory(this.settings.bodyBytes);
    const countdown = (this.#countdown = new Countdown(n));
    const t0 = performance.now();
    await runConcurrently(n, this.settings.publishWindow, async (i) => {
      await this.publisher.send({ routingKey: this.tpQueue }, body(i));
    });
    await countdown.done;
    return { count: n, seconds: (performance.now() - t0) / 1000, latenciesMs: [] };
  }


  async rpcConcurrent(n: number, inFlight: number): Promise<RunResult> {
    const body = createBodyFactory(this.settings.bodyBytes);
    return timeCalls(n, inFlight, async (i) => {
      const res = await this.rpc.send({ routingKey: this.rpcQueue }, body(i));
      if ((res.body as { seq?: unknown } | undefined)?.seq !== i) throw new Error(`rpc reply ${i} mismatched`);
    });
  }

  close(): Promise<void> {
    // order matters: the connection's close waits for every publisher, RPC client and consumer on it
    this.#closed ??= (async () => {
      await Promise.all([this.publisher.close(), this.rpc.close()]);
      await Promise.all(this.consumers.map((c) => c.close()));
      await Promise.all([this.clientConn.close(), this.serverConn.close()]);
    })();
    return this.#closed;
  }
}
