import { connect } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { RABBIT_URL, randomName } from "./helpers.js";

// Broker.connected feeds the postage_broker_connected gauge.
describe("Broker.connected", () => {
  it("memory: true until closed", async () => {
    const broker = connect({ url: `memory://${randomName("connected")}`, shared: false });
    expect(broker.connected).toBe(true);
    await broker.close();
    expect(broker.connected).toBe(false);
  });

  it.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("RabbitMQ: false before the connection is up and after close, true while it is", async () => {
    const broker = connect({ url: RABBIT_URL, shared: false });
    await broker.ready({ timeout: 10_000 });
    expect(broker.connected).toBe(true);
    await broker.close();
    expect(broker.connected).toBe(false);
  });

  it("RabbitMQ: false while nothing listens at the address", async () => {
    // Port 1 on loopback: refused at once, the driver keeps retrying in the background.
    const broker = connect({ url: "amqp://guest:guest@127.0.0.1:1", shared: false });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(broker.connected).toBe(false);
    await broker.close();
  });
});
