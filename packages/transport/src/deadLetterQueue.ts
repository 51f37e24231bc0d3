import type { Broker } from "./Broker.js";
import { TransportError } from "./errors.js";

/** The default dead-letter exchange (fanout, durable) and the durable queue bound to it. */
export const DEFAULT_DEAD_LETTER_EXCHANGE = "postage.dead-letter";

/** How much the dead-letter queue keeps. Past either bound RabbitMQ drops the oldest dead letters first. */
export interface DeadLetterQueueLimits {
  /** Messages kept (`x-max-length`). @default 100_000 */
  maxLength?: number;
  /** How long a dead letter is kept, in ms (`x-message-ttl`). @default 604_800_000 (7 days) */
  messageTtlMs?: number;
}

/** The bounds {@link DeadLetterQueueLimits} defaults to. */
export const DEFAULT_DEAD_LETTER_LIMITS: Readonly<Required<DeadLetterQueueLimits>> = Object.freeze({ maxLength: 100_000, messageTtlMs: 7 * 24 * 3_600_000 });

/** The `x-` arguments a dead-letter queue is declared with, for `limits` (the defaults filled in). */
export function deadLetterQueueArguments(limits: DeadLetterQueueLimits = {}): Record<string, unknown> {
  const maxLength = limits.maxLength ?? DEFAULT_DEAD_LETTER_LIMITS.maxLength;
  const messageTtlMs = limits.messageTtlMs ?? DEFAULT_DEAD_LETTER_LIMITS.messageTtlMs;
  for (const [what, value] of [["maxLength", maxLength], ["messageTtlMs", messageTtlMs]] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new TransportError("INVALID_CONFIG", `dead-letter queue ${what} must be a positive integer, got ${String(value)}`);
  }
  // Classic queue, drop-head overflow (RabbitMQ's default): a full dead-letter queue never refuses a
  // dead letter, it forgets the oldest one.
  return { "x-max-length": maxLength, "x-message-ttl": messageTtlMs };
}

/**
 * The queue consumers dead-letter into by default: its name, and the arguments they declare it
 * with (durable, with the default {@link DeadLetterQueueLimits}). Tools reading dead letters
 * should check it passively: a declaration with other arguments fails (`PRECONDITION_FAILED`).
 */
export const DEAD_LETTER_QUEUE: Readonly<{ name: string; durable: true; arguments: Readonly<Record<string, unknown>> }> = Object.freeze({
  name: DEFAULT_DEAD_LETTER_EXCHANGE,
  durable: true,
  arguments: Object.freeze(deadLetterQueueArguments()),
});

/** How {@link declareDeadLetterQueue} found the queue. */
export type DeadLetterQueueState = "bounded" | "unbounded";

/** Queues already warned about in this process (one warning each). */
const warned = new Set<string>();

/**
 * Declares a durable dead-letter queue with `arguments`. A queue of that name declared earlier
 * with other arguments (an older Postage declared `postage.dead-letter` unbounded) makes RabbitMQ
 * refuse the declaration with `PRECONDITION_FAILED`; the queue is then used as it is: checked
 * (passively), `warn` is told once per process what to do about it, and dead-lettering goes on.
 * Resolves to whether the queue has the bounds.
 * @throws {TransportError} anything else the broker refuses (the caller falls back to rejecting).
 */
export async function declareDeadLetterQueue(broker: Broker, name: string, args: Record<string, unknown>, warn: (error: TransportError) => void): Promise<DeadLetterQueueState> {
  try {
    await broker.driver.declareQueue({ name, durable: true, arguments: args });
    return "bounded";
  } catch (error) {
    if (!(error instanceof TransportError) || error.code !== "PRECONDITION_FAILED") throw error;
  }
  await broker.driver.declareQueue({ name, passive: true });
  if (!warned.has(name)) {
    warned.add(name);
    const policy = JSON.stringify({ "max-length": args["x-max-length"], "message-ttl": args["x-message-ttl"] });
    warn(
      new TransportError(
        "PRECONDITION_FAILED",
        `dead-letter queue "${name}" already exists with other arguments (an older version declared it unbounded): it is used as it is, without the length and TTL bounds. ` +
          `Bound it with a policy (rabbitmqctl set_policy postage-dead-letter '^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$' '${policy}' --apply-to queues), ` +
          `or delete it once empty so that it is declared again with them`,
        { queue: name },
      ),
    );
  }
  return "unbounded";
}
