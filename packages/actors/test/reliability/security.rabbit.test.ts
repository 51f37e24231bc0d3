import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { format, inspect } from "node:util";
import { CommandMessage, defineExchange, Fingerprint } from "@postage/core";
import { connect, createConsumer, createProducer, type TransportError } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MessageProcessor, messageHandler, Scheduler } from "../../src/index.js";
import { eventually, freePorts, rabbitSh, randomName, settlesWithin } from "./support.js";

const run = (command: string, args: string[], cwd?: string): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(command, args, { cwd }, (error, stdout, stderr) => (error ? reject(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout))),
  );

/** Everything written through console.* while `fn` runs (the library's default loggers write there). */
async function captureConsole(fn: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const spies = (["log", "info", "warn", "error", "debug"] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(format(...args));
    }),
  );
  try {
    await fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines.join("\n");
}

/** Every way an error gets shown: message, String(), stack, util.inspect with its cause chain, JSON. */
function allRenderings(error: unknown): string {
  return [String(error), (error as Error).stack ?? "", inspect(error, { depth: 8 }), JSON.stringify(error) ?? ""].join("\n");
}

describe("credentials never appear in logs or errors (main broker, debug mode on)", () => {
  const user = randomName("user").replaceAll(".", "-");
  const password = `pw-${randomName("secret").replaceAll(".", "-")}`;
  const wrong = `wrong-${randomName("secret").replaceAll(".", "-")}`;

  beforeAll(async () => {
    await run("rabbitmqctl", ["-q", "add_user", user, password]);
    await run("rabbitmqctl", ["-q", "set_permissions", "-p", "/", user, ".*", ".*", ".*"]);
  });
  afterAll(async () => {
    await run("rabbitmqctl", ["-q", "delete_user", user]).catch(() => undefined);
  });

  it("a wrong password: a clear ACCESS_REFUSED error naming the user, never either password", async () => {
    let failure: TransportError | undefined;
    const output = await captureConsole(async () => {
      const broker = connect({ url: `amqp://${user}:${wrong}@127.0.0.1:5672/`, debug: true, shared: false });
      failure = await broker.ready({ timeout: 10_000 }).then(
        () => undefined,
        (error: TransportError) => error,
      );
      // Through the environment too (POSTAGE_URL + POSTAGE_DEBUG_MODE), as a deployed component gets it.
      const fromEnv = connect({ env: { POSTAGE_URL: `amqp://${user}:${wrong}@127.0.0.1:5672/`, POSTAGE_DEBUG_MODE: "true" }, shared: false });
      const envFailure = await fromEnv.ready({ timeout: 10_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      console.log(allRenderings(envFailure), fromEnv.url, inspect(fromEnv.url));
      await broker.close();
      await fromEnv.close();
    });
    expect(failure?.code).toBe("ACCESS_REFUSED");
    expect(failure?.message).toContain(`user "${user}"`);
    const everything = `${output}\n${allRenderings(failure)}`;
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(password);
    expect(everything).toContain("***"); // the display URL, with the password masked
  });

  it("a working connection in debug mode logs messages, and objects can be logged, never showing the password", async () => {
    const output = await captureConsole(async () => {
      const broker = connect({ url: `amqp://${user}:${password}@127.0.0.1:5672/`, debug: true, shared: false });
      await broker.ready();
      const exchange = defineExchange({ name: randomName("sec-ex"), type: "direct", durable: false, autoDelete: true });
      const seen: string[] = [];
      const processor = new MessageProcessor({
        fingerprint: { name: "security-receiver" },
        bindings: [[exchange, [["", "k"]]]],
        handlers: [messageHandler("command", "hello", (content) => void seen.push(String(content.parameters)))],
      });
      const scheduler = new Scheduler({ broker, handleSignals: false });
      scheduler.add(processor);
      const running = scheduler.run();
      await eventually(() => processor.state === "running", "the processor");
      const producer = createProducer(broker, { exchanges: [[exchange, "k"]], fingerprint: Fingerprint.collect({ name: "security-sender" }) });
      await producer.command("hello", "world");
      await eventually(() => seen.includes("world"), "the message");
      // An application that logs its objects (a common debugging move) must not print the password either.
      for (const object of [broker, broker.driver, scheduler, processor, producer]) console.log(inspect(object, { depth: 12 }));
      processor.quit();
      await settlesWithin(running, 20_000, "the scheduler");
      console.log(broker.url, inspect(producer.fingerprint));
      await broker.close();
    });
    expect(output).toContain("hello"); // debug lines were written
    expect(output).not.toContain(password);
  });
});

describe("amqps:// against a TLS-only node with a CA made in the test (openssl)", () => {
  // A node name and ports of this run's own: runs in other checkouts (or CI beside a dev run) start
  // their TLS nodes at the same time, and a shared name or port let one run stop or reach the other's.
  const node = `tls-${randomBytes(4).toString("hex")}`;
  let PORT: number;
  let dir: string;
  let ca: string;
  let otherCa: string;
  let startedHere = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "postage-tls-"));
    const openssl = (...args: string[]) => run("openssl", args, dir);
    // A CA, a server certificate it signs for localhost / 127.0.0.1, and an unrelated CA.
    await openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=postage test CA", "-keyout", "ca.key", "-out", "ca.pem");
    await openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr");
    await run("sh", ["-c", "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext.cnf"], dir);
    await openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem");
    await openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=some other CA", "-keyout", "other.key", "-out", "other.pem");
    ca = readFileSync(join(dir, "ca.pem"), "utf8");
    otherCa = readFileSync(join(dir, "other.pem"), "utf8");
    const [amqpPort, distributionPort] = await freePorts(2);
    if (amqpPort === undefined || distributionPort === undefined) throw new Error("freePorts(2) gave fewer than two ports");
    PORT = amqpPort;
    // (rabbit.sh stops TLS nodes left by interrupted runs before it starts this one)
    await rabbitSh("tls-start", String(PORT), join(dir, "ca.pem"), join(dir, "server.pem"), join(dir, "server.key"), node, String(distributionPort));
    startedHere = true;
  }, 120_000);

  afterAll(async () => {
    if (startedHere) await rabbitSh("tls-stop", node);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("connects with the CA, and messages go through", async () => {
    const broker = connect({ url: `amqps://guest:guest@localhost:${PORT}`, tls: { ca }, shared: false });
    try {
      await broker.ready({ timeout: 10_000 });
      expect(broker.url).toBe(`amqps://guest:***@localhost:${PORT}/%2F`);
      const exchange = defineExchange({ name: randomName("tls-ex"), type: "direct", durable: false, autoDelete: true });
      const got: string[] = [];
      const consumer = createConsumer(broker, { bindings: [[exchange, [["", "k"]]]] }, ({ message }) => void got.push(message.name));
      await consumer.ready();
      await createProducer(broker, { exchanges: [[exchange, "k"]] }).send(new CommandMessage("over-tls"));
      await eventually(() => got.includes("over-tls"), "the message over TLS");
    } finally {
      await broker.close();
    }
  });

  it("a certificate that fails verification gives a clear TLS error (and no connection)", async () => {
    const broker = connect({ url: `amqps://guest:guest@localhost:${PORT}`, tls: { ca: otherCa }, shared: false });
    const error = await broker.ready({ timeout: 10_000 }).then(
      () => undefined,
      (failure: TransportError) => failure,
    );
    await broker.close();
    expect(error?.code).toBe("TLS");
    expect(error?.message).toContain(`TLS connection to localhost:${PORT} failed`);
    expect(error?.message).toMatch(/certificate/i);
    expect(allRenderings(error)).not.toContain("guest:guest");
  });

  it("plain amqp:// to the TLS port fails clearly instead of hanging", async () => {
    const broker = connect({ url: `amqp://guest:guest@localhost:${PORT}`, shared: false });
    const error = await settlesWithin(
      broker.ready({ timeout: 8_000 }).then(
        () => undefined,
        (failure: TransportError) => failure,
      ),
      20_000,
      "ready() on a TLS port without TLS",
    );
    await broker.close();
    expect(error).toBeDefined();
    console.log(`plain AMQP to the TLS port: ${error?.code}: ${error?.message}`);
  });
});
