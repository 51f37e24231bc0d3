import { defineExchange, Fingerprint, SuccessResult, type ExchangeDefinition } from "@postage/core";
import { MessageProcessor, messageHandler, rpcHandler, Scheduler } from "@postage/actors";
import { connect, createProducer, type Broker, type Producer } from "@postage/transport";
import type { Contender, ContenderFactory, RunResult } from "../Contender.js";
import { Countdown } from "../Countdown.js";
import { runConcurrently, timeCalls } from "../runConcurrently.js";
import { createBodyFactory, randomSuffix } from "../settings.js";
import type { BenchBody, BenchSettings } from "../settings.js";

/**
 * Postage end to end: a producer (its own connection) sends 1 KB JSON commands through a bench
 * exchange to a {@link MessageProcessor} run by a {@link Scheduler} (the server connection), which
 * handles them in its mailbox and acks after the handler. RPC: `producer.call("echo", body)`, replies
 * to the producer's reply queue (`replyMode` "shared", the default), answered by an `rpcHandler` in
 * the same actor with the parameters.
 * Same settings as the raw contenders: confirms on commands, prefetch 100, `noDelay` (the
 * RabbitMQ driver always sets it), one ack per message. RPC requests and replies go without
 * confirms (Postage's design: the reply confirms the request; a returned request still fails).
 * See `postageFast.ts` for commands without confirms.
 */
export const postageContender: ContenderFactory = {
  key: "postage",
  label: "Postage",
  async open(settings) {
    return openPostage(settings, { confirm: true });
  },
};

/** How a Postage contender's producer publishes. */
export interface PostageModes {
  /** Publisher confirms on commands (`createProducer`'s `confirm`); RPC requests never wait for one (the reply confirms them). */
  readonly confirm: boolean;
  /** The processor's prefetch (unacked deliveries per consumer; without acks, the deliveries it holds). @default settings.prefetch */
  readonly prefetch?: number;
  /** The processor consumes without acks (`MessageProcessorOptions.noAck`). @default false */
  readonly noAck?: boolean;
}

/** Opens the Postage contender (client and server connections, the actor, the producer) in the given modes. */
export function openPostage(settings: BenchSettings, modes: PostageModes): Promise<Contender> {
  return PostageContender.open(settings, modes);
}

class PostageContender implements Contender {
  #countdown = new Countdown(0);
  #closed: Promise<void> | undefined;

  private constructor(
    private readonly settings: BenchSettings,
    private readonly client: Broker,
    private readonly scheduler: Scheduler,
    private readonly server: Broker,
    private readonly exchange: ExchangeDefinition,
    private readonly producer: Producer,
  ) {}

  static async open(settings: BenchSettings, modes: PostageModes): Promise<PostageContender> {
    // `shared: false`: client and server each get a connection of their own, as with the raw clients.
    const client = connect({ url: settings.url, shared: false });
    const server = connect({ url: settings.url, shared: false });
    try {
      await Promise.all([client.ready(), server.ready()]);
    } catch (error) {
      await Promise.allSettled([client.close(), server.close()]);
      throw error;
    }
    const suffix = randomSuffix();
    const exchange = defineExchange({ name: `bench.postage.${suffix}`, type: "direct", durable: false, autoDelete: true });
    const queue = { name: `bench.postage.${suffix}`, exclusive: true, autoDelete: true };
    let self: PostageContender | undefined;
    const processor = new MessageProcessor({
      fingerprint: { name: "bench-processor" },
      prefetch: modes.prefetch ?? settings.prefetch,
      noAck: modes.noAck ?? false,
      bindings: [[exchange, [[queue, "tp"], [queue, "rpc"]]]],
      handlers: [
        messageHandler("command", "bench", (content) => {
          if (typeof (content.parameters as Partial<BenchBody> | undefined)?.seq !== "number") throw new Error("body not decoded");
          if (self) self.#countdown.tick();
        }),
        rpcHandler("command", "echo", async (content, reply) => {
          await reply(new SuccessResult(content.parameters));
        }),
      ],
    });
    const scheduler = new Scheduler({ broker: server, handleSignals: false });
    scheduler.add(processor);
    await waitRunning(processor);
    const producer = createProducer(client, {
      exchanges: [[exchange, "tp"]],
      fingerprint: Fingerprint.collect({ name: "bench-producer" }),
      confirm: modes.confirm,
      rpc: { timeout: settings.rpcTimeoutMs, retries: 0 },
    });
    self = new PostageContender(settings, client, scheduler, server, exchange, producer);
    return self;
  }

  async throughput(n: number): Promise<RunResult> {
    const body = createBodyFactory(this.settings.bodyBytes);
    const countdown = (this.#countdown = new Countdown(n));
    const t0 = performance.now();
    await runConcurrently(n, this.settings.publishWindow, (i) => this.producer.command("bench", body(i)));
    await countdown.done;
    return { count: n, seconds: (performance.now() - t0) / 1000, latenciesMs: [] };
  }


  async rpcConcurrent(n: number, inFlight: number): Promise<RunResult> {
    const body = createBodyFactory(this.settings.bodyBytes);
    const rpc = this.producer.to({ key: "rpc" });
    return timeCalls(n, inFlight, async (i) => {
      const result = await rpc.call("echo", body(i));
      if (!result.ok) throw new Error(`rpc call ${i} failed: ${result.resultType} ${result.message} ${String(result.value)}`);
      if ((result.value as Partial<BenchBody> | undefined)?.seq !== i) throw new Error(`rpc reply ${i} mismatched`);
    });
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.producer.close();
      await this.client.close();
      // The scheduler did not open the server broker, so it leaves it open: close it here.
      await this.scheduler.close();
      await this.server.close();
    })();
    return this.#closed;
  }

  /** The exchange the runs publish to (kept for debugging: `rabbitmqctl list_exchanges`). */
  get exchangeName(): string {
    return this.exchange.name;
  }
}

/** Resolves once the processor consumes (its queue declared and bound); rejects if it failed to start. */
export async function waitRunning(processor: Pick<MessageProcessor, "whenState">, timeoutMs = 30_000): Promise<void> {
  await processor.whenState("running", { timeout: timeoutMs });
}
