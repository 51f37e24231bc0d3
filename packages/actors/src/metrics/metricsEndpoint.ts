import { ActorError } from "../errors.js";
import { MetricsServer } from "./MetricsServer.js";
import { PostageMetrics, type PostageMetricsOptions } from "./PostageMetrics.js";

/** The scheduler's `metrics` option, in full. */
export interface SchedulerMetricsOptions extends PostageMetricsOptions {
  /**
   * Serve `GET /metrics` (Prometheus text format) on this port; 0 takes any free one. Schedulers of
   * one process given the same port share the server and the metrics.
   * @default POSTAGE_METRICS_PORT; with neither, no server (the metrics are still in `registry`)
   */
  port?: number;
  /** Interface the server binds. @default POSTAGE_METRICS_HOST, else "0.0.0.0" */
  host?: string;
  /** Report into these metrics instead of the ones of the port (or a new set). */
  metrics?: PostageMetrics;
}

/** A scheduler's hold on metrics and, maybe, their server. @internal */
export interface MetricsEndpoint {
  readonly metrics: PostageMetrics;
  /** The server, once listening; rejects with `METRICS_SERVER` when it could not bind. Undefined without a port. */
  readonly server: Promise<MetricsServer> | undefined;
  /** Lets go: the server closes when its last scheduler released it. Idempotent. */
  release(): Promise<void>;
}

/** Servers (and their metrics) by `host:port`, shared by the schedulers of the process. */
const shared = new Map<string, { metrics: PostageMetrics; server: Promise<MetricsServer>; refs: number }>();

/**
 * Resolves the `metrics` option and the environment into an endpoint, or `undefined` when metrics
 * are off (the default without POSTAGE_METRICS_PORT). @internal
 */
export function openMetricsEndpoint(option: boolean | SchedulerMetricsOptions | undefined, env: NodeJS.ProcessEnv = process.env): MetricsEndpoint | undefined {
  const envPort = parsePort(env.POSTAGE_METRICS_PORT);
  if (option === false || (option === undefined && envPort === undefined)) return undefined;
  const options: SchedulerMetricsOptions = option === true || option === undefined ? {} : option;
  const port = options.port ?? envPort;
  const host = options.host ?? (env.POSTAGE_METRICS_HOST || "0.0.0.0");
  if (port === undefined) {
    return { metrics: options.metrics ?? new PostageMetrics(options), server: undefined, release: () => Promise.resolve() };
  }
  // Port 0 is a new free port each time: nothing to share.
  const key = port === 0 ? undefined : `${host}:${port}`;
  let entry = key === undefined ? undefined : shared.get(key);
  if (entry === undefined) {
    const metrics = options.metrics ?? new PostageMetrics(options);
    const server = MetricsServer.listen(metrics.registry, { port, host });
    entry = { metrics, server, refs: 0 };
    if (key !== undefined) {
      shared.set(key, entry);
      server.catch(() => {
        // The scheduler reports it; the next scheduler on this port tries again.
        if (shared.get(key) === entry) shared.delete(key);
      });
    }
  }
  const held = entry;
  held.refs += 1;
  let released: Promise<void> | undefined;
  return {
    metrics: held.metrics,
    server: held.server,
    release() {
      released ??= (async () => {
        held.refs -= 1;
        if (held.refs > 0) return;
        if (key !== undefined && shared.get(key) === held) shared.delete(key);
        const server = await held.server.catch(() => undefined); // a server that never listened has nothing to close
        await server?.close();
      })();
      return released;
    },
  };
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ActorError("METRICS_SERVER", `POSTAGE_METRICS_PORT must be a TCP port (0-65535), got "${value}"`);
  }
  return port;
}
