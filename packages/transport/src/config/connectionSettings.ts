import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import { TransportError } from "../errors.js";
import { type BrokerAddress, parseBrokerUrl } from "./parseBrokerUrl.js";

/** TLS settings for `amqps` (passed to Node's `tls.connect`). */
export interface TlsOptions {
  /** Trusted CA certificates (PEM); the system's CAs when missing. */
  ca?: TlsConnectionOptions["ca"];
  /** Client certificate (PEM), for brokers that verify clients. */
  cert?: TlsConnectionOptions["cert"];
  /** Client private key (PEM). */
  key?: TlsConnectionOptions["key"];
  passphrase?: string;
  /** Refuse brokers whose certificate does not verify. @default true */
  rejectUnauthorized?: boolean;
  /** Name to check the certificate against (SNI). @default the host name */
  servername?: string;
}

/**
 * How to reach the broker. Every field overrides the environment; see {@link resolveConnectionSettings}.
 */
export interface ConnectionOptions {
  /** `amqp://`, `amqps://` (several comma-separated hosts for a cluster) or `memory://name`. @default env POSTAGE_URL */
  url?: string;
  /** @default env POSTAGE_HOST, else "localhost" */
  host?: string;
  /** @default env POSTAGE_PORT, else 5672 (5671 with TLS) */
  port?: number;
  /** @default env POSTAGE_VHOST, else "/" */
  vhost?: string;
  /** @default env POSTAGE_USER, else "guest" */
  user?: string;
  /** @default env POSTAGE_PASSWORD, else "guest" */
  password?: string;
  /** TLS on (with options) or off. @default true for amqps URLs, else false */
  tls?: boolean | TlsOptions;
  /** Log every message sent and received. @default env POSTAGE_DEBUG_MODE === "true" */
  debug?: boolean;
  /** AMQP heartbeat in seconds (0 disables). @default 10 (or the URL's ?heartbeat=) */
  heartbeat?: number;
  /** Name shown for the connection in the RabbitMQ management UI. */
  connectionName?: string;
}

/** Settings for a RabbitMQ broker (or cluster), fully resolved. */
export interface AmqpSettings {
  readonly transport: "amqp";
  /** Nodes to try, in order (round robin on reconnect). */
  readonly hosts: readonly BrokerAddress[];
  readonly vhost: string;
  readonly user: string;
  readonly password: string;
  /** TLS options, or `null` for plain TCP. */
  readonly tls: TlsOptions | null;
  readonly heartbeat: number;
  readonly connectionName?: string;
  readonly debug: boolean;
  /** The address without the password, for logs and errors. */
  readonly displayUrl: string;
}

/** Settings for the in-memory broker. */
export interface MemorySettings {
  readonly transport: "memory";
  /** Drivers created with the same name in one process share one broker. */
  readonly name: string;
  readonly debug: boolean;
  readonly displayUrl: string;
}

/** Where and how to connect: RabbitMQ or the in-memory broker. */
export type ConnectionSettings = AmqpSettings | MemorySettings;

/** The environment variables read (a subset of `process.env`). */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Hooks for {@link resolveConnectionSettings}, mostly for tests. */
export interface ResolveHooks {
  /** Receives deprecation warnings. @default process.emitWarning (as a DeprecationWarning) */
  warn?: (message: string) => void;
  /** Keys of warnings already given; each is given once. @default one set for the whole process */
  warned?: Set<string>;
}

/** The default heartbeat: a dead peer is noticed after about two of them. */
export const DEFAULT_HEARTBEAT_SECONDS = 10;

const processWarned = new Set<string>();

function defaultWarn(message: string): void {
  process.emitWarning(message, { type: "DeprecationWarning", code: "POSTAGE_DEPRECATED_ENV" });
}

function parseBoolean(value: string | undefined): boolean {
  return value !== undefined && /^(true|1|yes|on)$/i.test(value.trim());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function envPort(env: Environment): number | undefined {
  const text = nonEmpty(env["POSTAGE_PORT"]);
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text.trim()) || port < 1 || port > 65535) {
    throw new TransportError("INVALID_CONFIG", `POSTAGE_PORT="${text}" is not a port number (1-65535)`);
  }
  return port;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TransportError("INVALID_CONFIG", `port ${port} is not a port number (1-65535)`);
  }
  return port;
}

