/** The settling methods of a rabbitmq-client Channel that {@link batchAcks} wraps. */
export interface AckingChannel {
  readonly active: boolean;
  basicAck(params: { deliveryTag?: number; multiple?: boolean }): void;
  basicNack(params: { deliveryTag?: number; multiple?: boolean; requeue?: boolean }): void;
  close(): Promise<void>;
}

/**
 * Makes `channel` send its acks in batches: one `basic.ack` with `multiple` for the longest run of
 * delivery tags that are all settled, plus one plain `basic.ack` for each ack above a tag still
 * being handled (so a slow handler never holds back the others' acks, nor the prefetch window).
 * The first batch of an event-loop turn leaves at once (a microtask later, so it shares the socket
 * write with the reply or publish just made); the acks asked for later in that turn wait for the
 * next `setImmediate` and leave together. `clientPatches.ts` applies it to every channel.
 *
 * Why: rabbitmq-client's Consumer acks each message on its own, and the broker pays per ack frame
 * it reads (about a fifth of its CPU per message in a publish-consume run). Deliveries that arrive
 * in one read are handled in callbacks of their own, so their acks fall in the same turn.
 *
 * Safety: delivery tags are per channel, consecutive from 1. A `multiple` ack for tag T is sent
 * only when every tag up to T was settled here (acked, or nacked: nacks are sent at once, as
 * before), and T itself is an ack, so it never acknowledges a message still being handled or one
 * already rejected. `close()` sends the held acks first, so a graceful close loses none; if the
 * channel dies before they leave, the broker redelivers those messages, as with any unacked
 * message on a lost channel. An ack asked for on a channel already closed goes straight to the
 * library, which throws as it did. A caller's own `multiple` ack or nack sends the held acks first
 * (a `multiple` nack must not overtake them); after a `multiple` nack of tag 0 (everything
 * outstanding, as a queue browse ends) the channel's acks go out one by one again. Idempotent.
 * @internal
 */
export function batchAcks(channel: AckingChannel): void {
  const target = channel as AckingChannel & { [BATCHED]?: true };
  if (target[BATCHED] === true) return;
  target[BATCHED] = true;
  const ack = channel.basicAck.bind(channel);
  const nack = channel.basicNack.bind(channel);
  const close = channel.close.bind(channel);

  /** Every tag up to this one is settled and acknowledged to the broker. */
  let base = 0;
  /** Tags above `base` settled here: true = an ack not sent yet, false = sent (an ack or a nack). */
  const settled = new Map<number, boolean>();
  let scheduled = false;
  /** Set for good by a caller's `multiple` nack of tag 0 ("every message outstanding"): the tags seen no longer tell what is settled. */
  let passThrough = false;

  const flush = (): void => {
    scheduled = false;
    if (!channel.active) {
      // The channel is gone with its deliveries: the broker redelivers them, the tags start over.
      settled.clear();
      base = 0;
      return;
    }
    let lastAck = 0;
    while (settled.has(base + 1)) {
      base += 1;
      if (settled.get(base) === true) lastAck = base;
      settled.delete(base);
    }
    if (lastAck > 0) ack({ deliveryTag: lastAck, multiple: true });
    for (const [tag, pending] of settled) {
      if (!pending) continue;
      ack({ deliveryTag: tag });
      settled.set(tag, false);
    }
  };

  /** Flushes since the loop last came round to its check phase (reset by `loopCameRound`, queued by a flush). */
  let flushesThisTurn = 0;
  let turnMarked = false;
  const loopCameRound = (): void => {
    turnMarked = false;
    flushesThisTurn = 0;
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    if (flushesThisTurn === 0) queueMicrotask(flushInTurn);
    else setImmediate(flushInTurn);
  };
  const flushInTurn = (): void => {
    flushesThisTurn += 1;
    if (!turnMarked) {
      turnMarked = true;
      setImmediate(loopCameRound);
    }
    flush();
  };

  channel.basicAck = (params) => {
    const tag = params.deliveryTag;
    if (passThrough || !channel.active || params.multiple === true || tag === undefined || tag <= base || settled.has(tag)) {
      // Not a case for batching (closed channel, a caller's own multiple, an odd tag): as the library does it.
      flushNow();
      ack(params);
      if (params.multiple === true && tag !== undefined) settleUpTo(tag);
      return;
    }
    settled.set(tag, true);
    schedule();
  };

  channel.basicNack = (params) => {
    const tag = params.deliveryTag;
    if (passThrough) {
      nack(params);
      return;
    }
    if (params.multiple === true) {
      // It settles every outstanding message up to its tag: the acks held for some of them go first.
      flushNow();
      nack(params);
      if (tag === undefined || tag === 0) passThrough = true;
      else settleUpTo(tag);
      return;
    }
    // Sent at once; held acks for lower tags may follow later, which the broker does not mind.
    nack(params);
    if (tag === undefined) return;
    if (tag > base) {
      settled.set(tag, false);
      schedule();
    }
  };

  channel.close = () => {
    flushNow();
    return close();
  };

  function flushNow(): void {
    if (scheduled || settled.size > 0) flush();
  }

  /** A `multiple` settle of `tag` by the caller: everything up to it is settled. */
  function settleUpTo(tag: number): void {
    for (const t of settled.keys()) if (t <= tag) settled.delete(t);
    if (tag > base) base = tag;
  }
}

const BATCHED = Symbol("postage.batchedAcks");
