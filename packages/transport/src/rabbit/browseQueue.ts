import type { BrowseDecision, BrowseOptions, BrowseResult, BrowseVisitor } from "../driver/QueueBrowser.js";
import type { RabbitContext } from "./RabbitContext.js";
import { bodyBytes } from "./rawBodies.js";
import { toProperties } from "./amqpMessages.js";

/**
 * {@link BrokerDriver.browseQueue} on RabbitMQ: `basic.get` without auto-ack on a channel of its
 * own, one message at a time; acked messages are removed, the others are nacked back with
 * `requeue` when the browse ends (and a channel that dies on the way hands them back by itself).
 * RabbitMQ puts requeued messages back in their original place, so the queue's order is kept.
 * @internal
 */
export async function browseRabbitQueue(context: RabbitContext, queue: string, visit: BrowseVisitor, options: BrowseOptions = {}): Promise<BrowseResult> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  // The visitor's own failure is rethrown as it is, not mapped as a broker error.
  let failure: { error: unknown } | undefined;
  const outcome = await context.withChannel({ queue, operation: `browsing queue "${queue}"` }, async (channel) => {
    const result: BrowseResult = { visited: 0, removed: 0 };
    let held = false;
    try {
      while (result.visited < limit) {
        const message = await channel.basicGet({ queue, noAck: false });
        if (message === undefined) break;
        held = true;
        let decision: BrowseDecision;
        try {
          decision = await visit({
            index: result.visited,
            body: bodyBytes(message.body),
            exchange: message.exchange,
            routingKey: message.routingKey,
            redelivered: message.redelivered,
            properties: toProperties(message),
          });
        } catch (error) {
          failure = { error };
          break;
        } finally {
          result.visited += 1;
        }
        if (decision === "ack") {
          channel.basicAck({ deliveryTag: message.deliveryTag });
          result.removed += 1;
        }
        if (decision === "stop") break;
      }
    } finally {
      // Everything not acked goes back, in its place (also when the visitor threw).
      if (held && channel.active) channel.basicNack({ deliveryTag: 0, multiple: true, requeue: true });
    }
    return result;
  });
  if (failure !== undefined) throw failure.error;
  return outcome;
}
