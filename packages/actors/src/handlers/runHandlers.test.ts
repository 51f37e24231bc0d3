import { RpcCommandMessage, SuccessResult, type Message } from "@postage/core";
import type { Delivery, Producer } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { rpcHandler, type ProcessorHandle } from "./HandlerDefinition.js";
import { runHandlers, type HandlersOutcome } from "./runHandlers.js";

const processor = { fingerprint: {}, producer: {} as Producer } satisfies ProcessorHandle;

function rpcInput(reply: (result: Message) => Promise<void>) {
  const message = new RpcCommandMessage("echo", "hi");
  const body = message.toBody();
  const delivery: Delivery = { body: new Uint8Array(), exchange: "x", routingKey: "k", redelivered: false, properties: { replyTo: "r", correlationId: "c" } };
  return { message, body, delivery, reply };
}

/** A reply publish the test finishes by hand: `written()` is when the replier's publish resolves. */
function pendingReply() {
  const sent: Message[] = [];
  let written!: () => void;
  let failed!: (error: unknown) => void;
  const publish = (result: Message) => {
    sent.push(result);
    return new Promise<void>((resolve, reject) => {
      written = resolve;
      failed = reject;
    });
  };
  return { sent, publish, written: () => written(), failed: (error: unknown) => failed(error) };
}

describe("runHandlers, RPC replies", () => {
  it("a handler that replies without awaiting: the delivery is settled only once the reply was written", async () => {
    const reply = pendingReply();
    let settled: HandlersOutcome | undefined;
    const handler = rpcHandler("command", "echo", (content, send) => {
      void send(new SuccessResult(content)); // deliberate: not awaited, the case under test
    });
    void Promise.resolve(runHandlers([handler], processor, rpcInput(reply.publish))).then((outcome) => (settled = outcome));
    await new Promise((resolve) => setImmediate(resolve));
    expect(reply.sent).toHaveLength(1);
    expect(settled).toBeUndefined(); // the ack would leave before the reply
    reply.written();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toMatchObject({ completed: 1, failures: [] });
  });

  it("an un-awaited reply that fails is counted as a failure of the delivery, once", async () => {
    const reply = pendingReply();
    const handler = rpcHandler("command", "echo", (content, send) => {
      void send(new SuccessResult(content)); // deliberate: not awaited
    });
    const outcome = Promise.resolve(runHandlers([handler], processor, rpcInput(reply.publish)));
    await new Promise((resolve) => setImmediate(resolve));
    const error = new Error("reply channel closed");
    reply.failed(error);
    expect((await outcome).failures).toEqual([error]);
  });

  it("an awaited reply that fails makes the handler throw: one failure, not two", async () => {
    const reply = pendingReply();
    const handler = rpcHandler("command", "echo", async (content, send) => {
      await send(new SuccessResult(content));
    });
    const outcome = Promise.resolve(runHandlers([handler], processor, rpcInput(reply.publish)));
    await new Promise((resolve) => setImmediate(resolve));
    const error = new Error("reply channel closed");
    reply.failed(error);
    expect((await outcome).failures).toEqual([error]);
  });
});
