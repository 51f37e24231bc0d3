import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { Connection } from "rabbitmq-client";
import { afterEach, describe, expect, it } from "vitest";
import { resolveConnectionSettings } from "../config/connectionSettings.js";
import type { Delivery } from "../driver/BrokerDriver.js";
import { TransportError } from "../errors.js";
import { assertPatchedVersion, installedClientVersion, PATCHED_CLIENT_VERSION, patchConnection } from "./clientPatches.js";
import { RabbitDriver } from "./RabbitDriver.js";

// Integration tests against the RabbitMQ at 127.0.0.1:5672 (guest/guest); POSTAGE_SKIP_RABBIT=1 skips them.
const BROKER = "amqp://guest:guest@127.0.0.1:5672";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function openDriver(errors: TransportError[] = []): RabbitDriver {
  const settings = resolveConnectionSettings({ url: BROKER, connectionName: `postage-test-patches-${randomUUID().slice(0, 8)}` }, {});
  if (settings.transport !== "amqp") throw new Error("expected amqp settings");
  const driver = new RabbitDriver(settings, { onError: (e) => errors.push(e) });
  cleanups.push(() => driver.close());
  return driver;
}

describe("rabbitmq-client patches", () => {
  it("are written for the rabbitmq-client that is installed (bump both together)", () => {
    expect(installedClientVersion()).toBe(PATCHED_CLIENT_VERSION);
  });

  it("refuse any other version with UNSUPPORTED_CLIENT", () => {
    expect(() => assertPatchedVersion("5.0.9")).toThrowError(expect.objectContaining({ code: "UNSUPPORTED_CLIENT" }));
    const connection = new Connection({ hostname: "127.0.0.1", port: 1, retryLow: 60_000 });
    cleanups.push(() => connection.close());
    connection.on("error", () => undefined);
    expect(() => patchConnection(connection, "6.0.0")).toThrowError(/rabbitmq-client 6\.0\.0 is installed/);
  });
});

describe.skipIf(process.env["POSTAGE_SKIP_RABBIT"] === "1")("rabbitmq-client patches against RabbitMQ", () => {
  it("all take on a live connection: password hidden, writes coalesced, channels patched, return counting proven", async () => {
    const driver = openDriver();
    await driver.ready();
    const publisher = driver.createPublisher({ confirm: true });
    const received: Delivery[] = [];
    const consumer = driver.createConsumer({ queue: { name: "", exclusive: true } }, (d) => {
      received.push(d);
      return "ack";
    });
    await consumer.ready;
    const body = Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"a":"\xff"}: not UTF-8
    await publisher.publish("", consumer.queue, body, { contentType: "application/json" });
    // Unroutable and mandatory: the return must be matched (counted, then awaited), not missed.
    await expect(publisher.publish("", `postage-test-nobody-${randomUUID()}`, body, {})).rejects.toMatchObject({ code: "UNROUTABLE" }); // _onMethod/emit: the return was seen
    while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));

    const [status] = driver.patchStatus();
    expect(status).toMatchObject({ version: PATCHED_CLIENT_VERSION, passwordHidden: true, socketCoalescing: true, inboundPath: true, returnCountingActive: true, returnsInFlight: 0 });
    // The probe at connect, the publisher's and the consumer's channels at least.
    expect(status?.channelsPatched).toBeGreaterThanOrEqual(3);
    expect(status?.confirmChannelsProven).toBeGreaterThanOrEqual(1);
    // Each patch seen working, not only installed:
    expect(Buffer.from(received[0]?.body ?? []).equals(Buffer.from(body))).toBe(true); // _onHeader: bytes, not a decoded body
    expect(received[0]?.properties.contentType).toBe("application/json");
    expect(inspect(driver, { depth: 8, showHidden: false })).not.toContain("guest:guest"); // _opt.password hidden
  });

  it("fail closed: a client whose channels cannot be patched fails ready() with UNSUPPORTED_CLIENT", async () => {
    const original = Connection.prototype.acquire;
    // A client without Channel#_onHeader would hand over decoded bodies: the driver must refuse it.
    Connection.prototype.acquire = async function acquireUnpatchable(this: Connection, options) {
      const channel = await original.call(this, options);
      Object.defineProperty(channel, "_onHeader", { value: undefined, writable: true, configurable: true });
      return channel;
    };
    let driver: RabbitDriver;
    const errors: TransportError[] = [];
    try {
      driver = openDriver(errors);
    } finally {
      Connection.prototype.acquire = original;
    }
    await expect(driver.ready({ timeout: 10_000 })).rejects.toMatchObject({ code: "UNSUPPORTED_CLIENT", message: expect.stringContaining("Channel#_onHeader") });
    expect(() => driver.createPublisher({ confirm: true })).toThrowError(expect.objectContaining({ code: "UNSUPPORTED_CLIENT" }));
    expect(errors.map((e) => e.code)).toContain("UNSUPPORTED_CLIENT");
  });
});
