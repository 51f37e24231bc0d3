import type { ContenderFactory } from "../Contender.js";
import { openPostage } from "./postage.js";

/**
 * Postage's fast mode: the same contender as `postage`, its producer made with `confirm: false`.
 * Commands resolve once written instead of once the broker confirmed them (a broker-side loss or
 * nack goes unseen); mandatory returns are still reported (through the broker's `onError`).
 * RPC is the same as `postage` (direct reply-to never waits for confirms).
 */
export const postageFastContender: ContenderFactory = {
  key: "postageFast",
  label: "Postage fast mode (no confirms)",
  async open(settings) {
    return openPostage(settings, { confirm: false });
  },
};
