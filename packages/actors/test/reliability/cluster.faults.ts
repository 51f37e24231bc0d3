import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runStream } from "./stream.js";
import { markdownTable, rabbitSh } from "./support.js";

const COUNT = Number(process.env.POSTAGE_CLUSTER_COUNT ?? 10_000);
/** Node 1 first: the producer and worker A start on the node that will be stopped. */
const FROM_NODE1 = "amqp://guest:guest@127.0.0.1:5674,127.0.0.1:5675,127.0.0.1:5676";
/** Node 2 first: worker B keeps its connection. */
const FROM_NODE2 = "amqp://guest:guest@127.0.0.1:5675,127.0.0.1:5676,127.0.0.1:5674";

describe("three-node cluster on loopback (5674-5676)", () => {
  let startedHere = false;
  let node1Stopped = false;

  beforeAll(async () => {
    try {
      await rabbitSh("cluster-start");
      startedHere = true;
    } catch (error) {
      // cluster-start refuses busy ports: a cluster left running by a previous run is used as it is.
      if (!String(error).includes("busy")) throw error;
    }
  }, 180_000);

  afterAll(async () => {
    if (startedHere) await rabbitSh("cluster-stop");
    else if (node1Stopped) await rabbitSh("cluster-start-node", "1");
  }, 180_000);

  it("round robin on a quorum queue loses no confirmed message when a node stops mid-stream; clients move to the remaining nodes", async () => {
    const report = await runStream({
      url: FROM_NODE1,
      workerUrls: [FROM_NODE1, FROM_NODE2],
      scenario: "cluster: node 1 stopped mid-stream",
      count: COUNT,
      duplicates: true,
      ratePerSecond: 800,
      queueArguments: { "x-queue-type": "quorum" },
      faults: [
        {
          at: 0.3,
          run: async () => {
            await rabbitSh("cluster-stop-node", "1");
            node1Stopped = true;
            return Date.now();
          },
        },
      ],
    });
    const header = ["scenario", "sent", "confirmed", "failed", "received unique", "lost", "duplicates to handlers", "suppressed", "handled by worker A / B", "handled after the stop A / B", "longest pause in deliveries A / B (s)", "run (s)"];
    const row = [
      report.scenario,
      report.sent,
      report.confirmed,
      report.failed,
      report.receivedUnique,
      report.lost,
      report.duplicates,
      report.suppressed,
      report.perWorker.join(" / "),
      report.workerAfterFault.join(" / "),
      report.workerMaxGap.map((s) => s.toFixed(2)).join(" / "),
      report.seconds.toFixed(1),
    ];
    console.log(`\nCluster suite, ${COUNT} persistent 1 KB commands, quorum queue, 2 workers\n${markdownTable(header, [row])}\nerrors: ${JSON.stringify(report.errorCodes)}\n`);
    expect(report.sent).toBe(COUNT);
    expect(report.confirmed + report.failed).toBe(COUNT);
    expect(report.lost).toBe(0);
    // Round robin: both workers got work; worker A (connected to node 1) came back on another node.
    expect(report.perWorker.every((handled) => handled > 0)).toBe(true);
    expect(report.workerAfterFault.every((handled) => handled > 0)).toBe(true);
  }, 300_000);
});
