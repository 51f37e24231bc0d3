import { defineExchange } from "@postage/core";
import { connect, createConsumer, createProducer, getMemoryBroker, MemoryDriver, TransportError, type Incoming } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { randomName, waitFor } from "./helpers.js";

describe("connect and Broker", () => {
  it("shares one driver per URL, reference-counted; shared: false opens a connection of its own", async () => {
    const url = `memory://${randomName("share")}`;
    const a = connect({ url });
    const b = connect({ url });
    const own = connect({ url, shared: false });
    expect(a.driver).toBe(b.driver);
    expect(own.driver).not.toBe(a.driver);
    expect(a.url).toBe(url);

    // Closing one handle leaves the connection to the other.
    await a.close();
    const ex = defineExchange({ name: randomName("ex"), durable: false });
    const received: Incoming[] = [];
    const consumer = createConsumer(b, { bindings: [[ex, [["", "k"]]]] }, (incoming) => {
      received.push(incoming);
      return "ack";
    });
    await consumer.ready();
    await createProducer(own, { exchanges: [[ex, "k"]], commands: ["still"] }).message.still();
    await waitFor(() => received.length === 1, "a message after the first handle closed");

    // The last handle closes the connection; a new connect opens a fresh one.
    const driver = b.driver;
    await b.close();
    await expect(driver.declareQueue({ name: "" })).rejects.toMatchObject({ code: "CLOSED" });
    const c = connect({ url });
    expect(c.driver).not.toBe(driver);
    await c.close();
    await own.close();
  });

  it("closes publishers, then RPC clients, then consumers, then the connection", async () => {
    const order: string[] = [];
    class RecordingDriver extends MemoryDriver {
      override async close(): Promise<void> {
        order.push("connection");
        await super.close();
      }
    }
    const broker = connect({ driver: new RecordingDriver(getMemoryBroker(randomName("order"))) });
    for (const kind of ["consumer", "rpc", "publisher", "consumer"] as const) {
      broker.own(kind, {
        close: async () => {
          // A slow close must still finish before the next kind starts.
          await new Promise((resolve) => setTimeout(resolve, 5));
          order.push(kind);
        },
      });
    }
    await Promise.all([broker.close(), broker.close()]);
    expect(order).toEqual(["publisher", "rpc", "consumer", "consumer", "connection"]);
    expect(() => broker.own("publisher", { close: async () => undefined })).toThrow(TransportError);
  });

  it("rejects a URL it cannot use with INVALID_URL", () => {
    expect(() => connect({ url: "http://example.com" })).toThrow(expect.objectContaining({ code: "INVALID_URL" }));
  });
});
