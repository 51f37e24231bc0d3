import type { Broker } from "../Broker.js";
import { DeadLetterIds } from "./DeadLetter.js";
import { countMessages, deadLetterQueueName, type DeadLetterQueueOptions } from "./targetQueue.js";

/** Options of {@link purgeDeadLetters}. */
export interface PurgeDeadLettersOptions extends DeadLetterQueueOptions {
  /**
   * Remove at most this many, from the head of the queue: what the person confirming was shown,
   * so a message dead-lettered after the confirmation is kept. @default every message in the queue when the purge starts
   */
  max?: number;
}

/** What {@link purgeDeadLetters} removed. */
export interface PurgeReport {
  readonly queue: string;
  readonly removed: number;
  /** Ids asked for that no message of the queue has. */
  readonly missing: readonly string[];
}

/**
 * Deletes dead letters for good: those named by `ids`, or with `"all"` the messages at the head
 * of the queue (at most `options.max`). A missing queue removes nothing.
 * @example
 * const { total } = await listDeadLetters(broker);
 * if (await askSomeone(`delete ${total} dead letters?`)) await purgeDeadLetters(broker, "all", { max: total });
 */
export async function purgeDeadLetters(broker: Broker, ids: readonly string[] | "all", options: PurgeDeadLettersOptions = {}): Promise<PurgeReport> {
  broker.assertOpen();
  const queue = deadLetterQueueName(options);
  const wanted = ids === "all" ? undefined : new Set(ids);
  const total = await countMessages(broker, queue);
  const found = new Set<string>();
  let removed = 0;
  const max = Math.min(options.max ?? Number.POSITIVE_INFINITY, total ?? 0);
  if (total !== undefined && max > 0 && wanted?.size !== 0) {
    const letterIds = new DeadLetterIds();
    ({ removed } = await broker.driver.browseQueue(queue, (message) => {
      if (wanted === undefined) return "ack";
      // Every id asked for was met: this message goes back untouched.
      if (found.size === wanted.size) return "stop";
      const id = letterIds.next(message);
      if (!wanted.has(id)) return "keep";
      found.add(id);
      return "ack";
    }, wanted === undefined ? { limit: max } : {}));
  }
  const missing = wanted === undefined ? [] : [...wanted].filter((id) => !found.has(id));
  return { queue, removed, missing };
}
