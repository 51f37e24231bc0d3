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

/**
 * Two ServiceBrokers in one process (caller and service, a connection each), both on the AMQP
 * transporter. Requests go to the action's balanced queue and are acked after the action resolved;
 * events are balanced events (their queue, acked after the handler). Moleculer publishes on a plain
 * channel: it has no publisher confirms, in any setting.
 *
 * `tuned`: prefetch 100 and TCP no-delay, its fastest acked settings. Otherwise its defaults
 * (prefetch 1, Nagle on).
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
        // A heartbeat timer firing while a broker stops publishes on its closing channel, which throws
        // from the timer (an uncaught rejection ends the bench); a bench run never needs heartbeats.
        registry: { discoverer: { type: "Local", options: { heartbeatInterval: 3_600, heartbeatTimeout: 7_200 } } },
      };
      const caller = new ServiceBroker({ ...common, nodeID: `caller-${namespace}` });
      const service = new ServiceBroker({ ...common, nodeID: `service-${namespace}` });
      const events = new EventRun(settings);
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
      try {
        await Promise.all([service.start(), caller.start()]);
        await caller.waitForServices(["bench"], 30_000);
      } catch (error) {
        await Promise.allSettled([caller.stop(), service.stop()]);
        throw error;
      }
      let closed;
      return {
        throughput(n) {
          return events.time(n, (b) => caller.emit("bench.event", b));
        },
        async rpcConcurrent(n, inFlight) {
          const body = createBodyFactory(settings.bodyBytes);
          return timeCalls(n, inFlight, async (i) => {
            const res = await caller.call("bench.echo", body(i));
            if (res?.seq !== i) throw new Error(`rpc reply ${i} mismatched`);
          });
        },
        close() {
          closed ??= Promise.all([caller.stop(), service.stop()]).then(() => undefined);
          return closed;
        },
      };
    },
  };
}
