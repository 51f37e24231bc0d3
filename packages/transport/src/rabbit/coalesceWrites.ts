import type { Socket } from "node:net";

const PATCHED = Symbol("postage.coalescedWrites");

/** Whether {@link coalesceSocketWrites} was applied to `socket`. */
export function isCoalescing(socket: Socket): boolean {
  return (socket as Socket & { [PATCHED]?: true })[PATCHED] === true;
}

/**
 * Makes `socket` send everything written during one turn of the event loop with a single system
 * call, from the next `setImmediate`. Idempotent. `clientPatches.ts` applies it to each socket of
 * each rabbitmq-client connection (after every reconnect).
 *
 * rabbitmq-client writes every operation on its own: a publish (method, header and body frames)
 * is one `writev`, each ack one `write`. With `noDelay` each becomes a TCP segment, which costs
 * this process a system call and the broker a read per operation. Postage does several operations
 * per message (a publish and its ack; a reply and the request's ack), usually in the same turn, so
 * coalescing them saves most of those calls, and the broker CPU that goes with them. The delay
 * is one `setImmediate`: after the current I/O callbacks, before the loop waits for I/O again.
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

  const flush = (): void => {
    scheduled = false;
    if (held.length === 0) return;
    const chunks = held;
    held = [];
    // Written after a destroy they would only raise ERR_STREAM_DESTROYED: the connection is gone anyway.
    if (socket.destroyed) return;
    socket.cork();
    for (const chunk of chunks) write.call(socket, chunk);
    socket.uncork();
  };

  socket.write = function coalescedWrite(this: Socket, ...args: unknown[]): boolean {
    const [chunk] = args;
    if (args.length === 1 && Buffer.isBuffer(chunk) && !socket.destroyed) {
      held.push(chunk);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
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
