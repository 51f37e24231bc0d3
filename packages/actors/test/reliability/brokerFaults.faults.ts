import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { markdownTable, rabbitSh, FAULT_URL } from "./support.js";
import { runStream, type StreamReport } from "./stream.js";

const COUNT = Number(process.env.POSTAGE_FAULT_COUNT ?? 20_000);
const reports: StreamReport[] = [];

const closeAll = async (): Promise<number> => {
  await rabbitSh("fault-close-all", "postage fault suite");
  return Date.now();
};
const bounce = async (): Promise<number> => {
  await rabbitSh("fault-bounce", "2");
  return Date.now();
};
const kill9 = async (): Promise<number> => {
  await rabbitSh("fault-kill9");
  return Date.now();
};

const SCENARIOS = [
  { scenario: "force-close all connections (x2)", faults: [{ at: 0.25, run: closeAll }, { at: 0.6, run: closeAll }] },
  { scenario: "stop_app / start_app", faults: [{ at: 0.3, run: bounce }] },
  { scenario: "kill -9 and restart", faults: [{ at: 0.3, run: kill9 }] },
];

describe("broker faults (fault node on 5673)", () => {
  let startedHere = false;
  beforeAll(async () => {
    const log = await rabbitSh("fault-start");
    startedHere = !log.includes("already running");
  }, 120_000);

  afterAll(async () => {
    const header = ["scenario", "dup. suppression", "sent", "confirmed", "failed", "received unique", "lost", "duplicates to handlers", "suppressed", "broker back -> first delivery (s)", "run (s)"];
    const rows = reports.map((r) => [
      r.scenario,
      r.duplicatesSuppression ? "on" : "off",
      r.sent,
      r.confirmed,
      r.failed,
      r.receivedUnique,
      r.lost,
      r.duplicates,
      r.suppressed,
      r.recovery.map((s) => s.toFixed(2)).join(", "),
      r.seconds.toFixed(1),
    ]);
    console.log(`\nFault suite, ${COUNT} persistent 1 KB commands per run\n${markdownTable(header, rows)}\n`);
    for (const r of reports) console.log(`${r.scenario} (suppression ${r.duplicatesSuppression ? "on" : "off"}) errors: ${JSON.stringify(r.errorCodes)}`);
    if (startedHere) await rabbitSh("fault-stop");
  }, 120_000);

  for (const { scenario, faults } of SCENARIOS) {
    for (const duplicates of [true, false]) {
      it(`${scenario}, duplicate suppression ${duplicates ? "on" : "off"}: no confirmed message lost`, async () => {
        const report = await runStream({ url: FAULT_URL, scenario, count: COUNT, faults, duplicates });
        reports.push(report);
        expect(report.sent).toBe(COUNT);
        expect(report.confirmed + report.failed).toBe(COUNT);
        expect(report.lost).toBe(0);
        if (duplicates) expect(report.duplicates).toBe(0);
      }, 300_000);
    }
  }
});
