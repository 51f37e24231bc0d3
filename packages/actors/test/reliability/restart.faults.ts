import { Fingerprint } from "@postage/core";
import { connect, createProducer } from "@postage/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { genericApplicationExchange } from "../../src/index.js";
import { eventually, FAULT_URL, rabbitSh, randomName, settlesWithin, spawnFixture } from "./support.js";

/** Whether a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("process restart (fault node on 5673)", () => {
  const broker = connect({ url: FAULT_URL, shared: false });

  beforeAll(async () => {
    await rabbitSh("fault-start");
    await broker.ready({ timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await broker.close();
  });

  /** Starts the fixture; `runs` collects each run's "ready" line. */
  function startProgram(env: Record<string, string> = {}) {
    const name = randomName("restart-app");
    const runs: Array<{ pid: number; ppid: number; address: string }> = [];
    const { child, lines, stderr, exited } = spawnFixture("restartChild.ts", { RESTART_URL: FAULT_URL, RESTART_NAME: name, ...env }, (line) => {
      const [what, pid, ppid, address] = line.split(" ");
      if (what === "ready") runs.push({ pid: Number(pid), ppid: Number(ppid), address: address ?? "" });
    });
    const producer = createProducer(broker, { exchanges: [[genericApplicationExchange, ""]], fingerprint: Fingerprint.collect({ name: "restart-test" }) });
    const restart = async (address: string): Promise<void> => {
      await producer.to({ key: address }).command("restart");
    };
    return { child, runs, lines, exited, restart, stderr, close: () => producer.close() };
  }

  it("the replacement is a child of the original, which stays, forwards SIGTERM and exits with its code; restarts do not nest", async () => {
    const program = startProgram({ RESTART_EXIT_CODE: "3" });
    try {
      await eventually(() => program.runs.length === 1, `the program to run (stderr: ${program.stderr()})`, 30_000);
      const original = program.runs[0]!;
      expect(original.pid).toBe(program.child.pid);

      await program.restart(original.address);
      await eventually(() => program.runs.length === 2, `the replacement to run (stderr: ${program.stderr()})`, 30_000);
      const replacement = program.runs[1]!;
      // A new process, whose parent is the original: the original did not exit (nothing orphaned).
      expect(replacement.pid).not.toBe(original.pid);
      expect(replacement.ppid).toBe(original.pid);
      expect(program.child.exitCode).toBeNull();
      expect(alive(original.pid)).toBe(true);
      // Its own address is the new pid's.
      expect(replacement.address).toBe(original.address.replace(String(original.pid), String(replacement.pid)));

      // A restart of the replacement: the original starts the next one (no chain of waiting processes).
      await program.restart(replacement.address);
      await eventually(() => program.runs.length === 3, `the second replacement to run (stderr: ${program.stderr()})`, 30_000);
      const second = program.runs[2]!;
      expect(second.ppid).toBe(original.pid);
      await eventually(() => !alive(replacement.pid), "the first replacement to be gone");

      // `docker stop` / `systemctl stop`: SIGTERM to the original reaches the replacement, which drains and exits.
      program.child.kill("SIGTERM");
      const { code, signal } = await settlesWithin(program.exited, 30_000, "the original's exit after SIGTERM");
      expect({ code, signal }).toEqual({ code: 3, signal: null });
      expect(program.lines.at(-1)).toBe("exit shutdown");
      expect(alive(second.pid)).toBe(false);
    } finally {
      program.child.kill("SIGKILL");
      for (const run of program.runs) if (alive(run.pid)) process.kill(run.pid, "SIGKILL");
      await program.close();
    }
  }, 120_000);

  it("SIGINT sent to the whole process group (Ctrl-C) drains the replacement once instead of killing it", async () => {
    const program = startProgram();
    try {
      await eventually(() => program.runs.length === 1, `the program to run (stderr: ${program.stderr()})`, 30_000);
      await program.restart(program.runs[0]!.address);
      await eventually(() => program.runs.length === 2, `the replacement to run (stderr: ${program.stderr()})`, 30_000);
      // As a terminal does: the same SIGINT to both processes; the original forwards its copy too.
      process.kill(program.runs[1]!.pid, "SIGINT");
      program.child.kill("SIGINT");
      const { code, signal } = await settlesWithin(program.exited, 30_000, "the original's exit after SIGINT");
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(program.lines.at(-1)).toBe("exit shutdown");
    } finally {
      program.child.kill("SIGKILL");
      for (const run of program.runs) if (alive(run.pid)) process.kill(run.pid, "SIGKILL");
      await program.close();
    }
  }, 120_000);
});
