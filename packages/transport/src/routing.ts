import type { ExchangeDefinition } from "@postage/core";
import { TransportError } from "./errors.js";

/**
 * Exchange/key couples ("eks"): a message goes to each exchange with its routing key,
 * as Python Postage's `eks`.
 */
export type ExchangeKeys = ReadonlyArray<readonly [exchange: ExchangeDefinition, routingKey: string]>;

/** Where one send goes instead of the producer's default exchanges. */
export interface Routing {
  /** Sends to the first default exchange with this routing key (ignored when `eks` is given). */
  key?: string;
  /** Sends to these exchange/key couples instead of the defaults (wins over `key`). */
  eks?: ExchangeKeys;
}

/** Picks the exchange/key couples of one send, with Python Postage's `_key`/`_eks` rules. @internal */
export function resolveRouting(defaults: ExchangeKeys, routing: Routing | undefined): ExchangeKeys {
  if (routing?.eks !== undefined) {
    if (routing.eks.length === 0) throw new TransportError("NO_ROUTE", "the eks given for this send are empty");
    return routing.eks;
  }
  if (routing?.key !== undefined) {
    const first = defaults[0];
    if (first === undefined) {
      throw new TransportError("NO_ROUTE", `cannot send with key "${routing.key}": the producer has no default exchange`);
    }
    return [[first[0], routing.key]];
  }
  if (defaults.length === 0) {
    throw new TransportError("NO_ROUTE", "the producer has no default exchanges; give { key } or { eks } with .to()");
  }
  return defaults;
}
