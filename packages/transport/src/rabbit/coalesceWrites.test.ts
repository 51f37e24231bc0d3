import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { coalesceSocketWrites, isCoalescing } from "./coalesceWrites.js";

/** A socket stand-in that records what reaches the real `write`, grouped by cork/uncork (one group = one system call). */
function fakeSocket() {
  const groups: string[][] = [];
  let corked = 0;
  let current: string[] = [];
  const socket = {
    destroyed: false,
    writableNeedDrain: false,
    write(chunk: Buffer | string, ...rest: unknown[]): boolean {
      const text = `${String(chunk)}${rest.length > 0 ? "+args" : ""}`;
      if (corked > 0) current.push(text);
      else groups.push([text]);
      return true;
    },
    end(): void {
      groups.push(["<end>"]);
    },
    cork(): void {
      corked += 1;
    },
    uncork(): void {
      corked -= 1;
      if (corked === 0 && current.length > 0) {
        groups.push(current);
        current = [];
      }
    },
  };
  coalesceSocketWrites(socket as unknown as Socket);
  return { socket: socket as unknown as Socket, groups };
}

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("coalesceSocketWrites", () => {
  it("sends what one callback and its promise continuations wrote in one go, before the loop turns", async () => {
    const { socket, groups } = fakeSocket();
    expect(isCoalescing(socket)).toBe(true);
    let sawFlushBeforeImmediate = false;
    setImmediate(() => {
      sawFlushBeforeImmediate = groups.length === 1;
    });
    socket.write(Buffer.from("publish"));
    await Promise.resolve();
    socket.write(Buffer.from("ack"));
    expect(groups).toEqual([]);
    await immediate();
    expect(groups).toEqual([["publish", "ack"]]);
    expect(sawFlushBeforeImmediate).toBe(true);
  });

  it("waits for the continuations of a write's callback: a reply and the ack after it leave together", async () => {
    const { socket, groups } = fakeSocket();
    socket.write(Buffer.from("reply"));
    // As Node's Writable does: the write callback is a nextTick queued after the write; the
    // publish's promise resolves from it, the handler ends, the consumer acks.
    process.nextTick(() => {
      void Promise.resolve()
        .then(() => undefined)
        .then(() => socket.write(Buffer.from("ack")));
    });
    await immediate();
    expect(groups).toEqual([["reply", "ack"]]);
  });

  it("after the first flush of a turn, holds later writes of that turn for one write", async () => {
    const { socket, groups } = fakeSocket();
    // Deliveries arriving in one read are handled in immediates of their own, all in one check phase.
    await new Promise<void>((resolve) => {
      setImmediate(() => socket.write(Buffer.from("a")));
      setImmediate(() => socket.write(Buffer.from("b")));
      setImmediate(() => socket.write(Buffer.from("c")));
      setImmediate(resolve);
    });
    expect(groups).toEqual([["a"]]);
    await immediate();
    await immediate();
    expect(groups).toEqual([["a"], ["b", "c"]]);
    // A later, quiet turn flushes at once again.
    await immediate();
    await immediate();
    const beforeNextTurn = new Promise<string[][]>((resolve) => setImmediate(() => resolve(groups.map((g) => [...g]))));
    socket.write(Buffer.from("d"));
    expect(await beforeNextTurn).toEqual([["a"], ["b", "c"], ["d"]]);
  });

  it("never reorders: a write with arguments or end() sends what is held first", async () => {
    const { socket, groups } = fakeSocket();
    socket.write(Buffer.from("1"));
    socket.write("2", "utf8");
    socket.write(Buffer.from("3"));
    socket.end();
    await immediate();
    expect(groups).toEqual([["1"], ["2+args"], ["3"], ["<end>"]]);
  });
});
