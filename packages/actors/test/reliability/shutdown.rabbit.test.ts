import { CommandMessage, defineExchange, Fingerprint } from "@postage/core";
import { connect } from "@postage/transport";
import { describe, expect, it } from "vitest";
import { eventually, MAIN_URL, markdownTable, randomName, settlesWithin, spawnFixture } from "./support.js";

const FLOOD = 2_000;

describe("graceful shutdown on SIGTERM during a flood (child process, main broker)", () => {
  it("finishes and acks the handler in progress, returns prefetched messages, exits promptly; every message is accounted for", async () => {
    const exchange = defineExchange({ name: randomName("shutdown-ex"), type: "direct", durable: true });
    const queue = randomName("shutdown-q");
    const broker = connect({ url: MAIN_URL, shared: false });
    try {
      // The queue exists before the flood, so nothing published is unroutable.
      await broker.declareExchange(exchange);
      await broker.driver.declareQueue({ name: queue, durable: true });
      await broker.driver.bindQueue({ exchange: exchange.name, queue, routingKey: "work" });

      const started = new Set<number>();
      const done = new Set<number>();
      const { child, lines, stderr: stderrText, exited } = spawnFixture(
        "shutdownChild.ts",
        { SHUTDOWN_URL: MAIN_URL, SHUTDOWN_EXCHANGE: exchange.name, SHUTDOWN_QUEUE: queue, SHUTDOWN_HANDLER_MS: "20" },
        (line) => {
          const [what, n] = line.split(" ");
          if (what === "start") started.add(Number(n));
          if (what === "done") done.add(Number(n));
        },
      );

      await eventually(() => lines.includes("ready"), `the child to be ready (stderr: ${stderrText()})`, 30_000);
      const fingerprint = Fingerprint.collect({ name: "shutdown-flood" }).toDict();
      const publisher = broker.driver.createPublisher({ confirm: true });
      await Promise.all(
        Array.from({ length: FLOOD }, (_, n) =>
          publisher.publish(exchange.name, "work", Buffer.from(JSON.stringify(new CommandMessage("work", { n }).stamp(fingerprint).toBody())), {
            contentType: "application/json",
            persistent: true,
          }),
        ),
      );
      await publisher.close();
      await eventually(() => done.size >= 50, "the child to be busy", 30_000);

      const signalledAt = Date.now();
      const inProgressAtSignal = started.size - done.size;
      expect(child.kill("SIGTERM")).toBe(true);
      const { code, signal } = await settlesWithin(exited, 20_000, "the child's exit after SIGTERM");
      const exitSeconds = (Date.now() - signalledAt) / 1000;
      expect({ code, signal, stderr: stderrText() }).toEqual({ code: 0, signal: null, stderr: "" });
      expect(lines.at(-1)).toBe("exit shutdown");

      // Every handler that started also finished (nothing cut off mid-way).
      expect([...started].filter((n) => !done.has(n))).toEqual([]);

      // What is left in the queue: exactly the messages not handled (acks went out; the prefetched went back).
      const queued: number[] = [];
      const drain = broker.driver.createConsumer({ queue: { name: queue, durable: true }, prefetch: 500 }, (delivery) => {
        queued.push((JSON.parse(Buffer.from(delivery.body).toString("utf8")) as { content: { parameters: { n: number } } }).content.parameters.n);
        return "ack";
      });
      await drain.ready;
      await eventually(() => done.size + queued.length >= FLOOD, "the rest of the flood to be drained from the queue", 30_000);
      await new Promise((resolve) => setTimeout(resolve, 200)); // any surplus (a handled message requeued) would show up now
      await drain.close();

      const handledAndQueued = queued.filter((n) => done.has(n));
      const missing = Array.from({ length: FLOOD }, (_, n) => n).filter((n) => !done.has(n) && !queued.includes(n));
      console.log(
        `\nShutdown on SIGTERM during a flood of ${FLOOD}\n${markdownTable(
          ["in progress at SIGTERM", "handled (acked)", "left in the queue", "handled and also requeued", "missing", "exit after SIGTERM (s)", "exit code"],
          [[inProgressAtSignal, done.size, queued.length, handledAndQueued.length, missing.length, exitSeconds.toFixed(2), String(code)]],
        )}\n`,
      );
      expect(missing).toEqual([]);
      expect(handledAndQueued).toEqual([]);
      expect(done.size + queued.length).toBe(FLOOD);
      expect(queued.length).toBeGreaterThan(0); // the signal did come mid-flood
    } finally {
      await broker.driver.deleteQueue(queue).catch(() => undefined);
      await broker.driver.deleteExchange(exchange.name).catch(() => undefined);
      await broker.close();
    }
  }, 120_000);
});
