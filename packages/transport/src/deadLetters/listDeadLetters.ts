import type { Broker } from "../Broker.js";
import { type DeadLetter, DeadLetterIds, readDeadLetter } from "./DeadLetter.js";
import { countMessages, deadLetterQueueName, type DeadLetterQueueOptions } from "./targetQueue.js";

/** Options of {@link listDeadLetters}. */
export interface ListDeadLettersOptions extends DeadLetterQueueOptions {
  /** Show at most this many, from the head of the queue. @default 100 */
  limit?: number;
}

/** What {@link listDeadLetters} found. */
export interface DeadLetterListing {
  readonly queue: string;
  /** False when the queue does not exist (nothing was ever dead-lettered there). */
  readonly exists: boolean;
  /** Messages in the queue when it was listed (more than {@link deadLetters} past the limit). */
  readonly total: number;
  readonly deadLetters: readonly DeadLetter[];
}

/**
 * Lists what waits in a dead-letter queue, oldest first, without consuming anything: each
 * message is taken without ack and handed back to its place (see `BrokerDriver.browseQueue`).
 * The queue keeps every message, in order; RabbitMQ marks them redelivered, and a quorum queue
 * counts the listing as a delivery attempt.
 * @example
 * const { total, deadLetters } = await listDeadLetters(broker, { limit: 20 });
 * for (const letter of deadLetters) console.log(letter.id, letter.error, letter.exchange, letter.routingKey);
 */
export async function listDeadLetters(broker: Broker, options: ListDeadLettersOptions = {}): Promise<DeadLetterListing> {
  broker.assertOpen();
  const queue = deadLetterQueueName(options);
  const total = await countMessages(broker, queue);
  if (total === undefined) return { queue, exists: false, total: 0, deadLetters: [] };
  const ids = new DeadLetterIds();
  const deadLetters: DeadLetter[] = [];
  await broker.driver.browseQueue(queue, (message) => {
    deadLetters.push(readDeadLetter(message, ids.next(message)));
    return "keep";
  }, { limit: options.limit ?? 100 });
  return { queue, exists: true, total: Math.max(total, deadLetters.length), deadLetters };
}

/**
 * Finds one dead letter by its {@link DeadLetter.id}, without consuming anything; undefined when
 * no message of the queue has that id (or the queue does not exist).
 */
export async function findDeadLetter(broker: Broker, id: string, options: DeadLetterQueueOptions = {}): Promise<DeadLetter | undefined> {
  broker.assertOpen();
  const queue = deadLetterQueueName(options);
  if ((await countMessages(broker, queue)) === undefined) return undefined;
  const ids = new DeadLetterIds();
  let found: DeadLetter | undefined;
  await broker.driver.browseQueue(queue, (message) => {
    if (ids.next(message) !== id) return "keep";
    found = readDeadLetter(message, id);
    return "stop";
  });
  return found;
}
