import { describe, expect, it } from "vitest";
import { parseBenchArgs, UsageError } from "./args.js";
import { fullPlan, quickPlan } from "./runBench.js";

describe("parseBenchArgs", () => {
  it("uses the full plan and the default URL with no flags", () => {
    const o = parseBenchArgs([], {});
    expect(o.plan).toEqual(fullPlan);
    expect(o.settings.url).toBe("amqp://guest:guest@127.0.0.1:5672");
    expect(o.json).toBe(false);
  });

  it("--quick picks the quick plan; --rounds and --in-flight override it", () => {
    const o = parseBenchArgs(["--quick", "--rounds", "7", "--in-flight", "10"], {});
    expect(o.plan).toEqual({ ...quickPlan, rounds: 7, inFlight: 10 });
  });

  it("--url beats AMQP_URL, which beats the default", () => {
    expect(parseBenchArgs([], { AMQP_URL: "amqp://a" }).settings.url).toBe("amqp://a");
    expect(parseBenchArgs(["--url", "amqp://b"], { AMQP_URL: "amqp://a" }).settings.url).toBe("amqp://b");
  });

  it("--peers, --contenders and --no-extras", () => {
    const o = parseBenchArgs(["--peers", "--contenders", "postage, moleculer", "--no-extras"], {});
    expect(o.peers).toBe(true);
    expect(o.only).toEqual(["postage", "moleculer"]);
    expect(o.noExtras).toBe(true);
    expect(parseBenchArgs([], {})).toMatchObject({ peers: false, only: undefined, noExtras: false });
  });

  it("rejects unknown flags and non-numeric counts with a UsageError", () => {
    expect(() => parseBenchArgs(["--fast"], {})).toThrow(UsageError);
    expect(() => parseBenchArgs(["--rounds", "two"], {})).toThrow(/positive integer/);
    expect(() => parseBenchArgs(["--rounds", "0"], {})).toThrow(UsageError);
  });
});
