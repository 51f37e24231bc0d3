import { execFile } from "node:child_process";
import { defineExchange, SuccessResult, type CommandMessage } from "@postage/core";
import { connect, createConsumer, createProducer, type HandlerOutcome } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup, RABBIT_URL, randomName } from "./helpers.js";

const rabbitmqctl = (...args: string[]): Promise<void> =>
  new Promise((resolve, reject) => execFile("rabbitmqctl", ["-q", ...args], (error, _stdout, stderr) => (error ? reject(new Error(`rabbitmqctl ${args.join(" ")}: ${stderr}`, { cause: error })) : resolve())));

// Adding a user takes rabbitmqctl, which needs root.
describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1" || process.getuid?.() !== 0)("RPC reply queues and permissions (RabbitMQ)", () => {
  const user = randomName("rpc-user").replaceAll(".", "-");
  const password = randomName("pw").replaceAll(".", "-");
  // The user may declare exchanges of this prefix only: not the server-named queues of `shared` mode.
  const prefix = randomName("perm").replaceAll(".", "-");
  const cleanup = new Cleanup();
  const server = connect({ url: RABBIT_URL, shared: false });

  beforeAll(async () => {
    await rabbitmqctl("add_user", user, password);
    await rabbitmqctl("set_permissions", "-p", "/", user, `^${prefix}`, ".*", ".*");
  });
  afterAll(async () => {
    await cleanup.run(server);
    await server.close();
    await rabbitmqctl("delete_user", user);
  });

  it("without the right to declare queues, a shared-mode call fails with ACCESS_REFUSED saying what to do; direct mode needs no queue", async () => {
    const ex = defineExchange({ name: cleanup.exchange(`${prefix}-ex`), durable: false });
    const consumer = createConsumer(server, { bindings: [[ex, [["", "rpc"]]]] }, async (incoming): Promise<HandlerOutcome> => {
      await incoming.reply?.(new SuccessResult((incoming.message as CommandMessage).parameters));
      return "ack";
    });
    await consumer.ready();
    const client = connect({ url: `amqp://${user}:${password}@127.0.0.1:5672/`, shared: false, heartbeat: 0 });
    try {
      const producer = createProducer(client, { exchanges: [[ex, "rpc"]], rpc: { timeout: 10_000, retries: 0 } });
      const refused = await producer.call("echo", 1).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ code: "ACCESS_REFUSED" });
      expect((refused as Error).message).toContain(`user "${user}"`);
      expect((refused as Error).message).toContain(`declaring an RPC reply queue (replyMode "direct" declares none)`);
      expect((await producer.to({ replyMode: "direct" }).call("echo", 2)).value).toBe(2);
      await producer.close();
    } finally {
      await client.close();
      await consumer.close();
    }
  });
});
