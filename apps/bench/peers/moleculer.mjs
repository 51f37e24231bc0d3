// Moleculer 0.15 over its AMQP transporter, as a bench contender (see ../src/Contender.ts for the contract).
// Plain JavaScript on purpose: this folder is installed on demand (`npm run bench:peers`), so the
// workspace's type-check must not depend on Moleculer's types being there.
import { createRequire } from "node:module";
import { timeCalls } from "../dist/runConcurrently.js";
import { createBodyFactory, randomSuffix } from "../dist/settings.js";
import { EventRun } from "./events.mjs";

const require = createRequire(import.meta.url);
/** @type {typeof import("moleculer")} */
const { ServiceBroker } = require("moleculer");
/** @type {typeof import("amqplib")} */
const amqplib = require("amqplib");

/** The fanout exchanges Moleculer 0.15's AMQP transporter declares for its broadcast packets. */
const BROADCAST_PACKETS = ["DISCONNECT", "DISCOVER", "HEARTBEAT", "INFO", "PING"];

/**
 * Deletes what a pair leaves on the broker after it stopped: its balanced request queues (durable,
 * and not covered by `autoDeleteQueues`) and its broadcast exchanges. Every other queue of the
 * pair expires by itself (`autoDeleteQueues`).
 * @param {string} url
 * @param {string} prefix the transporter's prefix, `MOL-<namespace>`
 * @param {Iterable<string>} actions every action name the pair's brokers registered
 */
async function deleteLeftovers(url, prefix, actions) {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    // RabbitMQ deletes a missing queue or exchange without complaint.
    for (const action of actions) await channel.deleteQueue(`${prefix}.REQB.${action}`);
    for (const packet of BROADCAST_PACKETS) await channel.deleteExchange(`${prefix}.${packet}`);
  } finally {
    await connection.close();
  }
}

/**
 * ServiceBrokers in one process (a caller and a service, a connection each) on the AMQP transporter.
 * Moleculer publishes on a plain channel: it has no publisher confirms, in any setting.
 *
 * Acks depend on who balances. With Moleculer's own balancer (its default) the caller picks the node
 * and sends to that node's queues: requests are acked after the action resolved, but events are
 * consumed with `noAck` (the broker shows `ack_required` false), so they are never acked. With
 * `disableBalancer` events and requests go to the transporter's balanced queues (`EVENTB`, `REQB`),
 * both acked after the handler.
 *
 * `tuned`: prefetch 100 and TCP no-delay, and Moleculer's fastest *acked* settings for each figure:
 * RPC on a pair with its own balancer (acked requests, the faster of the two), events on a second
 * pair with `disableBalancer` (the only way its events are acked). Otherwise its defaults on one pair
 * (prefetch 1, Nagle on, its own balancer: events unacked).
 *
 * @param {{ key: string, label: string, tuned: boolean }} mode
 * @returns {import("../src/Contender.js").ContenderFactory}
 */
export function moleculerContender({ key, label, tuned }) {
  return {
    key,
    label,
    // Defaults: Nagle's algorithm against delayed ACKs costs ~40 ms a round trip, and prefetch 1 allows
    // one request at a time (~25 calls/s either way): fewer calls keep the run short.
    ...(!tuned && { scale: { rpcSequential: 0.05, rpcConcurrent: 0.005 } }),
    async open(settings) {
      const events = new EventRun(settings);
      const rpc = await startPair(settings, tuned, events, {});
      let eventPair = rpc;
      if (tuned) {
        try {
          eventPair = await startPair(settings, tuned, events, { disableBalancer: true });
        } catch (error) {
          await rpc.stop();
          throw error;
        }
      }
      let closed;
      return {
        throughput(n) {
          return events.time(n, (b) => eventPair.caller.emit("bench.event", b));
        },
        async rpcConcurrent(n, inFlight) {
          const body = createBodyFactory(settings.bodyBytes);
          return timeCalls(n, inFlight, async (i) => {
            const res = await rpc.caller.call("bench.echo", body(i));
            if (res?.seq !== i) throw new Error(`rpc reply ${i} mismatched`);
          });
        },
        close() {
          closed ??= Promise.all([rpc.stop(), eventPair === rpc ? undefined : eventPair.stop()]).then(() => undefined);
          return closed;
        },
      };
    },
  };
}

/**
 * Starts a caller and a service ServiceBroker in a namespace of their own; the service has the
 * `bench.echo` action and the `bench.event` handler (which ticks `events`).
 * @param {import("../src/settings.js").BenchSettings} settings
 * @param {boolean} tuned
 * @param {EventRun} events
 * @param {Record<string, unknown>} brokerOptions extra ServiceBroker options (`disableBalancer`)
 */
async function startPair(settings, tuned, events, brokerOptions) {
  const namespace = `bench-${randomSuffix()}`;
  const transporter = {
    type: "AMQP",
    options: {
      url: settings.url,
      ...(tuned && { prefetch: settings.prefetch, socketOptions: { noDelay: true } }),
      // the bench's queues are gone a minute after the run instead of two
      autoDeleteQueues: 60_000,
    },
  };
  const common = {
    namespace,
    transporter,
    logger: false,
    requestTimeout: settings.rpcTimeoutMs,
    ...brokerOptions,
    // A heartbeat timer firing while a broker stops publishes on its closing channel, which throws
    // from the timer (an uncaught rejection ends the bench); a bench run never needs heartbeats.
    registry: { discoverer: { type: "Local", options: { heartbeatInterval: 3_600, heartbeatTimeout: 7_200 } } },
  };
  const caller = new ServiceBroker({ ...common, nodeID: `caller-${namespace}` });
  const service = new ServiceBroker({ ...common, nodeID: `service-${namespace}` });
  service.createService({
    name: "bench",
    actions: {
      echo(ctx) {
        return ctx.params;
      },
    },
    events: {
      "bench.event"(ctx) {
        if (typeof ctx.params?.seq !== "number") throw new Error("body not decoded");
        events.tick();
      },
    },
  });
  const stop = async () => {
    const actions = new Set([caller, service].flatMap((broker) => broker.registry.getActionList({ skipInternal: false }).map((action) => action.name)));
    await Promise.all([caller.stop(), service.stop()]);
    await deleteLeftovers(settings.url, `MOL-${namespace}`, actions);
  };
  try {
    await Promise.all([service.start(), caller.start()]);
    await caller.waitForServices(["bench"], 30_000);
  } catch (error) {
    // The start's error is the one to throw; a failure to stop as well is only reported.
    await stop().catch((stopError) => console.error("[bench] stopping Moleculer after a failed start also failed:", stopError));
    throw error;
  }
  return { caller, stop };
}
