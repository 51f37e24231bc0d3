import type { Delivery } from "./BrokerDriver.js";

/**
 * What a {@link BrowseVisitor} decides about one message taken from a queue:
 * - `"keep"`: leave it in the queue (it goes back to its place when the browse ends);
 * - `"ack"`: remove it (acknowledge it: after it was safely republished, or to purge it);
 * - `"stop"`: keep it and take no more messages.
 */
export type BrowseDecision = "keep" | "ack" | "stop";

/** One message taken by {@link BrokerDriver.browseQueue}. */
export interface BrowsedMessage extends Delivery {
  /** 0-based position of the message among those taken in this browse (its place in the queue). */
  readonly index: number;
}

/** Decides about each message of a browse, in queue order; may be asynchronous (a confirmed publish). */
export type BrowseVisitor = (message: BrowsedMessage) => BrowseDecision | Promise<BrowseDecision>;

/** Options of {@link BrokerDriver.browseQueue}. */
export interface BrowseOptions {
  /** Take at most this many messages. @default unlimited (until the queue is empty) */
  limit?: number;
}

/** What a browse did. */
export interface BrowseResult {
  /** Messages taken and shown to the visitor. */
  visited: number;
  /** Messages the visitor acked (removed from the queue). */
  removed: number;
}
