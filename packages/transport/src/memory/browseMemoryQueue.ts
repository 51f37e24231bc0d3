import type { BrowseDecision, BrowseOptions, BrowseResult, BrowseVisitor } from "../driver/QueueBrowser.js";
import type { MemoryQueue, QueueConsumer } from "./MemoryQueue.js";

/**
 * {@link BrokerDriver.browseQueue} on the in-memory broker, with RabbitMQ's semantics: each
 * message is taken as a `basic.get` without auto-ack would take it (held by a channel of its own,
 * invisible to consumers meanwhile); acked ones are removed, the rest go back to their place
 * when the browse ends, marked redelivered (quorum queues count the attempt).
 * @internal
 */
export async function browseMemoryQueue(queue: MemoryQueue, onError: (error: unknown) => void, visit: BrowseVisitor, options: BrowseOptions = {}): Promise<BrowseResult> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  // The browse's own channel: never in the queue's consumer list, so nothing is pushed to it.
  const holder: QueueConsumer = {
    handler: () => "requeue",
    prefetch: 0,
    exclusive: false,
    unsettled: new Set(),
    onError,
    active: false,
    idle: undefined,
  };
  const result: BrowseResult = { visited: 0, removed: 0 };
  try {
    while (result.visited < limit) {
      const taken = queue.get(holder);
      if (taken === undefined) break;
      let decision: BrowseDecision;
      try {
        decision = await visit({ ...taken.delivery, index: result.visited });
      } finally {
        result.visited += 1;
      }
      if (decision === "ack") {
        queue.settle(holder, taken.message, "ack");
        result.removed += 1;
      }
      if (decision === "stop") break;
    }
  } finally {
    // Back in their places (returnMessage orders by publish sequence), as RabbitMQ's requeue does.
    for (const message of [...holder.unsettled]) queue.settle(holder, message, "requeue");
  }
  return result;
}
