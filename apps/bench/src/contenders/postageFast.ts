import type { ContenderFactory } from "../Contender.js";
import { openPostage } from "./postage.js";

/**
 * How many deliveries fast mode's processor holds before its consumer pauses (without acks the
 * broker applies no prefetch: this is the consumer's own flow control). About 1 MB of 1 KB
 * messages; a window of 100 would pause and resume the consumer every 50 messages under a flood.
 */
export const FAST_MODE_WINDOW = 1_000;

/**
 * Postage's fast mode: the same contender as `postage`, its producer made with `confirm: false`
 * and its processor with `noAck: true` and a window of {@link FAST_MODE_WINDOW}. Commands resolve
 * once written instead of once the broker confirmed them (a broker-side loss or nack goes
 * unseen); mandatory returns are still reported (through the broker's `onError`). The broker
 * forgets each message as it delivers it: what the process holds when it dies is lost, as with
 * the peers' defaults (Moleculer's events, NestJS's `noAck`). RPC requests are consumed the same
 * way (they never waited for confirms).
 */
export const postageFastContender: ContenderFactory = {
  key: "postageFast",
  label: "Postage fast mode (no confirms, no acks)",
  async open(settings) {
    return openPostage(settings, { confirm: false, noAck: true, prefetch: FAST_MODE_WINDOW });
  },
};