/** `amqp://user:***@host:port,host2:port/vhost`, the vhost percent-encoded. */
export function displayAmqpUrl(settings: { tls: unknown; user: string; hosts: readonly BrokerAddress[]; vhost: string }): string {
  const scheme = settings.tls ? "amqps" : "amqp";
  const hosts = settings.hosts.map((h) => `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`).join(",");
  return `${scheme}://${encodeURIComponent(settings.user)}:***@${hosts}/${encodeURIComponent(settings.vhost)}`;
}

/**
 * Resolves the connection settings from explicit `options` over the environment `env`:
 *
 * - address: `options.url`, else `options.host`/`options.port`, else `POSTAGE_URL`, else
 *   `POSTAGE_HOST` (localhost) and `POSTAGE_PORT` (5672, or 5671 with TLS);
 * - user and password: options, else the URL's, else `POSTAGE_USER`/`POSTAGE_PASSWORD`, else the
 *   deprecated `POSTAGE_RMQ_USER`/`POSTAGE_RMQ_PASSWORD` (a deprecation warning, once per
 *   process), else guest/guest;
 * - vhost: options, else the URL's path, else `POSTAGE_VHOST`, else `/`;
 * - debug: options, else `POSTAGE_DEBUG_MODE=true`.
 *
 * Pure apart from the deprecation warning: pass an `env` object in tests.
 *
 * @throws {TransportError} `INVALID_URL` or `INVALID_CONFIG`, naming the bad value (never a password).
 */
export function resolveConnectionSettings(options: ConnectionOptions = {}, env: Environment = process.env, hooks: ResolveHooks = {}): ConnectionSettings {
  const debug = options.debug ?? parseBoolean(env["POSTAGE_DEBUG_MODE"]);
  const url = options.url ?? (options.host === undefined ? nonEmpty(env["POSTAGE_URL"]) : undefined);
  const parsed = url === undefined ? undefined : parseBrokerUrl(url);
  if (parsed?.scheme === "memory") {
    return { transport: "memory", name: parsed.name, debug, displayUrl: `memory://${parsed.name}` };
  }

  const tlsWanted = options.tls === undefined ? parsed?.scheme === "amqps" : options.tls !== false;
  const tls: TlsOptions | null = tlsWanted ? (typeof options.tls === "object" ? { ...options.tls } : {}) : null;
  const defaultPort = tls ? 5671 : 5672;

  let hosts: BrokerAddress[];
  if (options.host !== undefined || parsed === undefined) {
    const port = options.port ?? (options.host === undefined ? envPort(env) : undefined) ?? defaultPort;
    hosts = [{ host: options.host ?? nonEmpty(env["POSTAGE_HOST"]) ?? "localhost", port: checkPort(port) }];
  } else {
    hosts = parsed.hosts.map((h) => ({ host: h.host, port: checkPort(options.port ?? h.port ?? defaultPort) }));
  }

  const warned = hooks.warned ?? processWarned;
  const warn = hooks.warn ?? defaultWarn;
  const deprecated = (name: "POSTAGE_RMQ_USER" | "POSTAGE_RMQ_PASSWORD", replacement: string): string | undefined => {
    const value = nonEmpty(env[name]);
    if (value !== undefined && !warned.has(name)) {
      warned.add(name);
      const ignored = nonEmpty(env[replacement]) !== undefined ? ` (ignored: ${replacement} is set)` : "";
      warn(`${name} is deprecated${ignored}; use ${replacement} instead`);
    }
    return value;
  };
  const oldUser = deprecated("POSTAGE_RMQ_USER", "POSTAGE_USER");
  const oldPassword = deprecated("POSTAGE_RMQ_PASSWORD", "POSTAGE_PASSWORD");
  const user = options.user ?? parsed?.user ?? nonEmpty(env["POSTAGE_USER"]) ?? oldUser ?? "guest";
  const password = options.password ?? parsed?.password ?? nonEmpty(env["POSTAGE_PASSWORD"]) ?? oldPassword ?? "guest";
  const vhost = options.vhost ?? parsed?.vhost ?? nonEmpty(env["POSTAGE_VHOST"]) ?? "/";
  const heartbeat = options.heartbeat ?? parsed?.heartbeat ?? DEFAULT_HEARTBEAT_SECONDS;

  const settings = { transport: "amqp" as const, hosts, vhost, user, password, tls, heartbeat, debug };
  return {
    ...settings,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    displayUrl: displayAmqpUrl(settings),
  };
}
