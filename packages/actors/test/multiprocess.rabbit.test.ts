import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { SuccessResult } from "@postage/core";
import { type Broker, connect, createProducer } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addresses, genericApplicationExchange } from "@postage/actors";
import { eventually, readJsonLines } from "./helpers.js";

// Each child process runs GenericApplications from the built packages, as a user's program would.
const url = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const script = new URL("./fixtures/app-process.mjs", import.meta.url).pathname;
const skip = process.env.POSTAGE_SKIP_RABBIT === "1";

interface ChildEvent {
  event: string;
  pid: number;
  id?: string;
  key?: string;
  parameters?: unknown;
  apps?: Array<{ name: string; id: string }>;
  reason?: string;
}

class AppProcess {
  readonly events: ChildEvent[] = [];
  readonly child: ChildProcessWithoutNullStreams;
  stderr = "";
  exitCode: number | null | undefined;

  constructor(names: string[], groups: string[] = []) {
    this.child = spawn(process.execPath, [script, names.join(","), groups.join(",")], { env: { ...process.env, POSTAGE_URL: url } });
    readJsonLines<ChildEvent>(this.child.stdout, (event) => this.events.push(event));
    this.child.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.child.on("exit", (code) => (this.exitCode = code));
    children.push(this);
  }

  /** The ready events (one per run: a restarted process prints another). */
  ready(): ChildEvent[] {
    return this.events.filter((event) => event.event === "ready");
  }

  async whenReady(runs = 1): Promise<ChildEvent> {
    await eventually(() => this.ready().length >= runs, 30_000, `child ready (stderr: ${this.stderr})`);
    return this.ready()[runs - 1]!;
  }

  hellos(): unknown[] {
    return this.events.filter((event) => event.event === "hello").map((event) => event.parameters);
  }
}

const children: AppProcess[] = [];
let broker: Broker;
const suffix = Math.random().toString(36).slice(2, 8);
const host = hostname();

function to(key: string) {
  return createProducer(broker, { exchanges: [[genericApplicationExchange, key]], rpc: { timeout: 5_000, retries: 1 } });
}

describe.skipIf(skip)("GenericApplications in separate processes on RabbitMQ", () => {
  beforeAll(() => {
    // The child processes import the built packages.
    if (!existsSync(new URL("../dist/index.js", import.meta.url))) {
      const built = spawnSync("npx", ["tsc", "--build"], { cwd: new URL("../../..", import.meta.url).pathname, stdio: "inherit" });
      if (built.status !== 0) throw new Error("building the packages for the child processes failed");
    }
    broker = connect({ url });
  });

  afterAll(async () => {
    for (const child of children) child.child.kill("SIGKILL");
    await broker?.close();
  });

  it("shares {name}/rr between two processes and reaches both by {name}, @{host} and {name}@{host}", async () => {
    const name = `twin-${suffix}`;
    const [a, b] = [new AppProcess([name]), new AppProcess([name])];
    await Promise.all([a.whenReady(), b.whenReady()]);
    for (let i = 0; i < 10; i += 1) await to(addresses.nameRoundRobin(name)).command("hello", `rr${i}`);
    await to(addresses.name(name)).command("hello", "all");
    await to(addresses.nameOnHost(name, host)).command("hello", "name@host");
    await to(addresses.host(host)).command("hello", "host");
    await eventually(() => [...a.hellos(), ...b.hellos()].filter((p) => String(p).startsWith("rr")).length === 10);
    for (const child of [a, b]) {
      await eventually(() => ["all", "name@host", "host"].every((p) => child.hellos().includes(p)));
      // Round robin spreads the work: each process got some, and none got a message twice.
      const rr = child.hellos().filter((p) => String(p).startsWith("rr"));
      expect(rr.length).toBeGreaterThan(0);
      expect(new Set(rr).size).toBe(rr.length);
    }
  });

  it("reaches each of several applications in one process by its own address only", async () => {
    const names = [`solo-a-${suffix}`, `solo-b-${suffix}`];
    const child = new AppProcess(names);
    const ready = await child.whenReady();
    const [first, second] = ready.apps!;
    await to(addresses.instance(second!.id)).command("hello", "just b");
    await to(addresses.process(String(ready.pid), host)).command("hello", "the process");
    await eventually(() => child.hellos().filter((p) => p === "the process").length === 2);
    const hellos = child.events.filter((event) => event.event === "hello");
    expect(hellos.filter((event) => event.parameters === "just b").map((event) => event.id)).toEqual([second!.id]);
    expect(first!.id).not.toBe(second!.id);
  });

  it("joins and leaves a group at run time (fan-out and round robin), and answers ping from another process", async () => {
    const name = `grp-${suffix}`;
    const child = new AppProcess([name]);
    const ready = await child.whenReady();
    const self = to(addresses.instance(ready.apps![0]!.id));
    const pong = await self.call("ping");
    expect(pong).toBeInstanceOf(SuccessResult);
    expect(pong.value).toMatchObject({ name, pid: String(ready.pid), host, instance: ready.apps![0]!.id });

    await self.command("join_group", { group_name: "blue" });
    await eventually(async () => ((await self.call("describe")).value as { groups: string[] }).groups.includes("blue"));
    await to(addresses.group(name, "blue")).command("hello", "fan");
    await to(addresses.groupRoundRobin(name, "blue")).command("hello", "one");
    await eventually(() => child.hellos().includes("fan") && child.hellos().includes("one"));

    await self.command("leave_group", { group_name: "blue" });
    await eventually(async () => ((await self.call("describe")).value as { groups: string[] }).groups.length === 0);
    await expect(to(addresses.group(name, "blue")).command("hello", "late")).rejects.toMatchObject({ code: "UNROUTABLE" });
  });

  it("ends the scheduler's run on quit: the program goes on after run() and exits", async () => {
    const child = new AppProcess([`quitter-${suffix}`]);
    const ready = await child.whenReady();
    await to(addresses.process(String(ready.pid), host)).command("quit");
    await eventually(() => child.exitCode !== undefined, 15_000, "the child to exit");
    expect(child.exitCode).toBe(0);
    expect(child.events.at(-1)).toMatchObject({ event: "exit", reason: "stopped" });
  });

  it("restart replaces the process with a new run of the same program (a new pid that answers ping)", async () => {
    const name = `phoenix-${suffix}`;
    const child = new AppProcess([name]);
    const first = await child.whenReady();
    await to(addresses.process(String(first.pid), host)).command("restart");
    // The replacement inherits stdout, so its ready line arrives on the same pipe.
    const second = await child.whenReady(2);
    expect(second.pid).not.toBe(first.pid);
    const pong = await to(addresses.name(name)).call("ping");
    expect((pong.value as { pid: string }).pid).toBe(String(second.pid));
    await to(addresses.process(String(second.pid), host)).command("quit");
    await eventually(() => child.events.some((event) => event.event === "exit" && event.pid === second.pid), 15_000);
  });
});
