import { defineExchange, SuccessResult } from "@postage/core";
import { connect, createConsumer, createProducer } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { eventually, randomName, sleep } from "./support.js";

// What the fault suite met after a kill -9: an RPC retry published while the server's queue was
// still being re-declared was returned (UNROUTABLE), and the call rejected instead of trying again.
// Deterministic here, on the in-memory broker: the server disappears between two attempts.
describe("RPC retries across a server that is briefly unbound", () => {
  it("an unroutable retry is an attempt without a reply: the call goes on and gets its reply", async () => {
    const broker = connect({ url: `memory://${randomName("rpc-retry")}` });
    const exchange = defineExchange({ name: "rpc-retry-ex" });
    let firstSeen = 0;
    const silent = createConsumer(broker, { bindings: [[exchange, [["rpc-q", "k"]]]] }, () => {
      firstSeen += 1; // takes the request, never answers (a server that dies mid-call)
    });
    await silent.ready();
    const producer = createProducer(broker, { exchanges: [[exchange, "k"]] });
    const call = producer.to({ timeout: 150, retries: 20 }).call("echo", "hi");
    call.catch(() => undefined); // awaited below
    await eventually(() => firstSeen === 1, "the first attempt to reach the silent server");
    await silent.close();
    await broker.driver.deleteQueue("rpc-q"); // no binding left: retries are returned (UNROUTABLE)
    await sleep(500);
    const answering = createConsumer(broker, { bindings: [[exchange, [["rpc-q", "k"]]]] }, async ({ message, reply }) => {
      await reply?.(new SuccessResult(message.content.parameters));
    });
    await answering.ready();
    const result = await call;
    expect(result.ok).toBe(true);
    expect(result.value).toBe("hi");
    expect(producer.stats.rpc.retries).toBeGreaterThanOrEqual(3);
    await broker.close();
  });

  it("the first attempt finding no route still fails at once (nobody is listening)", async () => {
    const broker = connect({ url: `memory://${randomName("rpc-retry")}` });
    const producer = createProducer(broker, { exchanges: [[defineExchange({ name: "nobody-ex" }), "k"]] });
    await expect(producer.to({ timeout: 150, retries: 2 }).call("echo", "hi")).rejects.toMatchObject({ code: "UNROUTABLE" });
    await broker.close();
  });
});
