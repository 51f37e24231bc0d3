// Test helpers: build the apps once, spawn their programs, wait for their output, always kill them.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmdirSync, statSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@postage/transport";

/** The repository's root. */
export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
/** The RabbitMQ under test. */
export const RABBIT_URL = process.env.POSTAGE_TEST_RABBIT_URL ?? "amqp://guest:guest@127.0.0.1:5672";
export const DEMOS_MAIN = join(ROOT, "apps/demos/dist/main.js");
export const CLI_BIN = join(ROOT, "apps/cli/bin/postage.js");

/** A random name, so parallel test files never share exchanges or queues. */
export function randomName(prefix: string): string {
  return `test.${prefix}.${randomBytes(4).toString("hex")}`;
}

/**
 * Builds the demos and the CLI (and what they reference) with `tsc --build`: a no-op when up to
 * date. Test files run in parallel, so a lock directory keeps two builds from writing the same files.
 */
export function ensureBuilt(): void {
  const lock = join(tmpdir(), "postage-apps-build.lock");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than two minutes belongs to a build that died.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmdirSync(lock);
      } catch {
        // gone meanwhile: try again
      }
      if (Date.now() > deadline) throw new Error(`could not take the build lock ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    execFileSync(join(ROOT, "node_modules/.bin/tsc"), ["--build", "apps/demos", "apps/cli"], { cwd: ROOT, stdio: "pipe" });
  } finally {
    rmdirSync(lock);
  }
}

/** A running program and everything it printed. */
export class Program {
  stdout = "";
  stderr = "";
  readonly exited: Promise<number>;
  private readonly child: ChildProcess;
  private readonly listeners = new Set<() => void>();

  constructor(file: string, args: readonly string[], env: Record<string, string | undefined>) {
    this.child = spawn(process.execPath, [file, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolveExit) => this.child.on("close", (code, signal) => resolveExit(code ?? (signal ? 128 : -1))));
    running.add(this);
    void this.exited.then(() => running.delete(this)); // never rejects
  }

  /** Both streams, for failure messages. */
  get output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`;
  }

  /** Resolves once stdout+stderr match `pattern` (or it printed `count` matches). */
  async waitFor(pattern: RegExp, { count = 1, timeout = 20_000 } = {}): Promise<void> {
    const global = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
    const matches = (): number => (this.stdout + this.stderr).match(global)?.length ?? 0;
    if (matches() >= count) return;
    await new Promise<void>((resolveWait, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out waiting for ${pattern} x${count}\n${this.output}`));
      }, timeout);
      const check = (): void => {
        if (matches() < count) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolveWait();
      };
      this.listeners.add(check);
    });
  }

  /** Sends a signal (SIGINT: what Ctrl-C does). */
  signal(signal: NodeJS.Signals = "SIGINT"): void {
    this.child.kill(signal);
  }

  /** Kills the program if it still runs, and waits for it. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

const running = new Set<Program>();

/** Kills every program still running (call it in afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((program) => program.kill()));
}

/** Starts `npm run demo -- <args>` (the built program) with the given environment. */
export function demo(args: readonly string[], env: Record<string, string | undefined>): Program {
  return new Program(DEMOS_MAIN, args, env);
}

/** Runs `postage <args>` to the end: its exit code and output. */
export async function postage(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Program(CLI_BIN, args, { POSTAGE_URL: RABBIT_URL, ...env });
  const code = await program.exited;
  return { code, stdout: program.stdout, stderr: program.stderr };
}

/**
 * Deletes what demo applications left on RabbitMQ: the round-robin queues of `names` (by name
 * and by name on this host) and their exchange. Anything already gone is skipped.
 */
export async function deleteDemoApplications(exchange: string, names: readonly string[]): Promise<void> {
  const broker = connect({ url: RABBIT_URL, shared: false });
  try {
    for (const name of names) {
      for (const queue of [`${name}/rr`, `${name}@${hostname()}/rr`]) await broker.driver.deleteQueue(queue).catch(() => undefined); // may not exist
    }
    await broker.driver.deleteExchange(exchange).catch(() => undefined); // may not exist
  } finally {
    await broker.close();
  }
}

/** The environment without settings that would redirect the programs elsewhere. */
function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("POSTAGE_")) delete env[key];
  return env;
}
