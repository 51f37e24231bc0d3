import type { Envelope, ReturnedMessage } from "rabbitmq-client";
import { TransportError } from "../errors.js";
import type { RabbitContext } from "./RabbitContext.js";
import type { ReturnTracker } from "./ReturnTracker.js";

/** What {@link publishConfirmed} needs from its caller. */
export interface PublishTarget {
  /** Sends once (on an OutboundChannel, with or without confirms). */
  send(envelope: Envelope, body: Buffer): Promise<void>;
  /** Publisher confirms are on: the broker's answer (and any return) is known when `send` resolves. */
  confirm: boolean;
  returns: ReturnTracker;
  /** Maps a failed send's error ({@link RabbitContext.toError}). */
  toError: RabbitContext["toError"];
  /** Attempts when the channel or connection drops mid-publish. */
  maxAttempts: number;
  /**
   * Time allowed for the whole publish, retries included, in ms: past it the publish rejects with
   * `TIMEOUT` even while a send is still waiting for the connection to come back (so a publish
   * never hangs through an outage). `0` or less: no deadline (the acquire timeout still applies).
   */
  timeoutMs: number;
  isClosed(): boolean;
  /** Whether the connection is up now (a send started while it is down waits for a reconnect). */
  isConnected(): boolean;
}

/** The {@link PublishTarget} of a channel of `context`: built once per publisher, not per publish. */
export function publishTarget(
  context: RabbitContext,
  returns: ReturnTracker,
  confirm: boolean,
  send: PublishTarget["send"],
  isClosed: () => boolean,
): PublishTarget {
  return {
    send,
    confirm,
    returns,
    toError: context.toError,
    maxAttempts: context.maxPublishAttempts,
    timeoutMs: context.publishTimeout,
    isClosed,
    isConnected: () => context.connection.ready,
  };
}

/** Pause before publishing again a message returned right after a reconnect. */
const RETURN_RETRY_MS = 250;
/**
 * How long a message returned right after a reconnect keeps being published again, from the first
 * return, in ms: the receivers reconnect with a backoff of their own (up to `retryHigh`, 3 s by
 * default), then declare and bind their queues again.
 */
const RETURN_WINDOW_MS = 10_000;

/** Failures that a later attempt on a new connection can cure (the connection dropped, or it did not come back in time yet). */
const RETRYABLE = new Set(["CONNECTION_LOST", "TIMEOUT"]);

/** First pause before publishing again a message the broker nacked, in ms; it doubles up to {@link NACK_RETRY_MAX_MS}. */
const NACK_RETRY_MS = 50;
const NACK_RETRY_MAX_MS = 1_000;

/** Whether `error` is the broker's negative confirm (basic.nack), as opposed to a lost channel. */
function isNack(error: TransportError): boolean {
  return error.code === "PUBLISH_FAILED" && error.brokerCode === "NACK";
}

/**
 * Publishes one message, retrying when the channel or the connection was lost before the broker
 * confirmed it (the message may then arrive twice: consumers recognise duplicates by message id),
 * and rejecting with `UNROUTABLE` when a confirmed mandatory message was returned.
 *
 * While the broker is unreachable, an attempt waits for the connection to come back; attempts go on
 * until `maxAttempts` or the `timeoutMs` deadline, whichever comes first. A message returned just
 * after an outage (its receivers had not declared their queues again yet) is published again every
 * 250 ms for up to 10 s from the first return, within the deadline (these do not count as attempts). A message the broker nacked (a quorum queue whose leader
 * is on a node that is shutting down, or changing, nacks what it cannot take for a few seconds) is
 * published again after a pause growing from 50 ms to 1 s, until the deadline (or `maxAttempts`
 * nacks when there is no deadline): during a cluster failover that is what gets it stored; a queue
 * that keeps refusing (`x-overflow: reject-publish` and full) makes the publish wait for room until
 * the deadline, then fail with `PUBLISH_FAILED`. The promise always settles: at the latest at the
 * deadline, with a `TIMEOUT` error naming the last failure.
 *
 * @param resume the first attempt was already made (by the driver's own publish path) and failed:
 *   go on from that failure, within the deadline it started with.
 * @throws {TransportError} `EXCHANGE_NOT_FOUND`, `UNROUTABLE`, `PUBLISH_FAILED`, `CONNECTION_LOST`,
 *   `TIMEOUT` (not confirmed within the deadline, or no connection within the acquire timeout), `CLOSED`.
 */
