import type { Socket } from "node:net";

const PATCHED = Symbol("postage.coalescedWrites");

/** Whether {@link coalesceSocketWrites} was applied to `socket`. */
export function isCoalescing(socket: Socket): boolean {
  return (socket as Socket & { [PATCHED]?: true })[PATCHED] === true;
}

/**
 * Makes `socket` send everything written during one callback (and the promise continuations it
 * sets off) with a single system call; under load, everything written during one turn of the
 * event loop. Idempotent. `clientPatches.ts` applies it to each socket of each rabbitmq-client
 * connection (after every reconnect).
 *
 * rabbitmq-client writes every operation on its own: a publish (method, header and body frames)
 * is one `writev`, each ack one `write`. With `noDelay` each becomes a TCP segment, which costs
 * this process a system call and the broker a read per operation. Postage does several operations
 * per message (a publish and its ack; a reply and the request's ack), usually in the same callback,
 * so coalescing them saves most of those calls, and the broker CPU that goes with them.
 *
 * When to flush: the first flush of an event-loop turn happens at the end of the current tick, once
 * the callback that wrote and every promise continuation it queued have run. That adds no wait to a
 * lone RPC round trip (waiting for `setImmediate` cost a whole loop iteration per hop, 30-45% of
 * sequential RPC throughput). Later flushes in the same turn wait for `setImmediate`: when many
 * deliveries arrive in one read (each handled in a callback of its own), their acks and replies
 * then leave in one write instead of one per delivery, which is what keeps the broker's CPU per
 * message down under load.
 *
 * Only plain Buffer writes are held back; anything else (a callback, an encoding) and `end()`
 * flush what is held first, so bytes never change order. The library's own `cork()` (around a
 * publish's frames, and while the broker says connection.blocked) still applies: corking is
 * counted, so a flush into a blocked socket stays held until the broker unblocks it.
 */
export function coalesceSocketWrites(socket: Socket): void {
  if (!isCoalescing(socket)) patchSocket(socket);
}

function patchSocket(socket: Socket & { [PATCHED]?: true }): void {
  socket[PATCHED] = true;
  const write = socket.write;
  const end = socket.end;
  let held: Buffer[] = [];
  let scheduled = false;
  /** Flushes since the loop last came round to its check phase (reset by `loopCameRound`, queued by a flush). */
  let flushesThisTurn = 0;
  let turnMarked = false;
  const loopCameRound = (): void => {
    turnMarked = false;
    flushesThisTurn = 0;
  };

  const flush = (): void => {
    scheduled = false;
    if (held.length === 0) return;
    flushesThisTurn += 1;
    if (!turnMarked) {
      turnMarked = true;
      setImmediate(loopCameRound);
    }
    const chunks = held;
    held = [];
    // Written after a destroy they would only raise ERR_STREAM_DESTROYED: the connection is gone anyway.
    if (socket.destroyed) return;
    socket.cork();
    for (const chunk of chunks) write.call(socket, chunk);
    socket.uncork();
  };

  // A publish resolves from the write's callback, itself a nextTick queued after ours: the hop
  // through a microtask lets that callback and the continuations it resolves (the handler ends,
  // the request is acked) run first, so a reply and its request's ack leave in one write.
  const flushAtEndOfTick = (): void => queueMicrotask(() => process.nextTick(flush));

  socket.write = function coalescedWrite(this: Socket, ...args: unknown[]): boolean {
    const [chunk] = args;
    if (args.length === 1 && Buffer.isBuffer(chunk) && !socket.destroyed) {
      held.push(chunk);
      if (!scheduled) {
        scheduled = true;
        if (flushesThisTurn === 0) process.nextTick(flushAtEndOfTick);
        else setImmediate(flush);
      }
      // Back-pressure as the socket itself would report it.
      return !socket.writableNeedDrain;
    }
    flush();
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket["write"];

  socket.end = function coalescedEnd(this: Socket, ...args: unknown[]): Socket {
    flush();
    return (end as (...a: unknown[]) => Socket).apply(this, args);
  } as Socket["end"];
}
