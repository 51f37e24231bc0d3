import { type ChildProcess, execFile, spawn } from "node:child_process";
import { type AddressInfo, createConnection, createServer, type Server } from "node:net";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

/** The repository root (this file is packages/actors/test/reliability/support.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const RABBIT_SH = `${REPO_ROOT}scripts/rabbit.sh`;

/** The main broker (never stopped by these suites). */
export const MAIN_URL = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";
/** The disposable fault node started by `scripts/rabbit.sh fault-start`. */
export const FAULT_URL = "amqp://guest:guest@127.0.0.1:5673";
/** The three cluster nodes started by `scripts/rabbit.sh cluster-start`. */
export const CLUSTER_URL = "amqp://guest:guest@127.0.0.1:5674,127.0.0.1:5675,127.0.0.1:5676";

/** A random name, so suites never collide on a shared broker. */
export function randomName(prefix: string): string {
  return `test.reliability.${prefix}.${randomBytes(4).toString("hex")}`;
}

/** Runs `scripts/rabbit.sh <args>`; resolves with its stderr log, rejects with it on failure. */
export function rabbitSh(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(RABBIT_SH, args, { timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/rabbit.sh ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/**
 * Closes, broker side, every connection named `connectionName` on the main broker (as a broker
 * restart or a crashed peer would), through `rabbitmqctl` (needs root); other connections, other
 * test files' included, are left alone. Resolves with how many it closed; rejects when
 * `rabbitmqctl` fails.
 */
export async function forceCloseConnection(connectionName: string, reason = "postage test: forced close"): Promise<number> {
  const rabbitmqctl = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => execFile("rabbitmqctl", args, (error, stdout) => (error ? reject(error) : resolve(stdout))));
  const listing = await rabbitmqctl(["list_connections", "-q", "--no-table-headers", "pid", "client_properties"]);
  const pids = listing
    .split("\n")
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split("\t")[0] ?? "");
  for (const pid of pids) await rabbitmqctl(["close_connection", pid, reason]);
  return pids.length;
}

/** Polls `check` until it holds; throws naming `what` after `timeout` ms. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port (a node listening, or not any more). */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * `count` different TCP ports nothing listens on at the moment, chosen by the OS (bind to port 0,
 * all held until each is known, then closed): concurrent test runs get different ones, where fixed
 * ports would make them collide.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
      });
    }
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with a clear message when `promise` has not settled within `ms`: "never hangs" checks. */
export function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Formats rows as a Markdown table (the suites print them; the README quotes them). */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const line = (cells: ReadonlyArray<string | number>): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A fixture program running as a child process (TypeScript, from `fixtures/`), and what it printed. */
export interface FixtureProcess {
  readonly child: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `fixtures/<file>` (TypeScript, sources resolved as in the tests) with `env` added; `onLine` sees each stdout line. */
export function spawnFixture(file: string, env: Record<string, string>, onLine: (line: string) => void = () => undefined): FixtureProcess {
  const fixtures = `${REPO_ROOT}packages/actors/test/reliability/fixtures/`;
  const child = spawn(process.execPath, ["--conditions=@postage/source", "--import", `${fixtures}tsRegister.mjs`, `${fixtures}${file}`], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  if (child.stdout) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line);
      onLine(line);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, lines, stderr: () => stderr, exited };
}
