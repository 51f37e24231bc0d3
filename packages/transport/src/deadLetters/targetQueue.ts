import type { Broker } from "../Broker.js";
import { DEAD_LETTER_QUEUE } from "../deadLetterQueue.js";
import { TransportError } from "../errors.js";

/** Which dead-letter queue an operation works on. */
export interface DeadLetterQueueOptions {
  /** The queue holding the dead letters. @default "postage.dead-letter" (the consumers' default) */
  queue?: string;
}

/** The queue of `options`. @internal */
export function deadLetterQueueName(options: DeadLetterQueueOptions): string {
  return options.queue ?? DEAD_LETTER_QUEUE.name;
}

/**
 * Messages waiting in a queue, or undefined when it does not exist. Only checks (passive): the
 * dead-letter queue is declared by the consumers with their arguments (`DEAD_LETTER_QUEUE`), and
 * a declaration with other arguments would fail (`PRECONDITION_FAILED`).
 * @internal
 */
export async function countMessages(broker: Broker, queue: string): Promise<number | undefined> {
  try {
    return (await broker.driver.declareQueue({ name: queue, passive: true })).messageCount;
  } catch (error) {
    if (error instanceof TransportError && error.code === "QUEUE_NOT_FOUND") return undefined;
    throw error;
  }
}
