import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { eventually, readJsonLines } from "./helpers.js";

const script = new URL("./fixtures/telemetry-server.mjs", import.meta.url).pathname;

/** One JSON line the child printed: `ready` (with `metricsUrl`), `span`, `exit`, ... */
export interface ServerEvent {
  event: string;
  metricsUrl?: string;
  [key: string]: unknown;
}

/**
 * fixtures/telemetry-server.mjs in a child process, from the built packages (built first if
 * missing), as a user's program would run: a MessageProcessor with the OpenTelemetry SDK.
 */
export class TelemetryServer {
  readonly events: ServerEvent[] = [];
  stderr = "";
  private readonly child: ChildProcessWithoutNullStreams;

  private constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env } });
    readJsonLines<ServerEvent>(this.child.stdout, (event) => this.events.push(event));
    this.child.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /** Starts the server on `exchange` / `queue` / `routingKey` and waits until it is running (and serving metrics, if asked). */
  static async start(exchange: string, queue: string, routingKey: string, env: Record<string, string>): Promise<TelemetryServer> {
    if (!existsSync(new URL("../dist/index.js", import.meta.url))) {
      const built = spawnSync("npx", ["tsc", "--build"], { cwd: new URL("../../..", import.meta.url).pathname, stdio: "inherit" });
      if (built.status !== 0) throw new Error("building the packages for the child process failed");
    }
    const server = new TelemetryServer([exchange, queue, routingKey], env);
    await eventually(() => server.ready !== undefined, 30_000, `the telemetry server (events: ${JSON.stringify(server.events)}, stderr: ${server.stderr})`);
    return server;
  }

  get ready(): ServerEvent | undefined {
    return this.events.find((event) => event.event === "ready");
  }

  /** Ends the child (SIGTERM: it drains) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}
