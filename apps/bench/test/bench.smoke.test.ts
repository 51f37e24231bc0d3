import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { contenders } from "../src/contenders/index.js";
import { runMemoryBench } from "../src/memoryBench.js";
import { allContenderKeys, toJson, toTable } from "../src/report.js";
import { quickPlan, runBench } from "../src/runBench.js";
import { defaultSettings } from "../src/settings.js";

// Checks that the benchmark runs end to end on a tiny plan; it asserts no speed (machines differ).
const url = process.env.POSTAGE_TEST_RABBIT_URL ?? defaultSettings.url;
const tiny = { ...quickPlan, rounds: 1, throughputN: 50, rpcSequentialN: 10, rpcConcurrentN: 50, inFlight: 5, warmupFraction: 0.2 };
// The scale run forks the compiled worker: only checked when the bench was built.
const scaleWorker = fileURLToPath(new URL("../dist/scale.js", import.meta.url));
// The peer frameworks are installed on demand (`npm run bench:peers`) and import the compiled helpers.
const peersInstalled = existsSync(fileURLToPath(new URL("../peers/node_modules/moleculer/package.json", import.meta.url))) && existsSync(fileURLToPath(new URL("../dist/Countdown.js", import.meta.url)));

describe.skipIf(process.env.POSTAGE_SKIP_RABBIT === "1")("bench smoke run", () => {
  it("measures every contender and every figure on a tiny plan, and reports them", async () => {
    const results = await runBench(contenders, { ...defaultSettings, url }, tiny);
    const memory = await runMemoryBench({ actors: 3, messages: 30, bodyBytes: 256, rounds: 1 });
    expect(memory).toHaveLength(1);
    const extras = { scale: [{ actors: 2, startSeconds: 0.1, bytesPerActor: 1, fairnessP99Ms: 1, idleP99Ms: 1, floodPerSecond: 1, pings: 1 }], memory: { oneActor: memory[0]!, thousandActors: memory[0]! } };
    const json = toJson(results, extras);
    for (const figure of ["throughput", "rpcSequential", "rpcConcurrent"] as const) {
      for (const { key } of contenders) expect(json[figure][key]).toBeGreaterThan(0);
      for (const key of allContenderKeys.filter((k) => !contenders.some((c) => c.key === k))) expect(json[figure][key]).toBeNull();
    }
    expect(json.memory?.oneActor).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(toTable(results, extras)).toContain("Postage");
  }, 60_000);

  it.skipIf(!peersInstalled)("runs the peer frameworks, when installed, on the same tiny plan", async () => {
    const { peerContenders } = (await import("../peers/index.mjs" as string)) as { peerContenders: typeof contenders };
    const results = await runBench(peerContenders, { ...defaultSettings, url }, tiny);
    const json = toJson(results);
    for (const figure of ["throughput", "rpcSequential", "rpcConcurrent"] as const) {
      for (const { key } of peerContenders) expect(json[figure][key]).toBeGreaterThan(0);
    }
    expect(toTable(results)).toContain("Moleculer");
  }, 60_000);

  it.skipIf(!existsSync(scaleWorker))("starts GenericApplications in a worker and pings one while another is flooded", async () => {
    const { runScale } = (await import(scaleWorker)) as typeof import("../src/scale.js");
    const result = await runScale({ url, actors: 3, floodMs: 200 });
    expect(result.actors).toBe(3);
    expect(result.pings).toBeGreaterThan(0);
    expect(result.startSeconds).toBeGreaterThan(0);
  }, 60_000);
});
