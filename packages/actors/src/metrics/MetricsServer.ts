import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { ActorError } from "../errors.js";

/** Where {@link MetricsServer.listen} serves. */
export interface MetricsServerOptions {
  /** TCP port; 0 takes any free one (see {@link MetricsServer.url}). */
  port: number;
  /** Interface to bind. @default "0.0.0.0" (a Prometheus server elsewhere scrapes it) */
  host?: string;
}

/**
 * Serves a registry's metrics at `GET /metrics` in the Prometheus text format (anything else is
 * 404). The metrics hold no secrets: component names and types, counts and durations.
 */
export class MetricsServer {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    /** `http://host:port/metrics`. */
    readonly url: string,
  ) {}

  /**
   * Starts serving.
   * @throws {ActorError} `METRICS_SERVER` when the port cannot be bound (in use, not allowed).
   */
  static listen(registry: Registry, options: MetricsServerOptions): Promise<MetricsServer> {
    const host = options.host ?? "0.0.0.0";
    const server = createServer((request, response) => {
      if (request.method !== "GET" || (request.url ?? "").split("?")[0] !== "/metrics") {
        response.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at /metrics\n");
        return;
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`collecting metrics failed: ${String(error)}\n`),
      );
    });
    return new Promise<MetricsServer>((resolve, reject) => {
      server.once("error", (error) =>
        reject(new ActorError("METRICS_SERVER", `cannot serve metrics on ${host}:${options.port}: ${error.message}`, { cause: error })),
      );
      server.listen(options.port, host, () => {
        const { port } = server.address() as AddressInfo;
        const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
        resolve(new MetricsServer(server, `http://${shown}:${port}/metrics`));
      });
    });
  }

  /** Stops serving (open scrapes are cut). Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}
