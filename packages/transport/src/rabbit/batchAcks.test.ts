import { describe, expect, it } from "vitest";
import { batchAcks, type AckingChannel } from "./batchAcks.js";

/** A channel stand-in recording the frames the library would send, in order. */
function fakeChannel() {
  const sent: string[] = [];
  const channel = {
    active: true,
    basicAck(params: { deliveryTag?: number; multiple?: boolean }): void {
      if (!channel.active) throw new Error("channel is closed");
      sent.push(`ack ${params.deliveryTag}${params.multiple ? " multiple" : ""}`);
    },
    basicNack(params: { deliveryTag?: number; multiple?: boolean; requeue?: boolean }): void {
      sent.push(`nack ${params.deliveryTag}${params.requeue ? " requeue" : ""}`);
    },
    async close(): Promise<void> {
      sent.push("close");
      channel.active = false;
    },
  };
  batchAcks(channel as AckingChannel);
  return { channel, sent };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("batchAcks", () => {
  it("sends the acks of one turn as one multiple ack", async () => {
    const { channel, sent } = fakeChannel();
    for (const tag of [1, 2, 3, 4]) channel.basicAck({ deliveryTag: tag });
    expect(sent).toEqual([]);
    await turn();
    expect(sent).toEqual(["ack 4 multiple"]);
    channel.basicAck({ deliveryTag: 6 });
    channel.basicAck({ deliveryTag: 5 });
    await turn();
    expect(sent).toEqual(["ack 4 multiple", "ack 6 multiple"]);
  });

  it("sends a turn's first acks at once (beside the reply they follow), the later ones of the turn batched", async () => {
    const { channel, sent } = fakeChannel();
    channel.basicAck({ deliveryTag: 1 });
    await Promise.resolve();
    expect(sent).toEqual(["ack 1 multiple"]);
    // Deliveries read together are handled in immediates of their own, in one later turn.
    await new Promise<void>((resolve) => {
      for (const tag of [2, 3, 4]) setImmediate(() => channel.basicAck({ deliveryTag: tag }));
      setImmediate(resolve);
    });
    expect(sent).toEqual(["ack 1 multiple", "ack 2 multiple"]);
    await turn();
    expect(sent).toEqual(["ack 1 multiple", "ack 2 multiple", "ack 4 multiple"]);
  });

  it("never covers a message still being handled: acks above it go one by one", async () => {
    const { channel, sent } = fakeChannel();
    channel.basicAck({ deliveryTag: 1 });
    channel.basicAck({ deliveryTag: 2 });
    channel.basicAck({ deliveryTag: 4 });
    channel.basicAck({ deliveryTag: 5 });
    await turn();
    expect(sent).toEqual(["ack 2 multiple", "ack 4", "ack 5"]);
    channel.basicAck({ deliveryTag: 3 });
    await turn();
    // 4 and 5 are already acked: the multiple ack ends at 3, the last one still to send.
    expect(sent.slice(3)).toEqual(["ack 3 multiple"]);
  });

  it("sends nacks at once and never acks a rejected message", async () => {
    const { channel, sent } = fakeChannel();
    channel.basicAck({ deliveryTag: 1 });
    channel.basicNack({ deliveryTag: 2, requeue: false });
    channel.basicAck({ deliveryTag: 3 });
    channel.basicNack({ deliveryTag: 4, requeue: true });
    expect(sent).toEqual(["nack 2", "nack 4 requeue"]);
    await turn();
    // ack 3 multiple settles 1 and 3; 2 and 4 were nacked already, and 4 is not covered.
    expect(sent).toEqual(["nack 2", "nack 4 requeue", "ack 3 multiple"]);
  });

  it("sends held acks before closing, and leaves a closed channel's acks to the library", async () => {
    const { channel, sent } = fakeChannel();
    channel.basicAck({ deliveryTag: 1 });
    channel.basicAck({ deliveryTag: 2 });
    await channel.close();
    expect(sent).toEqual(["ack 2 multiple", "close"]);
    expect(() => channel.basicAck({ deliveryTag: 3 })).toThrow(/closed/);
    await turn();
    expect(sent).toEqual(["ack 2 multiple", "close"]);
  });

  it("a multiple nack does not overtake held acks; after a nack of everything, acks go one by one", async () => {
    const { channel, sent } = fakeChannel();
    channel.basicAck({ deliveryTag: 1 });
    channel.basicNack({ deliveryTag: 0, multiple: true, requeue: true });
    expect(sent).toEqual(["ack 1 multiple", "nack 0 requeue"]);
    channel.basicAck({ deliveryTag: 5 });
    expect(sent).toEqual(["ack 1 multiple", "nack 0 requeue", "ack 5"]);
  });

  it("drops held acks when the channel died before they left (the broker redelivers those)", async () => {
    const { channel, sent } = fakeChannel();
    channel.basicAck({ deliveryTag: 1 });
    channel.active = false;
    await turn();
    expect(sent).toEqual([]);
  });
});
