// `npm run demo`: the tour, as a new user runs it (no broker settings: the in-memory broker).
import { beforeAll, describe, expect, it } from "vitest";
import { demo, ensureBuilt } from "./processes.js";

/**
 * The order flow's lines read in the order things happen: each message the order prints as
 * received (`order <- rpc pay`) comes after the sender's line sending it (`order_send -> order  rpc
 * pay ...`), and each reply the sender prints comes after the order received that call.
 */
function expectOrderFlowInOrder(out: string): void {
  const section = out.slice(out.indexOf("6. A component"), out.indexOf("Done:"));
  const sent: string[] = []; // sent, not yet seen received
  let receivedCalls = 0;
  let replies = 0;
  for (const line of section.split("\n")) {
    const sending = /^\s+order_send\s+->\s+\S+\s+(rpc|command) (\S+)/.exec(line);
    const receiving = /^\s+order\s+<-\s+(rpc|command) (\S+)/.exec(line);
    if (sending) sent.push(`${sending[1]} ${sending[2]}`);
    if (receiving) {
      const what = `${receiving[1]} ${receiving[2]}`;
      expect(sent, `"${line.trim()}" before the sender's line\n${section}`).toContain(what);
      sent.splice(sent.indexOf(what), 1);
      if (receiving[1] === "rpc") receivedCalls += 1;
    }
    if (/^\s+order_send\s+(<-|!!)/.test(line)) {
      replies += 1;
      expect(replies, `"${line.trim()}" before the order received that call\n${section}`).toBeLessThanOrEqual(receivedCalls);
    }
  }
  expect(sent, "sent but never received").toEqual([]);
}

describe("the tour", () => {
  beforeAll(() => ensureBuilt());

  it("runs every flow on the in-memory broker, prints who sent what to whom, and exits 0", async () => {
    const tour = demo([], {});
    const code = await tour.exited;
    expect(code, tour.output).toBe(0);
    const out = tour.stdout;
    expect(out).toContain("Postage tour on memory://tour");
    for (const section of ["1. Basic echo", "2. Advanced echo", "3. RPC echo", "4. GenericApplications", "5. Dead letters", "6. A component with its own state machine"]) expect(out).toContain(section);
    expect(out).toMatch(/echo_send\s+->\s+echo-exchange\/echo-rk\s+command echo "A test message"/);
    expect(out).toMatch(/echo_receive\s+<-\s+"A test message"/);
    // Round robin splits the four messages two and two; the fan-out one reaches both receivers.
    expect(out).toMatch(/round robin: receiver 1 got 2, receiver 2 got 2 of 4/);
    expect(out.match(/echo_receive\[[12]\]\s+<-\s+"A fanout test message"/g)).toHaveLength(2);
    expect(out).toMatch(/echo_send\s+<-\s+success "RPC message received"/);
    expect(out).toMatch(/->\s+monitor\s+every monitor\n\s+<-\s+2 replies: monitor\(.{6}\), monitor\(.{6}\)/);
    expect(out).toMatch(/->\s+monitor\/rr\s+one monitor, round robin\n\s+<-\s+1 reply: monitor/);
    expect(out).toMatch(/all 3 applications stopped/);
    // The two bad charges wait in the dead-letter queue with their reasons; the good one was handled.
    expect(out).toMatch(/billing\s+<-\s+charged 12\n/);
    expect(out).toMatch(/dead-letter queue\s+REJECTED {2}amount must be a number, got "twelve" {2}\(echo-exchange\/charge-rk: command charge \{"parameters":\{"amount":"twelve"\}\}\)/);
    expect(out).toMatch(/dead-letter queue\s+NOT_JSON {2}body is not JSON: .* {2}\(echo-exchange\/charge-rk: charge 12 EUR\)/);
    // The order moves through its machine; shipping before paying is refused with the state named.
    expect(out).toMatch(/order_send\s+!!\s+error "cannot ship in state pending"/);
    expect(out).toMatch(/order\s+ship: open\.paid -> shipped/);
    expect(out).toMatch(/order\s+stopped, its order shipped/);
    expect(out).toMatch(/Done: 6 flows in \d+\.\d s\./);
    expect(tour.stderr).toBe("");
    expectOrderFlowInOrder(out);
  });

  it("with --inspect, serves the live inspector during the tour and after it until Ctrl-C", async () => {
    const tour = demo(["--inspect", "--port", "0", "--pause", "0"], {});
    await tour.waitFor(/The inspector stays at (\S+)/);
    const url = /The inspector stays at (\S+)/.exec(tour.stdout)?.[1] ?? "";
    const snapshot = (await (await fetch(new URL("api/snapshot", url))).json()) as { components: Array<{ fingerprint: { name: string } }> };
    const names = new Set(snapshot.components.map((c) => c.fingerprint.name));
    expect([...names].sort()).toEqual(["billing", "echo_receive", "logger", "monitor", "order"]);
    // The dead-letter panel's data: the tour's two dead letters, still in the queue.
    const deadLetters = (await (await fetch(new URL("api/dead-letters", url))).json()) as { total: number; deadLetters: Array<{ error: string }> };
    expect(deadLetters.deadLetters.map((letter) => letter.error)).toEqual(["REJECTED", "NOT_JSON"]);
    tour.signal("SIGINT");
    expect(await tour.exited, tour.output).toBe(0);
  });

  it("explains itself with --help", async () => {
    const help = demo(["--help"], {});
    expect(await help.exited).toBe(0);
    expect(help.stdout).toContain("npm run demo -- <demo> receive");
  });

  it("refuses an unknown demo with exit 2", async () => {
    const wrong = demo(["echo", "receive"], {});
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr).toContain("unknown demo or role");
  });
});
