import { Fingerprint, SuccessResult } from "@postage/core";
import { connect, createProducer, type Producer, type TransportError } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addresses, GenericApplication, messageHandler, rpcHandler, Scheduler } from "../../src/index.js";
import { quietBroker } from "./stream.js";
import { eventually, FAULT_URL, portOpen, rabbitSh, randomName, settlesWithin, sleep } from "./support.js";

/** Sends until the message is routed (after a restart, bindings come back a moment after the broker). */
async function sendWhenRouted(producer: Producer, key: string, name: string, parameters: unknown): Promise<void> {
  await eventually(
    async () => {
      try {
        await producer.to({ key }).command(name, parameters);
        return true;
      } catch (error) {
        if ((error as TransportError).code === "UNROUTABLE") return false;
        throw error;
      }
    },
    `a route for ${key}`,
    20_000,
  );
}

describe("behaviour through outages (fault node on 5673)", () => {
  let startedHere = false;
  const driverErrors: TransportError[] = [];
  const appBroker = () => quietBroker(FAULT_URL, (error) => driverErrors.push(error));
  const name = randomName("outage-app");
  const handled: Array<{ key: string; tag: string }> = [];
  let rpcStarted = 0;
  let app: GenericApplication;
  let scheduler: Scheduler;
  let running: Promise<unknown>;
  const schedulerLog: string[] = [];
  const brokers = [appBroker(), appBroker()];
  const [consumerBroker, producerBroker] = brokers as [ReturnType<typeof appBroker>, ReturnType<typeof appBroker>];
  let producer: Producer;

  beforeAll(async () => {
    const log = await rabbitSh("fault-start");
    startedHere = !log.includes("already running");
    app = new GenericApplication({
      name,
      handlers: [
        messageHandler("command", "tag", (content, { delivery }) => {
          handled.push({ key: delivery.routingKey, tag: String((content.parameters as { tag: string }).tag) });
        }),
        rpcHandler("command", "slow_echo", async (content, reply) => {
          rpcStarted += 1;
          await sleep((content.parameters as { delay: number }).delay);
          await reply(new SuccessResult(content.parameters));
        }),
      ],
    });
    scheduler = new Scheduler({ broker: consumerBroker, handleSignals: false, log: (line) => schedulerLog.push(line) });
    scheduler.add(app);
    running = scheduler.run();
    await eventually(() => app.state === "running", "the application to run");
    producer = createProducer(producerBroker, { exchanges: [[app.exchange, addresses.instance(app.id)]], fingerprint: Fingerprint.collect({ name: "outage-sender" }) });
    // Joined at run time, by command: the binding and the round-robin consumer are not in the options.
    await producer.command("join_group", { group_name: "g1" });
    await eventually(() => app.groups.includes("g1"), "the application to join g1");
  }, 120_000);

  afterAll(async () => {
    app.quit();
    await settlesWithin(running, 30_000, "the scheduler");
    await producerBroker.driver.deleteQueue(addresses.groupRoundRobin(name, "g1")).catch(() => undefined);
    for (const key of [addresses.nameRoundRobin(name), addresses.nameOnHostRoundRobin(name, app.identity.host)]) {
      await producerBroker.driver.deleteQueue(key).catch(() => undefined);
    }
    await producer.close();
    for (const broker of brokers) await broker.close();
    if (startedHere) await rabbitSh("fault-stop");
  }, 120_000);

  it("an RPC in flight when the broker is killed gets its reply or a TimeoutError result; a joined group comes back", async () => {
    const call = producer.to({ timeout: 3_000, retries: 4 }).call("slow_echo", { delay: 1_500 });
    call.catch(() => undefined); // observed below (settlesWithin); a rejection meanwhile is not "unhandled"
    await eventually(() => rpcStarted >= 1, "the RPC handler to start");
    await rabbitSh("fault-kill9");
    const result = await settlesWithin(call, 30_000, "the RPC call in flight during the kill");
    // Either outcome is correct; hanging or throwing is not.
    expect(result.ok || result.value === "TimeoutError").toBe(true);
    console.log(`RPC in flight across kill -9: ${result.ok ? "replied" : `${String(result.value)}: ${String(result.content.message)}`}`);

    // Bindings made at run time (join_group) are back: fan-out and round robin of the group.
    await sendWhenRouted(producer, addresses.group(name, "g1"), "tag", { tag: "fanout-after-kill" });
    await sendWhenRouted(producer, addresses.groupRoundRobin(name, "g1"), "tag", { tag: "rr-after-kill" });
    await eventually(() => handled.some((h) => h.tag === "fanout-after-kill") && handled.some((h) => h.tag === "rr-after-kill"), "the group messages");
    expect(app.groups).toEqual(["g1"]);

    // And RPC works again.
    const again = await settlesWithin(producer.to({ timeout: 5_000, retries: 1 }).call("slow_echo", { delay: 0 }), 20_000, "an RPC after the restart");
    expect(again.ok).toBe(true);
  }, 120_000);

  it("a publish made during an outage is retried until the broker is back, or fails with TIMEOUT at its deadline", async () => {
    const impatientBroker = connect({ url: FAULT_URL, shared: false, publishTimeout: 1_500 });
    const impatient = createProducer(impatientBroker, { exchanges: [[app.exchange, addresses.instance(app.id)]] });
    await sendWhenRouted(impatient, addresses.instance(app.id), "tag", { tag: "before-outage" }); // connected, and the app is bound
    const bouncing = rabbitSh("fault-bounce", "6");
    await eventually(async () => !(await portOpen(5673)), "the fault node to stop listening", 20_000);

    const started = Date.now();
    const failing = impatient.command("tag", { tag: "impatient" }).then(
      () => "resolved",
      (error: TransportError) => error,
    );
    const patient = producer.command("tag", { tag: "patient" });
    const rpcDuringOutage = producer.to({ timeout: 3_000, retries: 5 }).call("slow_echo", { delay: 0 });

    const outcome = await settlesWithin(failing, 10_000, "a publish with a 1.5 s deadline");
    const waited = Date.now() - started;
    expect(outcome).not.toBe("resolved");
    expect((outcome as TransportError).code).toBe("TIMEOUT");
    expect((outcome as TransportError).message).toMatch(/within 1500 ms/);
    expect(waited).toBeGreaterThanOrEqual(1_400);

    await bouncing;
    await settlesWithin(patient, 30_000, "a publish with the default deadline");
    await eventually(() => handled.some((h) => h.tag === "patient"), "the message published during the outage");
    const reply = await settlesWithin(rpcDuringOutage, 40_000, "an RPC started during the outage");
    expect(reply.ok || reply.value === "TimeoutError").toBe(true);
    console.log(`RPC started during stop_app: ${reply.ok ? "replied" : String(reply.value)}; impatient publish failed after ${waited} ms: ${(outcome as TransportError).message}`);
    await impatient.close();
    await impatientBroker.close();
  }, 120_000);
});
