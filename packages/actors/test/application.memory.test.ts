import { Fingerprint, SuccessResult } from "@postage/core";
import { type Broker, createProducer } from "@postage/transport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { addresses, GenericApplication, genericApplicationExchange, messageHandler, Scheduler } from "@postage/actors";
import { eventually, memoryBroker } from "./helpers.js";

let broker: Broker;
let scheduler: Scheduler;
let logged: string[];

beforeEach(() => {
  broker = memoryBroker();
  logged = [];
  scheduler = new Scheduler({ broker, handleSignals: false, log: (line) => logged.push(line) });
});
afterEach(async () => {
  await scheduler.close();
  await broker.close();
});

/** An application that records the `hello` commands it gets. */
function app(name: string, options: { host?: string; pid?: string; groups?: string[] } = {}) {
  const got: unknown[] = [];
  const fingerprint = Fingerprint.collect({ name, type: "application", ...(options.host ? { host: options.host } : {}), ...(options.pid ? { pid: options.pid } : {}) });
  const application = scheduler.add(
    new GenericApplication({
      name,
      fingerprint,
      groups: options.groups ?? [],
      handlers: [messageHandler("command", "hello", (content) => void got.push(content.parameters))],
    }),
  );
  return { application, got };
}

function send(key: string, parameters: unknown) {
  return createProducer(broker, { exchanges: [[genericApplicationExchange, key]] }).command("hello", parameters);
}

async function allRunning() {
  await eventually(() => scheduler.list().every((actor) => actor.state === "running"), 5_000, "every application to run");
}

describe("GenericApplication addressing", () => {
  it("reaches applications by name (fan-out and round robin), host, name on host, process, instance and group", async () => {
    const a1 = app("worker", { host: "h1", pid: "11" });
    const a2 = app("worker", { host: "h2", pid: "22", groups: ["blue"] });
    const other = app("monitor", { host: "h1", pid: "11" });
    await allRunning();

    await send(addresses.name("worker"), "fanout");
    await eventually(() => a1.got.includes("fanout") && a2.got.includes("fanout"));
    expect(other.got).toEqual([]);

    for (let i = 0; i < 4; i += 1) await send(addresses.nameRoundRobin("worker"), `rr${i}`);
    await eventually(() => [...a1.got, ...a2.got].filter((x) => String(x).startsWith("rr")).length === 4);
    expect(a1.got.filter((x) => String(x).startsWith("rr"))).toHaveLength(2);

    await send(addresses.host("h1"), "host");
    await eventually(() => a1.got.includes("host") && other.got.includes("host"));
    expect(a2.got).not.toContain("host");

    await send(addresses.nameOnHost("worker", "h2"), "name@host");
    await send(addresses.process("11", "h1"), "process");
    await send(addresses.instance(other.application.id), "instance");
    await send(addresses.group("worker", "blue"), "group");
    await eventually(() => a2.got.includes("name@host") && a1.got.includes("process") && other.got.includes("instance") && a2.got.includes("group"));
    expect(a1.got).not.toContain("group");
    expect(a1.got).not.toContain("instance");
    expect(other.got).toContain("process");
  });

  it("gives each of several applications in one process an address of its own", async () => {
    const first = app("twin", { host: "h", pid: "1" });
    const second = app("twin", { host: "h", pid: "1" });
    await allRunning();
    await send(addresses.instance(second.application.id), "only you");
    await eventually(() => second.got.length === 1);
    expect(first.got).toEqual([]);
  });

  it("joins and leaves groups at run time, for fan-out and round robin", async () => {
    const member = app("svc", { host: "h", pid: "1" });
    await allRunning();
    const control = createProducer(broker, { exchanges: [[genericApplicationExchange, addresses.instance(member.application.id)]] });
    await control.command("join_group", { group_name: "red" });
    await eventually(() => member.application.groups.includes("red"));
    await send(addresses.group("svc", "red"), "fan");
    await send(addresses.groupRoundRobin("svc", "red"), "one");
    await eventually(() => member.got.includes("fan") && member.got.includes("one"));

    await control.command("leave_group", { group_name: "red" });
    await eventually(() => !member.application.groups.includes("red"));
    await send(addresses.group("svc", "red"), "after-leave").catch(() => undefined);
    await send(addresses.name("svc"), "marker");
    await eventually(() => member.got.includes("marker"));
    expect(member.got).not.toContain("after-leave");
  });

  it("answers ping with its fingerprint and describe with its state and groups", async () => {
    const pinged = app("pingme", { groups: ["g"] });
    await allRunning();
    const producer = createProducer(broker, { exchanges: [[genericApplicationExchange, addresses.instance(pinged.application.id)]] });
    const pong = await producer.call("ping");
    expect(pong).toBeInstanceOf(SuccessResult);
    expect(pong.value).toEqual(pinged.application.fingerprint);
    const described = (await producer.call("describe")).value as Record<string, unknown>;
    expect(described).toMatchObject({ state: "running", groups: ["g"], actorType: "application" });
    expect(described.addresses).toContain("pingme#g/rr");
  });

  it("keeps round-robin work queued when every instance is gone", async () => {
    const first = app("keeper", { host: "h", pid: "1" });
    await allRunning();
    first.application.quit();
    await eventually(() => first.application.state === "stopped");
    await send(addresses.nameRoundRobin("keeper"), "pending");
    const second = app("keeper", { host: "h", pid: "2" });
    await eventually(() => second.got.includes("pending"));
  });

  it("refuses a malformed group name without stopping", async () => {
    const member = app("strict");
    await allRunning();
    const control = createProducer(broker, { exchanges: [[genericApplicationExchange, addresses.instance(member.application.id)]] });
    await control.command("join_group", { group_name: "a#b" });
    await control.command("join_group", {});
    await eventually(() => member.application.counters.rejected === 2);
    expect(member.application.state).toBe("running");
    expect(member.application.groups).toEqual([]);
    expect(logged.join("\n")).toContain('got "a#b"');
  });
});
