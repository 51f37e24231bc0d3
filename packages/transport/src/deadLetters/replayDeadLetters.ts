import type { Broker } from "../Broker.js";
import type { MessageProperties } from "../driver/BrokerDriver.js";
import { DEATH_HEADERS, DeadLetterIds, type Origin, originOf, REPLAYS_HEADER } from "./DeadLetter.js";
import { countMessages, deadLetterQueueName, type DeadLetterQueueOptions } from "./targetQueue.js";
import { TransportError } from "../errors.js";

/** Options of {@link replayDeadLetters}. */
export interface ReplayDeadLettersOptions extends DeadLetterQueueOptions {
  /** Republish here instead of each message's original exchange and routing key. @default the original destination */
  to?: { exchange: string; routingKey: string };
}

/** One message {@link replayDeadLetters} republished (or failed to). */
export interface ReplayedLetter {
  readonly id: string;
  /** Where it was published. */
  readonly exchange: string;
  readonly routingKey: string;
}

/** What {@link replayDeadLetters} did. */
export interface ReplayReport {
  readonly queue: string;
  /** Republished, confirmed by the broker, then removed from the dead-letter queue. */
  readonly replayed: readonly ReplayedLetter[];
  /** Not republished (unroutable, missing exchange...): they stay in the dead-letter queue. */
  readonly failed: ReadonlyArray<ReplayedLetter & { readonly error: Error }>;
  /** Ids asked for that no message of the queue has. */
  readonly missing: readonly string[];
}

/**
 * Republishes dead letters to where they were going (the original exchange and routing key, see
 * {@link DeadLetter}) or to `options.to`, and removes each from the dead-letter queue only once
 * the broker confirmed its copy: a failure leaves it where it was, so nothing is lost (a
 * connection lost between the confirm and the removal leaves a duplicate, with the same message
 * id). The copy keeps the body and properties, message id included, without the dead-letter
 * headers, and counts the replay in `x-postage-replays`. Publishes are mandatory: a copy no queue
 * would receive fails instead of vanishing.
 *
 * `ids` names the messages; `"all"` replays the messages in the queue when the replay starts
 * (what dies again meanwhile is not replayed twice).
 * @example
 * const report = await replayDeadLetters(broker, "all");
 * console.log(`${report.replayed.length} replayed, ${report.failed.length} failed`);
 */
export async function replayDeadLetters(broker: Broker, ids: readonly string[] | "all", options: ReplayDeadLettersOptions = {}): Promise<ReplayReport> {
  broker.assertOpen();
  const queue = deadLetterQueueName(options);
  const wanted = ids === "all" ? undefined : new Set(ids);
  const total = await countMessages(broker, queue);
  const replayed: ReplayedLetter[] = [];
  const failed: Array<ReplayedLetter & { error: Error }> = [];
  const found = new Set<string>();
  if (total !== undefined && total > 0 && wanted?.size !== 0) {
    const publisher = broker.driver.createPublisher({ confirm: true });
    const unregister = broker.own("publisher", publisher);
    const letterIds = new DeadLetterIds();
    try {
      await broker.driver.browseQueue(queue, async (message) => {
        // Every id asked for was met: this message goes back untouched.
        if (wanted !== undefined && found.size === wanted.size) return "stop";
        const id = letterIds.next(message);
        if (wanted !== undefined && !wanted.has(id)) return "keep";
        found.add(id);
        const target: Origin = options.to ?? originOf(message);
        const attempt = { id, exchange: target.exchange, routingKey: target.routingKey };
        try {
          await publisher.publish(target.exchange, target.routingKey, message.body, replayProperties(message.properties), { mandatory: true });
        } catch (error) {
          failed.push({ ...attempt, error: error instanceof Error ? error : new TransportError("PUBLISH_FAILED", String(error)) });
          return "keep";
        }
        replayed.push(attempt);
        return "ack";
      }, wanted === undefined ? { limit: total } : {});
    } finally {
      unregister();
      await publisher.close();
    }
  }
  const missing = wanted === undefined ? [] : [...wanted].filter((id) => !found.has(id));
  return { queue, replayed, failed, missing };
}

/** The properties of a replayed copy: the original's, without the dead-letter bookkeeping. */
function replayProperties(properties: MessageProperties): MessageProperties {
  const headers: Record<string, unknown> = { ...properties.headers };
  for (const name of DEATH_HEADERS) delete headers[name];
  const replays = headers[REPLAYS_HEADER];
  headers[REPLAYS_HEADER] = (typeof replays === "number" ? replays : 0) + 1;
  return { ...properties, headers };
}
