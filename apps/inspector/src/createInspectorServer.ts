import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { timingSafeEqual, createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { FleetModel, type FleetChange, type FleetModelOptions, type MessageFilter } from "./FleetModel.js";
import type { InspectionSource } from "./InspectionSource.js";
import { InspectorError } from "./errors.js";
import { createDeadLetterApi, type DeadLetterPanelOptions } from "./deadLetterApi.js";

/** The inspector's port when none is given. */
export const DEFAULT_INSPECTOR_PORT = 7373;

/** Options of {@link createInspectorServer}. */
export interface InspectorServerOptions {
  /** Where the events come from. The server subscribes on start and unsubscribes on close; it does not close the source. */
  source: InspectionSource;
  /** TCP port; `0` picks a free one (see {@link InspectorServer.port}). @default 7373 */
  port?: number;
  /**
   * Interface to bind. Anything other than a loopback address (`127.0.0.1`, `localhost`, `::1`)
   * requires a {@link token}.
   * @default "127.0.0.1"
   */
  host?: string;
  /**
   * A secret every request must carry, as `?token=` or an `Authorization: Bearer <token>` (or
   * `X-Postage-Token`) header. Required when binding a non-loopback host; optional otherwise.
   */
  token?: string;
  /** Options of the {@link FleetModel} the server keeps (clock, log size, vanish timeout). */
  model?: FleetModelOptions;
  /** How often silent components are checked for vanishing (ms). @default 1000 */
  tickMs?: number;
  /** A comment is sent on idle event streams this often (ms), so proxies keep them open. @default 15000 */
  keepAliveMs?: number;
  /** A viewer whose unsent backlog exceeds this many bytes is disconnected (it reconnects and resyncs). @default 4 MiB */
  maxViewerBacklog?: number;
  /** Title shown on the page. @default "Postage inspector" */
  title?: string;
  /** Shows the dead-letter panel for this broker's dead-letter queue (read-only). @default no panel */
  deadLetters?: DeadLetterPanelOptions;
}

/** A running inspector. */
export interface InspectorServer {
  /** The page's address; includes `?token=` when a token is set. */
  readonly url: string;
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  readonly host: string;
  /** The view model the page shows. */
  readonly model: FleetModel;
  /** How many event streams (open pages) are connected. */
  readonly viewers: number;
  /** Stops the server: unsubscribes from the source, ends event streams, closes connections. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

const STATIC: Record<string, { file: URL | (() => string); type: string }> = {
  "/": { file: new URL("../web/index.html", import.meta.url), type: "text/html; charset=utf-8" },
  "/app.js": { file: new URL("../web/app.js", import.meta.url), type: "text/javascript; charset=utf-8" },
  "/diagram.js": { file: new URL("../web/diagram.js", import.meta.url), type: "text/javascript; charset=utf-8" },
  "/dom.js": { file: new URL("../web/dom.js", import.meta.url), type: "text/javascript; charset=utf-8" },
  "/favicon.svg": { file: new URL("../web/favicon.svg", import.meta.url), type: "image/svg+xml" },
  "/app.css": { file: new URL("../web/app.css", import.meta.url), type: "text/css; charset=utf-8" },
  "/deadLetters.js": { file: new URL("../web/deadLetters.js", import.meta.url), type: "text/javascript; charset=utf-8" },
  "/deadLetters.css": { file: new URL("../web/deadLetters.css", import.meta.url), type: "text/css; charset=utf-8" },
  "/elk.js": { file: () => createRequire(import.meta.url).resolve("elkjs/lib/elk.bundled.js"), type: "text/javascript; charset=utf-8" },
};

const SECURITY_HEADERS = {
  // The page loads nothing from elsewhere; keep it that way even if a message name contains markup.
  "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/**
 * Starts the inspector's web server: one self-contained page (`/`), a JSON snapshot
 * (`/api/snapshot`), the message log (`/api/messages?actorId=&routingKey=&limit=`) and a live
 * stream of changes as Server-Sent Events (`/api/events`: first a `snapshot` event, then
 * `component`, `message` and `forgotten` events, each with a JSON `data` line). With
 * `deadLetters`, also the dead-letter queue (`/api/dead-letters`, `/api/dead-letters/one?id=`).
 *
 * Binds `127.0.0.1:7373` by default. A non-loopback host without a token is refused; with a token,
 * every request must carry it. Without a token, requests whose `Host` header is not a loopback name
 * are refused too (a defence against DNS rebinding).
 *
 * @throws {InspectorError} `TOKEN_REQUIRED` (non-loopback host without token), `LISTEN_FAILED`
 *   (port taken, address not available).
 * @example
 * ```ts
 * const inspector = await createInspectorServer({ source: createInProcessSource((l) => scheduler.inspect(l)) });
 * console.log(`inspector on ${inspector.url}`);
 * ```
 */
export async function createInspectorServer(options: InspectorServerOptions): Promise<InspectorServer> {
  const host = options.host ?? "127.0.0.1";
  const token = options.token === undefined || options.token === "" ? undefined : options.token;
  if (!LOOPBACK.has(host) && token === undefined) {
    throw new InspectorError("TOKEN_REQUIRED", `binding ${host} exposes the inspector beyond this machine: give a token (or bind 127.0.0.1)`);
  }
  const title = options.title ?? "Postage inspector";
  const maxBacklog = options.maxViewerBacklog ?? 4 * 1024 * 1024;
  const model = new FleetModel(options.model);
  const viewers = new Set<ServerResponse>();
  const cache = new Map<string, Buffer>();
  const deadLetters = options.deadLetters === undefined ? undefined : createDeadLetterApi(options.deadLetters);

  const broadcast = (changes: FleetChange[]): void => {
    if (changes.length === 0 || viewers.size === 0) return;
    const frame = changes.map((change) => sseFrame(change.type, change)).join("");
    for (const viewer of viewers) {
      if (viewer.writableLength > maxBacklog) {
        // A stalled page must not make the inspector buffer without bound; it will reconnect and resync.
        viewers.delete(viewer);
        viewer.destroy();
        continue;
      }
      viewer.write(frame);
    }
  };

  const unsubscribe = options.source.subscribe((event) => broadcast(model.apply(event)));
  const ticker = setInterval(() => broadcast(model.tick()), options.tickMs ?? 1000);
  const keepAlive = setInterval(() => {
    for (const viewer of viewers) viewer.write(": keep-alive\n\n");
  }, options.keepAliveMs ?? 15_000);
  ticker.unref();
  keepAlive.unref();

  const authorized = (request: IncomingMessage, url: URL): boolean => {
    if (token === undefined) {
      // Loopback only: refuse pages of other sites that rebound their name to 127.0.0.1.
      const hostHeader = (request.headers.host ?? "").replace(/:\d+$/, "");
      return LOOPBACK.has(hostHeader);
    }
    const given =
      url.searchParams.get("token") ??
      request.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1] ??
      headerValue(request.headers["x-postage-token"]);
    return given !== undefined && sameSecret(given, token);
  };

  const serveStatic = async (path: string, response: ServerResponse): Promise<void> => {
    const entry = STATIC[path];
    if (entry === undefined) return notFound(response);
    let body = cache.get(path);
    if (body === undefined) {
      const file = typeof entry.file === "function" ? entry.file() : entry.file;
      body = await readFile(file);
      cache.set(path, body);
    }
    // Static files are fetched with the token too, so put it into their addresses.
    const query = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
    if (path === "/") {
      body = Buffer.from(body.toString("utf8").replaceAll("{{query}}", escapeHtml(query)).replaceAll("{{title}}", escapeHtml(title)));
    } else if (query !== "" && entry.file instanceof URL && entry.type.startsWith("text/javascript")) {
      // A module's relative import (`from "./diagram.js"`) resolves without the importing script's
      // query, so the browser would ask for it without the token (401) and the page would not run.
      body = Buffer.from(body.toString("utf8").replace(/(\bfrom\s+)(["'])(\.\/[\w.-]+\.js)\2/g, (_match, from: string, quote: string, specifier: string) => `${from}${quote}${specifier}${query.replaceAll("'", "%27")}${quote}`));
    }
    response.writeHead(200, { ...SECURITY_HEADERS, "content-type": entry.type, "content-length": body.length });
    response.end(body);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? "/", "http://inspector.invalid");
    if (!authorized(request, url)) {
      response.writeHead(token === undefined ? 403 : 401, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
      response.end(token === undefined ? "forbidden: use a loopback address\n" : "unauthorized: give the inspector's token\n");
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { ...SECURITY_HEADERS, allow: "GET, HEAD" });
      response.end();
      return;
    }
    switch (url.pathname) {
      case "/api/snapshot":
        return json(response, { title, source: options.source.description, ...model.snapshot() });
      case "/api/messages": {
        const filter: MessageFilter = {};
        const actorId = url.searchParams.get("actorId");
        const routingKey = url.searchParams.get("routingKey");
        const limit = Number(url.searchParams.get("limit") ?? Number.NaN);
        if (actorId) filter.actorId = actorId;
        if (routingKey) filter.routingKey = routingKey;
        if (Number.isInteger(limit) && limit >= 0) filter.limit = limit;
        return json(response, model.messages(filter));
      }
      case "/api/events": {
        response.writeHead(200, {
          ...SECURITY_HEADERS,
          "content-type": "text/event-stream; charset=utf-8",
          connection: "keep-alive",
          // Proxies (nginx) must not buffer the stream.
          "x-accel-buffering": "no",
        });
        response.write(`retry: 2000\n${sseFrame("snapshot", { title, source: options.source.description, ...model.snapshot() })}`);
        viewers.add(response);
        request.on("close", () => viewers.delete(response));
        return;
      }
      case "/api/dead-letters":
      case "/api/dead-letters/one": {
        if (deadLetters === undefined) {
          // No panel: "nothing here" without an error the page's console would show.
          response.writeHead(url.pathname === "/api/dead-letters" ? 204 : 404, SECURITY_HEADERS);
          response.end();
          return;
        }
        const answer = await deadLetters(url, headerValue(request.headers["sec-fetch-site"]));
        return json(response, answer.body, answer.status);
      }
      case "/favicon.ico":
        // Browsers ask for it whatever the page says; the page's icon is favicon.svg.
        response.writeHead(204, SECURITY_HEADERS);
        response.end();
        return;
      default:
        return serveStatic(url.pathname, response);
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // A file missing from the package is a packaging bug: say so to the page and on stderr.
      process.stderr.write(`postage inspector: ${request.url ?? ""}: ${error instanceof Error ? error.message : String(error)}\n`);
      if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      response.end("internal error\n");
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? DEFAULT_INSPECTOR_PORT, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    unsubscribe();
    clearInterval(ticker);
    clearInterval(keepAlive);
    throw new InspectorError("LISTEN_FAILED", `cannot listen on ${host}:${options.port ?? DEFAULT_INSPECTOR_PORT}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  server.on("error", (error) => {
    process.stderr.write(`postage inspector: server error: ${error.message}\n`);
  });

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}/${token === undefined ? "" : `?token=${encodeURIComponent(token)}`}`;
  let closing: Promise<void> | undefined;

  return {
    url,
    port,
    host,
    model,
    get viewers() {
      return viewers.size;
    },
    close() {
      closing ??= (async () => {
        unsubscribe();
        clearInterval(ticker);
        clearInterval(keepAlive);
        for (const viewer of viewers) viewer.end();
        viewers.clear();
        const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

function sseFrame(event: string, data: unknown): string {
  // JSON never contains a raw newline, so one data line is enough.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function json(response: ServerResponse, value: unknown, status = 200): void {
  const body = Buffer.from(JSON.stringify(value));
  response.writeHead(status, { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8", "content-length": body.length });
  response.end(body);
}

function notFound(response: ServerResponse): void {
  response.writeHead(404, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
  response.end("not found\n");
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sameSecret(given: string, expected: string): boolean {
  // Hash both so the comparison takes the same time whatever the lengths.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