export async function publishConfirmed(target: PublishTarget, envelope: Envelope, body: Buffer, resume?: ResumedPublish): Promise<void> {
  const exchange = envelope.exchange ?? "";
  const routingKey = envelope.routingKey ?? "";
  const context = {
    exchange,
    routingKey,
    operation: `publishing to exchange "${exchange}" with routing key "${routingKey}"`,
  };
  const deadline = resume?.deadline ?? publishDeadline(target);
  let lostConnection = false;
  let nacks = 0;
  let failedFirst = resume !== undefined;
  /** When the first return after a lost connection came (the return window starts there). */
  let firstReturnAt: number | undefined;
  for (let attempt = 1; ; attempt += 1) {
    if (!failedFirst && target.isClosed()) throw new TransportError("CLOSED", `cannot publish to exchange "${exchange}": the publisher is closed`, { exchange, routingKey });
    if (!failedFirst && !target.isConnected()) lostConnection = true;
    try {
      if (failedFirst) {
        failedFirst = false;
        throw resume?.error;
      }
      await withDeadline(target.send(envelope, body), deadline, target.timeoutMs, context);
    } catch (err) {
      const mapped = target.toError(err, context);
      if (mapped.code === "TIMEOUT" && err instanceof DeadlineError) throw mapped;
      if (RETRYABLE.has(mapped.code) && attempt < target.maxAttempts && Date.now() < deadline && !target.isClosed()) {
        lostConnection = true;
        continue;
      }
      if (isNack(mapped) && !target.isClosed()) {
        nacks += 1;
        const pause = Math.min(NACK_RETRY_MAX_MS, NACK_RETRY_MS * 2 ** (nacks - 1));
        const withinBudget = deadline === Number.POSITIVE_INFINITY ? nacks < target.maxAttempts : Date.now() + pause < deadline;
        if (withinBudget) {
          // Not counted as an attempt: a failover can nack for several seconds, the deadline is the bound.
          attempt -= 1;
          await new Promise((resolve) => setTimeout(resolve, pause));
          continue;
        }
      }
      throw mapped;
    }
    if (target.confirm && envelope.mandatory && target.returns.mayHaveReturns()) {
      const returned = await target.returns.wasReturned(envelope, body);
      // Right after a reconnect the receivers may not have declared their queues again yet: a
      // return then is part of the outage, so try again shortly, within the same deadline.
      // Not counted as attempts (ten would be 2.5 s, less than a receiver's reconnect backoff may
      // take): bounded by RETURN_WINDOW_MS from the first such return, and by the deadline.
      if (returned !== undefined && lostConnection) {
        firstReturnAt ??= Date.now();
        if (Date.now() - firstReturnAt < RETURN_WINDOW_MS && Date.now() + RETURN_RETRY_MS < deadline) {
          attempt -= 1;
          await new Promise((resolve) => setTimeout(resolve, RETURN_RETRY_MS));
          continue;
        }
      }
      if (returned !== undefined) throw unroutableError(exchange, routingKey, returned);
    }
    return;
  }
}

/** The rest of a publish whose first attempt was made elsewhere (the driver's own publish path) and failed. */
export interface ResumedPublish {
  /** Why the first attempt failed (a lost channel, a nack, a channel error...). */
  error: unknown;
  /** The publish's deadline, set when the first attempt started (`Infinity`: none). */
  deadline: number;
}

/** When a publish starting now must be done by, `Date.now()` ms (`Infinity` without a timeout). */
export function publishDeadline(target: PublishTarget): number {
  return target.timeoutMs > 0 ? Date.now() + target.timeoutMs : Number.POSITIVE_INFINITY;
}

/** The error of a confirmed mandatory publish the broker returned (no queue bound for it). */
export function unroutableError(exchange: string, routingKey: string, returned: ReturnedMessage): TransportError {
  return new TransportError(
    "UNROUTABLE",
    `no queue is bound to exchange "${exchange}" with routing key "${routingKey}" (${returned.replyText}): the message was returned. Is the receiving component running, and bound with this key?`,
    { exchange, routingKey, brokerCode: String(returned.replyCode) },
  );
}

/** The publish deadline passed (a {@link TransportError} `TIMEOUT`). */
class DeadlineError extends TransportError {}

/** The `TIMEOUT` a publish to `exchange` / `routingKey` fails with once `timeoutMs` passed without a confirm. */
export function deadlineError(exchange: string, routingKey: string, timeoutMs: number): TransportError {
  return new DeadlineError(
    "TIMEOUT",
    `publishing to exchange "${exchange}" with routing key "${routingKey}" was not confirmed within ${timeoutMs} ms (the broker is unreachable or not answering); it may still arrive, under the same message id`,
    { exchange, routingKey },
  );
}

/** A send waiting for its deadline. */
interface Watch {
  deadline: number;
  expire: () => void;
}

/** How often pending sends are checked against their deadlines, in ms: deadlines are this precise. */
const SWEEP_MS = 100;
const watched = new Set<Watch>();
let sweeper: NodeJS.Timeout | undefined;

// One timer checks every pending send: a timer (and a Promise.race) per publish cost more than the publish itself.
function sweep(): void {
  const now = Date.now();
  for (const watch of watched) {
    if (watch.deadline > now) continue;
    watched.delete(watch);
    watch.expire();
  }
  if (watched.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * Races one send against the deadline (checked every {@link SWEEP_MS} ms). The send may still
 * complete later (the broker may then store the message: a retry by the caller carries the same
 * message id, so consumers can drop the duplicate); its late outcome is ignored.
 */
function withDeadline(send: Promise<void>, deadline: number, timeoutMs: number, context: { exchange: string; routingKey: string }): Promise<void> {
  if (deadline === Number.POSITIVE_INFINITY) return send;
  return new Promise<void>((resolve, reject) => {
    const watch: Watch = {
      deadline,
      expire: () => reject(deadlineError(context.exchange, context.routingKey, timeoutMs)),
    };
    watched.add(watch);
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, SWEEP_MS);
      sweeper.unref();
    }
    send.then(
      () => {
        watched.delete(watch);
        resolve();
      },
      (error: unknown) => {
        watched.delete(watch);
        reject(error);
      },
    );
  });
}
