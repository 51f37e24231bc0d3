import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Reads the CPU time (user + system) a local RabbitMQ node has used, from `/proc/<pid>/stat`.
 * Only meaningful when the broker runs on this machine; anything else using the broker during a run
 * (other tests, other benchmarks) is counted too.
 */
export interface BrokerCpu {
  readonly pid: number;
  /** CPU seconds used by the broker process so far; NaN once the process is gone. */
  seconds(): number;
}

/**
 * Finds the broker process: `pid` if given, else the only `beam.smp` running `-s rabbit boot`.
 * Returns undefined when there is no such process or several (a fault node or cluster is running:
 * pass `--broker-pid` then).
 */
export function findBrokerCpu(pid?: number): BrokerCpu | undefined {
  if (pid === undefined) {
    const candidates = listRabbitBeams();
    if (candidates.length !== 1) return undefined;
    pid = candidates[0];
  }
  if (pid === undefined || Number.isNaN(readCpuSeconds(pid, 100))) return undefined;
  const ticks = clockTicks();
  const found = pid;
  return { pid: found, seconds: () => readCpuSeconds(found, ticks) };
}

function listRabbitBeams(): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return []; // not Linux: no broker CPU figures
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (cmd[0]?.endsWith("beam.smp") && cmd.join(" ").includes("-s rabbit boot")) pids.push(Number(entry));
    } catch {
      // the process exited while we listed /proc
    }
  }
  return pids;
}

function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

function readCpuSeconds(pid: number, ticksPerSecond: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the parenthesised command name: state is [0], utime [11], stime [12]
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}
