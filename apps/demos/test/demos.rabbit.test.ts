// Each demo pair as separate processes against RabbitMQ, on names of their own.
import { hostname } from "node:os";
import { connect } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo, ensureBuilt, killAll, RABBIT_URL, randomName } from "./processes.js";

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("the demos against RabbitMQ, one process per side", () => {
  const env = {
    POSTAGE_URL: RABBIT_URL,
    POSTAGE_DEMO_EXCHANGE: randomName("demo-x"),
    POSTAGE_DEMO_QUEUE: randomName("demo-q"),
    POSTAGE_DEMO_APP_EXCHANGE: randomName("demo-apps"),
    POSTAGE_DEMO_APP_PREFIX: `${randomName("app")}-`,
  };
  const READY = /receiver ready/;

  beforeAll(() => ensureBuilt());

  afterAll(async () => {
    await killAll();
    const broker = connect({ url: RABBIT_URL, shared: false });
    try {
      const prefix = env.POSTAGE_DEMO_APP_PREFIX;
      const host = hostname();
      const queues = [env.POSTAGE_DEMO_QUEUE];
      for (const name of ["monitor", "logger"]) {
        queues.push(`${prefix}${name}/rr`, `${prefix}${name}@${host}/rr`, `${prefix}${name}#blue/rr`, `${prefix}${name}#red/rr`);
      }
      for (const queue of queues) await broker.driver.deleteQueue(queue).catch(() => undefined);
      for (const exchange of [env.POSTAGE_DEMO_EXCHANGE, env.POSTAGE_DEMO_APP_EXCHANGE]) await broker.driver.deleteExchange(exchange).catch(() => undefined);
    } finally {
      await broker.close();
    }
  });

  it("basic echo: the receiver prints what the sender sent, and stops on quit", async () => {
    const receiver = demo(["basic-echo", "receive"], env);
    await receiver.waitFor(READY);
    const sender = demo(["basic-echo", "send"], env);
    expect(await sender.exited, sender.output).toBe(0);
    expect(sender.stdout).toMatch(/echo_send\s+->\s+test\.demo-x\.\w+\/echo-rk\s+command echo "A test message"/);
    await receiver.waitFor(/echo_receive\s+<-\s+"A test message"/);
    expect(await demo(["basic-echo", "quit"], env).exited).toBe(0);
    expect(await receiver.exited, receiver.output).toBe(0);
    expect(receiver.stdout).toContain("receiver stopped");
  });

  it("advanced echo: two receivers share echo-rk (round robin) and each gets echo-fanout-rk (fan-out)", async () => {
    const receivers = [demo(["advanced-echo", "receive"], env), demo(["advanced-echo", "receive"], env)];
    for (const receiver of receivers) await receiver.waitFor(READY);
    const sender = demo(["advanced-echo", "send", "--count", "6"], env);
    expect(await sender.exited, sender.output).toBe(0);
    for (const receiver of receivers) await receiver.waitFor(/"A fanout test message"\s+\(key echo-fanout-rk\)/);
    // Round robin: the six messages are split between the two (none lost, none duplicated).
    const singles = (): string[][] => receivers.map((r) => r.stdout.match(/"A single test message #\d"(?=\s+\(key echo-rk\))/g) ?? []);
    for (let waited = 0; singles().flat().length < 6 && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    const final = singles();
    expect(final.flat().sort()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `"A single test message #${i}"`));
    expect(final.every((got) => got.length >= 1)).toBe(true);
    // The second handler prints the sender's fingerprint.
    for (const receiver of receivers) expect(receiver.stdout).toMatch(/fingerprint: echo_send pid \d+ on /);
    // One quit on the fan-out key stops both.
    expect(await demo(["advanced-echo", "quit"], env).exited).toBe(0);
    for (const receiver of receivers) expect(await receiver.exited, receiver.output).toBe(0);
  });

  it("RPC echo: the sender prints the receiver's answer", async () => {
    const receiver = demo(["rpc-echo", "receive"], env);
    await receiver.waitFor(READY);
    const sender = demo(["rpc-echo", "send"], env);
    expect(await sender.exited, sender.output).toBe(0);
    expect(sender.stdout).toMatch(/echo_send\s+<-\s+success "RPC message received"/);
    expect(receiver.stdout).toMatch(/<-\s+rpc echo "RPC test message"/);
    expect(await demo(["rpc-echo", "quit"], env).exited).toBe(0);
    expect(await receiver.exited, receiver.output).toBe(0);
  });

  it("generic-app: reached by every kind of address, joining and leaving a group, answering ping", async () => {
    const receiver = demo(["generic-app", "receive"], env);
    await receiver.waitFor(READY);
    const sender = demo(["generic-app", "send"], env);
    expect(await sender.exited, sender.output).toBe(0);
    const out = sender.stdout;
    const monitor = `${env.POSTAGE_DEMO_APP_PREFIX}monitor`;
    const replies = (key: string): string => {
      const at = out.indexOf(`->  ${key} `);
      expect(at, `no ping to ${key} in\n${out}`).toBeGreaterThanOrEqual(0);
      return out.slice(at).split("\n")[1] ?? "";
    };
    expect(replies(monitor)).toMatch(/2 replies/);
    expect(replies(`${monitor}/rr`)).toMatch(/1 reply:/);
    expect(replies(`@${hostname()}`)).toMatch(/3 replies/);
    expect(replies(`${monitor}#blue`)).toMatch(/1 reply:/);
    expect(out).toMatch(/command join_group \{"group_name":"red"\}/);
    expect(out).toMatch(/command leave_group/);
    // After leaving, nobody is in group red any more.
    expect(out.trimEnd().split("\n").at(-1)).toMatch(/nobody answers/);
    // The receiving side saw the pings arrive by their keys.
    await receiver.waitFor(new RegExp(`command ping\\s+\\(key ${monitor}/rr\\)`));
    expect(await demo(["generic-app", "quit"], env).exited).toBe(0);
    expect(await receiver.exited, receiver.output).toBe(0);
    expect(receiver.stdout.match(/\bstopped$/gm)?.length).toBe(3);
  });
});
