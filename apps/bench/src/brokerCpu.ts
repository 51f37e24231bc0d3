import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

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
 * Finds the broker process: `pid` if given, else the only `beam.smp` running `-s rabbit boot`, else
 * (several nodes run: fault nodes, a cluster) the one listening on `port`. Returns undefined when
 * none is found (pass `--broker-pid` then).
 */
export function findBrokerCpu(pid?: number, port?: number): BrokerCpu | undefined {
  if (pid === undefined) {
    const candidates = listRabbitBeams();
    pid = candidates.length === 1 ? candidates[0] : port === undefined ? undefined : candidates.find((c) => listensOn(c, port));
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

/** Whether process `pid` holds a TCP socket listening on `port` (IPv4 or IPv6), from /proc/net/tcp*. */
function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st ... inode: state 0A is LISTEN, the inode is the tenth field
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && fields[1]?.endsWith(`:${hexPort}`) && fields[9] !== undefined) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? "");
      } catch {
        return false;
      }
    });
  } catch {
    return false; // not ours to read, or gone
  }
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
