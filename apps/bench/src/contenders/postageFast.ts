import type { ContenderFactory } from "../Contender.js";
import { openPostage } from "./postage.js";

/**
 * The prefetch fast mode's processor consumes with. A flood of unconfirmed publishes keeps a
 * prefetch-100 consumer at its limit, and RabbitMQ then pays about twice the CPU per message
 * (~50 µs against ~30 µs here, raw amqplib as well as Postage); from ~300 on the consumer keeps
 * up. 1,000 holds about 1 MB of 1 KB messages per consumer.
 */
export const FAST_MODE_PREFETCH = 1_000;

/**
 * Postage's fast mode: the same contender as `postage`, its producer made with `confirm: false`
 * and its processor with a prefetch of {@link FAST_MODE_PREFETCH}. Commands resolve once written
 * instead of once the broker confirmed them (a broker-side loss or nack goes unseen); mandatory
 * returns are still reported (through the broker's `onError`), and every message is still acked
 * after its handler. RPC is the same as `postage` (requests never wait for confirms).
 */
export const postageFastContender: ContenderFactory = {
  key: "postageFast",
  label: `Postage fast mode (no confirms, prefetch ${FAST_MODE_PREFETCH})`,
  async open(settings) {
    return openPostage(settings, { confirm: false, prefetch: FAST_MODE_PREFETCH });
  },
};
