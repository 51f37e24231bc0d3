import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { InspectionEvent } from "@postage/actors";
import { connect, type Broker } from "@postage/transport";
import { createAmqpSource, createInspectorServer, type AmqpInspectionSource, type FleetSnapshot } from "@postage/inspector";

const RABBIT_URL = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(condition: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function stopped(actorId: string): InspectionEvent {
  return { kind: "stopped", actorId, at: 1, state: "stopped" };
}

/** The same checks against the in-memory broker and RabbitMQ. */
function suite(name: string, url: () => string, skip: boolean) {
  describe.skipIf(skip)(`createAmqpSource on ${name}`, () => {
    async function setup(options: { onInvalid?: (error: unknown) => void } = {}): Promise<{ broker: Broker; source: AmqpInspectionSource; exchange: string; publish: (key: string, body: Uint8Array) => Promise<void> }> {
      const exchange = `test.inspect.${randomBytes(5).toString("hex")}`;
      const broker = connect({ url: url(), shared: false });
      const source = createAmqpSource({ broker, exchange, ...options });
      const publisher = broker.driver.createPublisher({ confirm: true });
      cleanups.push(async () => {
        await source.close();
        await publisher.close();
        await broker.driver.deleteExchange(exchange);
        await broker.close();
      });
      await source.ready();
      return {
        broker,
        source,
        exchange,
        publish: (key, body) => publisher.publish(exchange, key, body, { contentType: "application/json" }, { mandatory: false }),
      };
    }

    it("delivers every event on the exchange, whatever its routing key, to each listener", async () => {
      const { source, publish } = await setup();
      const first: InspectionEvent[] = [];
      const second: InspectionEvent[] = [];
      source.subscribe((event) => first.push(event));
      const unsubscribe = source.subscribe((event) => second.push(event));
      await publish("stopped.a1", encode(stopped("a1")));
      await publish("transition.a2", encode({ kind: "transition", actorId: "a2", at: 2, event: "quit", from: "running", to: "stopping" }));
      await waitFor(() => first.length === 2, "two events");
      expect(first.map((e) => [e.kind, e.actorId])).toEqual([
        ["stopped", "a1"],
        ["transition", "a2"],
      ]);
      unsubscribe();
      await publish("stopped.a3", encode(stopped("a3")));
      await waitFor(() => first.length === 3, "a third event");
      expect(second).toHaveLength(2);
    });

    it("counts events that do not parse, reports them, and carries on", async () => {
      const invalid: string[] = [];
      const { source, publish } = await setup({ onInvalid: (error) => invalid.push(error instanceof Error ? error.message : String(error)) });
      const events: InspectionEvent[] = [];
      source.subscribe((event) => events.push(event));
      await publish("x", new TextEncoder().encode("not json"));
      await publish("x", encode({ kind: "nope", actorId: "a", at: 1 }));
      await publish("stopped.ok", encode(stopped("ok")));
      await waitFor(() => events.length === 1, "the valid event");
      expect(source.counters).toEqual({ received: 3, invalid: 2 });
      expect(invalid).toHaveLength(2);
      expect(invalid[1]).toContain('"kind"');
    });

    it("feeds an inspector server end to end", async () => {
      const { source, publish } = await setup();
      const server = await createInspectorServer({ source, port: 0 });
      cleanups.push(() => server.close());
      await publish("transition.z9", encode({ kind: "transition", actorId: "z9", at: 1, event: "ready", from: "starting", to: "running" }));
      await waitFor(() => server.model.component("z9") !== undefined, "the component in the model");
      const snapshot = (await (await fetch(`http://127.0.0.1:${server.port}/api/snapshot`)).json()) as FleetSnapshot & { source: string };
      expect(snapshot.components[0]).toMatchObject({ actorId: "z9", state: "running" });
      expect(snapshot.source).toContain("test.inspect.");
      expect(snapshot.source).not.toContain("guest:guest");
    });
  });
}

suite("the memory broker", () => `memory://inspect-${randomBytes(4).toString("hex")}`, false);
suite("RabbitMQ", () => RABBIT_URL, process.env.POSTAGE_SKIP_RABBIT === "1");
