// `postage dlq` as a process, on dead letters made on RabbitMQ by a consumer in this test.
import { spawn } from "node:child_process";
import { defineExchange } from "@postage/core";
import { connect, createConsumer, createProducer, reject, type Broker, type Consumer } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_BIN, ensureBuilt, postage, RABBIT_URL, randomName, ROOT } from "../../demos/test/processes.js";

interface Listed {
  id: string;
  position: number;
  source: string;
  exchange: string;
  routingKey: string;
  error: string;
  reason: string;
  preview: string;
  deadLetteredAt?: string;
  queue?: string;
  replays: number;
}
interface Listing {
  queue: string;
  exists: boolean;
  total: number;
  deadLetters: Listed[];
}

/** Runs `postage <args>` with `input` on its stdin (what a person types at the question). */
function postageWithInput(args: readonly string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: ROOT, env: { ...process.env, POSTAGE_URL: RABBIT_URL }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("postage dlq against RabbitMQ", () => {
  const exchange = defineExchange({ name: randomName("dlq-cli-ex"), type: "direct", durable: false });
  const work = randomName("dlq-cli-work");
  const dlq = randomName("dlq-cli-dlq");
  const brokerDlx = randomName("dlq-cli-broker-dlx");
  const brokerDlq = randomName("dlq-cli-broker-dlq");
  const refusing = randomName("dlq-cli-refusing");
  const onQueue = ["--queue", dlq];
  let broker: Broker;
  let consumer: Consumer;
  /** Parameters of the commands the consumer handled (it rejects "bad" ones until healed). */
  const handled: unknown[] = [];
  let healed = false;
  let ids: string[] = [];

  const list = async (queue = dlq): Promise<Listing> => {
    const result = await postage(["dlq", "list", "--queue", queue, "--json"]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Listing;
  };
  const count = async (queue: string): Promise<number> => (await broker.driver.declareQueue({ name: queue, passive: true })).messageCount;

  beforeAll(async () => {
    ensureBuilt();
    broker = connect({ url: RABBIT_URL, shared: false });
    consumer = createConsumer(broker, { bindings: [[exchange, [[work, "work"]]]], deadLetterExchange: dlq, deadLetterQueue: dlq }, ({ message }) => {
      if (message.name === "bad" && !healed) return reject(`cannot handle ${JSON.stringify(message.content)}`, "E_BAD");
      handled.push(message.content);
      return "ack";
    });
    await consumer.ready();
    const producer = createProducer(broker, { commands: ["bad"], exchanges: [[exchange, "work"]] });
    for (let i = 0; i < 4; i++) await producer.message.bad(i);
    while (consumer.counters.deadLettered < 4) await new Promise((resolve) => setTimeout(resolve, 10));
    // RabbitMQ's own dead-lettering: a queue whose consumer rejects, with a dead-letter exchange.
    await broker.driver.declareExchange(defineExchange({ name: brokerDlx, type: "fanout", durable: false }));
    await broker.driver.declareQueue({ name: brokerDlq, durable: true });
    await broker.driver.bindQueue({ exchange: brokerDlx, queue: brokerDlq, routingKey: "" });
    const raw = broker.driver.createConsumer({ queue: { name: refusing, arguments: { "x-dead-letter-exchange": brokerDlx } }, bindings: [{ exchange: exchange.name, routingKey: "refused" }] }, () => "reject");
    await raw.ready;
    await producer.to({ key: "refused" }).message.bad("refused");
    while ((await count(brokerDlq)) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await raw.close();
    await producer.close();
  });

  afterAll(async () => {
    await consumer.close();
    for (const queue of [work, dlq, brokerDlq, refusing]) await broker.driver.deleteQueue(queue).catch(() => undefined);
    for (const name of [exchange.name, dlq, brokerDlx]) await broker.driver.deleteExchange(name).catch(() => undefined);
    await broker.close();
  });

  it("list shows time, original exchange and key, error, reason and body preview, and consumes nothing", async () => {
    const text = await postage(["dlq", "list", ...onQueue]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+DEAD-LETTERED\s+EXCHANGE\/KEY\s+ERROR\s+REASON\s+BODY$/);
    expect(lines.slice(1, 5).every((line) => line.includes(`${exchange.name}/work`) && line.includes("E_BAD"))).toBe(true);
    expect(lines[1]).toMatch(/ \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ .*cannot handle \{"parameters":0\}\s+command bad \{"parameters":0\}$/);
    expect(lines[5]).toBe(`4 dead letters in ${dlq}; none was consumed`);
    const listing = await list();
    ids = listing.deadLetters.map((l) => l.id);
    expect(listing).toMatchObject({ queue: dlq, exists: true, total: 4 });
    expect(listing.deadLetters.map((l) => l.preview)).toEqual([0, 1, 2, 3].map((n) => `command bad {"parameters":${n}}`));
    expect(listing.deadLetters[0]).toMatchObject({ source: "postage", exchange: exchange.name, routingKey: "work", error: "E_BAD", reason: 'cannot handle {"parameters":0}' });
    // Listed three times now: still four, in the same order.
    expect(await count(dlq)).toBe(4);
    expect((await list()).deadLetters.map((l) => l.id)).toEqual(ids);
  });

  it("list reads RabbitMQ's dead-lettering: the queue it died in and its original exchange and key", async () => {
    const listing = await list(brokerDlq);
    expect(listing.deadLetters).toHaveLength(1);
    expect(listing.deadLetters[0]).toMatchObject({ source: "rabbitmq", exchange: exchange.name, routingKey: "refused", error: "rejected", queue: refusing });
    expect(listing.deadLetters[0]?.deadLetteredAt).toMatch(/^\d{4}-/);
    expect(await count(brokerDlq)).toBe(1);
  });

  it("list on a quorum queue says that each listing counted as a delivery attempt", async () => {
    const quorum = randomName("dlq-cli-quorum");
    await broker.driver.declareQueue({ name: quorum, durable: true, arguments: { "x-queue-type": "quorum" } });
    try {
      const publisher = broker.driver.createPublisher({ confirm: true });
      await publisher.publish("", quorum, new TextEncoder().encode("held"), { messageId: "q1" });
      await publisher.close();
      const first = await postage(["dlq", "list", "--queue", quorum, "--json"]);
      expect(first.stderr).toBe(`note: ${quorum} is a quorum queue: listing counts as a delivery attempt (x-delivery-count); with an x-delivery-limit, repeated listings dead-letter its messages\n`);
      const second = JSON.parse((await postage(["dlq", "list", "--queue", quorum, "--json"])).stdout) as { deadLetters: Array<{ id: string; deliveryCount?: number }> };
      expect(second.deadLetters).toMatchObject([{ id: "q1", deliveryCount: 1 }]);
      expect(await count(quorum)).toBe(1);
    } finally {
      await broker.driver.deleteQueue(quorum);
    }
  });

  it("show prints one dead letter in full; an unknown id fails with 1", async () => {
    const shown = await postage(["dlq", "show", ...onQueue, "--", ids[2] ?? ""]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id\\s+${ids[2]}\\n`));
    expect(shown.stdout).toMatch(/\ndestination\s+\S+\/work\n/);
    expect(shown.stdout).toContain('"x-postage-error": "E_BAD"');
    expect(shown.stdout).toContain('"parameters": 2');
    const asJson = JSON.parse((await postage(["dlq", "show", ...onQueue, "--json", "--", ids[2] ?? ""])).stdout) as { id: string; body: string; headers: Record<string, unknown> };
    expect(asJson.id).toBe(ids[2]);
    expect(JSON.parse(asJson.body)).toMatchObject({ name: "bad", content: { parameters: 2 } });
    const missing = await postage(["dlq", "show", "no-such-id", ...onQueue]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`postage: no dead letter with id "no-such-id" in ${dlq} (postage dlq list shows the ids)\n`);
    expect(await count(dlq)).toBe(4);
  });

  it("replay to a destination nobody listens at fails with 7 and keeps the dead letter", async () => {
    const result = await postage(["dlq", "replay", "--to", `${exchange.name}/nobody`, ...onQueue, "--", ids[0] ?? ""]);
    expect(result.code).toBe(7);
    expect(result.stdout).toBe(`0 replayed from ${dlq}, 1 failed (still in ${dlq})\n`);
    expect(result.stderr).toMatch(/^postage: could not replay .* nobody listens there/);
    expect((await list()).deadLetters.map((l) => l.id)).toEqual(ids);
  });

  it("replay republishes to the original exchange and key, then removes the dead letter; the rest keep their order", async () => {
    healed = true;
    const result = await postage(["dlq", "replay", ...onQueue, "--", ids[1] ?? ""]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`replayed ${ids[1]} to ${exchange.name}/work\n1 replayed from ${dlq}\n`);
    for (let i = 0; i < 500 && handled.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(handled).toEqual([{ parameters: 1 }]);
    expect((await list()).deadLetters.map((l) => l.id)).toEqual([ids[0], ids[2], ids[3]]);
  });

  it("replay --to sends elsewhere ('/queue' is the default exchange)", async () => {
    const elsewhere = randomName("dlq-cli-elsewhere");
    await broker.driver.declareQueue({ name: elsewhere, autoDelete: false });
    try {
      const result = await postage(["dlq", "replay", "--to", `/${elsewhere}`, ...onQueue, "--json", "--", ids[3] ?? ""]);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ queue: dlq, replayed: [{ id: ids[3], exchange: "", routingKey: elsewhere }], failed: [], missing: [] });
      expect(await count(elsewhere)).toBe(1);
      expect(await count(dlq)).toBe(2);
    } finally {
      await broker.driver.deleteQueue(elsewhere);
    }
  });

  it("purge asks first: no answer or 'n' purges nothing; 'y' purges; --yes does not ask", async () => {
    const unanswered = await postage(["dlq", "purge", ...onQueue]);
    expect(unanswered.code).toBe(1);
    expect(unanswered.stderr).toContain(`Delete 2 dead letters from ${dlq} for good? [y/N] `);
    expect(unanswered.stderr).toContain("postage: nothing purged: not confirmed (answer y, or pass --yes)");
    const refused = await postageWithInput(["dlq", "purge", ...onQueue], "n\n");
    expect(refused.code).toBe(1);
    expect(await count(dlq)).toBe(2);
    const one = await postageWithInput(["dlq", "purge", ...onQueue, "--", ids[0] ?? ""], "y\n");
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toBe(`Delete dead letter ${ids[0]} from ${dlq} for good? [y/N] `);
    expect(one.stdout).toBe(`purged 1 dead letter from ${dlq}\n`);
    expect((await list()).deadLetters.map((l) => l.id)).toEqual([ids[2]]);
    const all = await postage(["dlq", "purge", "--yes", ...onQueue, "--json"]);
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ queue: dlq, removed: 1, missing: [] });
    expect(await count(dlq)).toBe(0);
    expect((await postage(["dlq", "list", ...onQueue])).stdout).toBe(`no dead letters in ${dlq}\n`);
  });

  it("an id that starts with '-' (message ids may) is given after --", async () => {
    const dashed = await postage(["dlq", "show", ...onQueue, "--", "-no-such-id"]);
    expect(dashed.code).toBe(1);
    expect(dashed.stderr).toContain('no dead letter with id "-no-such-id"');
    const unparsed = await postage(["dlq", "show", "-no-such-id", ...onQueue]);
    expect(unparsed.code).toBe(2);
    expect(unparsed.stderr).toContain("after '--'");
  });

  it("usage mistakes exit 2", async () => {
    expect((await postage(["dlq"])).code).toBe(2);
    expect((await postage(["dlq", "frobnicate"])).code).toBe(2);
    expect((await postage(["dlq", "replay"])).code).toBe(2);
    expect((await postage(["dlq", "replay", "x", "--all"])).code).toBe(2);
    expect((await postage(["dlq", "replay", "x", "--to", "no-slash"])).code).toBe(2);
    expect((await postage(["dlq", "show"])).code).toBe(2);
    const help = await postage(["dlq", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: postage dlq list");
  });
});
