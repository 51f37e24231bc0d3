import type { BrowseDecision, BrowseOptions, BrowseResult, BrowseVisitor } from "../driver/QueueBrowser.js";
import type { Channel } from "rabbitmq-client";
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
    /** Messages still ready in the queue after the last one taken. */
    let left = 0;
    try {
      while (result.visited < limit) {
        const message = await channel.basicGet({ queue, noAck: false });
        if (message === undefined) {
          left = 0;
          break;
        }
        left = message.messageCount;
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
      if (held && channel.active) {
        channel.basicNack({ deliveryTag: 0, multiple: true, requeue: true });
        await requeued(channel, queue, result.visited - result.removed + left);
      }
    }
    return result;
  });
  if (failure !== undefined) throw failure.error;
  return outcome;
}

/** How long a browse waits for its requeued messages to be counted in the queue again, in ms. */
const REQUEUE_WAIT_MS = 2_000;

/**
 * Waits until the queue counts `expected` ready messages again (or more: new ones arrived). The
 * queue applies a requeue on its own time, after the nack's channel moved on: measured on RabbitMQ
 * 3.10, a count or a browse right after a browse of 300 messages missed up to a quarter of them,
 * still on their way back (a declaration on the same channel is no barrier either); they are
 * counted again 3 to 20 ms later. A consumer of the queue may take them meanwhile, or a quorum
 * queue dead-letter them past its delivery limit: then the count never gets there, and after
 * {@link REQUEUE_WAIT_MS} the browse ends anyway (the messages were handed back all the same).
 */
async function requeued(channel: Channel, queue: string, expected: number): Promise<void> {
  const deadline = Date.now() + REQUEUE_WAIT_MS;
  for (;;) {
    const { messageCount } = await channel.queueDeclare({ queue, passive: true });
    if (messageCount >= expected || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
