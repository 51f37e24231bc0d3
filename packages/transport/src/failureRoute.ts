import type { Delivery } from "./driver/BrokerDriver.js";

/** What a queue's own arguments say about its failed deliveries. */
export interface FailurePolicy {
  /** The queue has an `x-dead-letter-exchange`: the broker dead-letters what is rejected (with `x-death`). */
  readonly ownDeadLetterExchange: boolean;
  /** The queue's `x-delivery-limit` (quorum queues): failed deliveries are retried up to it. */
  readonly deliveryLimit: number | undefined;
}

/** A queue without dead-lettering arguments. */
export const NO_POLICY: FailurePolicy = Object.freeze({ ownDeadLetterExchange: false, deliveryLimit: undefined });

/** The failure policy of a queue declared with `args`. */
export function failurePolicy(args: Readonly<Record<string, unknown>> | undefined): FailurePolicy {
  if (args === undefined) return NO_POLICY;
  const limit = args["x-delivery-limit"];
  return {
    ownDeadLetterExchange: typeof args["x-dead-letter-exchange"] === "string",
    deliveryLimit: typeof limit === "number" && Number.isFinite(limit) && limit >= 0 ? limit : undefined,
  };
}

/**
 * Where a failed delivery goes:
 * - `retry`: requeued for another attempt. A handler error (`retryable`) on a queue with an
 *   `x-delivery-limit` is retried until the broker's limit; with the queue's own dead-letter
 *   exchange the broker dead-letters it at the limit, without one the last delivery is copied
 *   (the broker would drop it silently).
 * - `reject`: rejected to the broker, which dead-letters it to the queue's own exchange: a queue's
 *   `x-dead-letter-exchange` wins over the consumer's dead-letter exchange.
 * - `copy`: a copy goes to the consumer's dead-letter exchange (with the reason), the original is acked.
 */
export function routeFailure(policy: FailurePolicy, delivery: Delivery, retryable: boolean): "retry" | "reject" | "copy" {
  if (retryable && policy.deliveryLimit !== undefined) {
    if (policy.ownDeadLetterExchange) return "retry";
    const count = delivery.properties.headers?.["x-delivery-count"];
    // RabbitMQ delivers a message at most limit + 1 times; the last carries x-delivery-count = limit.
    if ((typeof count === "number" ? count : 0) < policy.deliveryLimit) return "retry";
  }
  return policy.ownDeadLetterExchange ? "reject" : "copy";
}
