import { TransportError } from "../errors.js";
import { redactUrl } from "./redactUrl.js";

/** One node of the broker (or of a cluster). */
export interface BrokerAddress {
  host: string;
  port: number;
}

/** What a broker URL says; fields it does not give are left out. */
export type ParsedBrokerUrl =
  | {
      scheme: "amqp" | "amqps";
      /** Nodes in the order given; `port` is missing when the URL gives none. */
      hosts: Array<{ host: string; port?: number }>;
      user?: string;
      password?: string;
      /** Missing when the URL has no path (`amqp://host`); `/` for `amqp://host/%2F`. */
      vhost?: string;
      /** `?heartbeat=` in seconds. */
      heartbeat?: number;
    }
  | { scheme: "memory"; name: string };

const AMQP_URL = /^(amqps?):\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i;

function invalid(url: string, why: string): TransportError {
  return new TransportError("INVALID_URL", `invalid broker URL "${redactUrl(url)}": ${why}. Expected amqp://user:password@host:port/vhost, amqps://..., or memory://name`);
}

function decode(url: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(url, `the ${what} is not valid percent-encoding`);
  }
}

function parsePort(url: string, text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw invalid(url, `port "${text}" is not a number between 1 and 65535`);
  return port;
}

/** Parses `host`, `host:port`, `[v6]` or `[v6]:port`. */
function parseHost(url: string, text: string): { host: string; port?: number } {
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6) {
    const host = v6[1] ?? "";
    return v6[2] === undefined ? { host } : { host, port: parsePort(url, v6[2]) };
  }
  const colon = text.lastIndexOf(":");
  const host = colon === -1 ? text : text.slice(0, colon);
  if (host === "" || /[\s/@]/.test(host)) throw invalid(url, `"${text}" is not a host name`);
  return colon === -1 ? { host } : { host, port: parsePort(url, text.slice(colon + 1)) };
}

function parseOne(url: string): ParsedBrokerUrl {
  const trimmed = url.trim();
  const memory = /^memory:\/\/([^/?#]*)\/?$/i.exec(trimmed);
  if (memory) return { scheme: "memory", name: decode(url, memory[1] ?? "", "name") || "default" };
  const match = AMQP_URL.exec(trimmed);
  if (!match) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) && !/^amqps?:/i.test(trimmed)) throw invalid(url, "the scheme must be amqp, amqps or memory");
    throw invalid(url, "it is not of the form scheme://[user[:password]@]host[:port][,host[:port]...][/vhost]");
  }
  const [, scheme = "amqp", userinfo, authority = "", path, query] = match;
  if (authority === "") throw invalid(url, "it names no host");
  const hosts = authority.split(",").map((h) => parseHost(url, h.trim()));
  const result: ParsedBrokerUrl = { scheme: scheme.toLowerCase() as "amqp" | "amqps", hosts };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    result.user = decode(url, colon === -1 ? userinfo : userinfo.slice(0, colon), "user name");
    if (colon !== -1) result.password = decode(url, userinfo.slice(colon + 1), "password");
  }
  if (path !== undefined && path.length > 1) {
    const rest = path.slice(1);
    if (rest.includes("/")) throw invalid(url, `the vhost must be one path segment; write "/" as %2F`);
    result.vhost = decode(url, rest, "vhost");
  }
  if (query !== undefined) {
    const heartbeat = new URLSearchParams(query.slice(1)).get("heartbeat");
    if (heartbeat !== null) {
      const seconds = Number(heartbeat);
      if (!Number.isFinite(seconds) || seconds < 0) throw invalid(url, `heartbeat "${heartbeat}" is not a number of seconds`);
      result.heartbeat = seconds;
    }
  }
  return result;
}

/**
 * Parses a broker URL: `amqp://user:password@host:port/vhost`, `amqps://...`, `memory://name`.
 * A cluster is given either as several hosts in one URL (`amqp://u:p@node1,node2:5673/vhost`) or
 * as comma-separated URLs (`amqp://u:p@node1/v,amqp://u:p@node2/v`), which must then agree on
 * scheme, credentials and vhost. The vhost is percent-decoded (`%2F` is `/`).
 *
 * @throws {TransportError} `INVALID_URL`, with the password redacted from the message.
 */
export function parseBrokerUrl(url: string): ParsedBrokerUrl {
  const parts = url.split(/,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i);
  const parsed = parts.map(parseOne);
  const [first, ...others] = parsed;
  if (first === undefined) throw invalid(url, "it is empty");
  if (first.scheme === "memory") {
    if (others.length > 0) throw invalid(url, "a memory:// broker cannot be part of a cluster");
    return first;
  }
  for (const other of others) {
    if (other.scheme === "memory" || other.scheme !== first.scheme) throw invalid(url, "all URLs of a cluster must use the same scheme");
    if (other.user !== first.user || other.password !== first.password || other.vhost !== first.vhost) {
      throw invalid(url, "all URLs of a cluster must have the same user, password and vhost");
    }
    first.hosts.push(...other.hosts);
  }
  return first;
}
