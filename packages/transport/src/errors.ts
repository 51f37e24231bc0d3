import { PostageError } from "@postage/core";

/** Why a transport operation failed. Stable strings: branch on them, do not parse messages. */
export type TransportErrorCode =
  /** Nothing listens on the broker's host and port (TCP connection refused). */
  | "CONNECTION_REFUSED"
  /** The broker's host cannot be reached: unknown host, no route, connection timed out. */
  | "UNREACHABLE"
  /** The broker refused the login (user/password) or the user may not use the vhost. */
  | "ACCESS_REFUSED"
  /** The vhost does not exist. */
  | "VHOST_NOT_FOUND"
  | "EXCHANGE_NOT_FOUND"
  | "QUEUE_NOT_FOUND"
  /** A declaration differs from the existing entity (durable, type, arguments...), or another precondition. */
  | "PRECONDITION_FAILED"
  /** An exclusive queue owned by another connection. */
  | "RESOURCE_LOCKED"
  /** A mandatory message that no queue received (the broker returned it). */
  | "UNROUTABLE"
  /** The broker did not take the message (negative confirm, channel closed before the confirm). */
  | "PUBLISH_FAILED"
  | "TIMEOUT"
  /** The driver, publisher, consumer or channel is closed. */
  | "CLOSED"
  /** The connection was lost while the operation was in flight (it is re-established in the background). */
  | "CONNECTION_LOST"
  | "INVALID_URL"
  /** A setting that is not a URL is invalid (a port that is not a number, ...). */
  | "INVALID_CONFIG"
  /** The TLS handshake failed (certificate, hostname, TLS spoken to a plain port, ...). */
  | "TLS"
  /** A send with no destination: no exchange/routing key given and no default (producer layer). */
  | "NO_ROUTE"
  /** A reply to a request that carries no `replyTo` (RPC layer). */
  | "NO_REPLY_TO"
  /** A delivery or reply handler threw; its message was dead-lettered (or the reply dropped). */
  | "HANDLER_FAILED"
  /** Any other error the broker reported. */
  | "BROKER_ERROR"
  /** The installed rabbitmq-client is not the exact version (or shape) whose internals the driver patches: install the pinned one. */
  | "UNSUPPORTED_CLIENT";

/** Facts about what failed, kept on the error for programs (never a password). */
export interface TransportErrorDetails {
  host?: string;
  port?: number;
  user?: string;
  vhost?: string;
  exchange?: string;
  routingKey?: string;
  queue?: string;
  /** The broker's own reply code name, e.g. `"NOT_FOUND"`, or a socket error code such as `"ECONNREFUSED"`. */
  brokerCode?: string;
  cause?: unknown;
}

/**
 * Base of every error `@postage/transport` throws. `code` says what went wrong; the message
 * says what to fix. Details (host, user, exchange, ...) are available as properties.
 */
export class TransportError extends PostageError {
  declare readonly code: TransportErrorCode;
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly vhost?: string;
  readonly exchange?: string;
  readonly routingKey?: string;
  readonly queue?: string;
  readonly brokerCode?: string;

  constructor(code: TransportErrorCode, message: string, details: TransportErrorDetails = {}) {
    const { cause, ...facts } = details;
    super(code, message, cause === undefined ? undefined : { cause });
    for (const [key, value] of Object.entries(facts)) {
      if (value !== undefined) Object.defineProperty(this, key, { value, enumerable: true });
    }
  }
}

/** What the failing operation was about; used to name things in error messages. */
export interface ErrorContext {
  /** The host and port being connected to (several for a cluster). */
  hosts?: ReadonlyArray<{ host: string; port: number }>;
  user?: string;
  vhost?: string;
  exchange?: string;
  routingKey?: string;
  queue?: string;
  /** A few words on what was being done, e.g. `"declaring queue \"jobs\""`. */
  operation?: string;
}

const TLS_CODES = new Set([
  "EPROTO",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_HANDSHAKE_TIMEOUT",
]);

const UNREACHABLE_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "CONNECTION_TIMEOUT", "SOCKET_TIMEOUT"]);

const LOST_CODES = new Set(["CONN_CLOSE", "CONNECTION_FORCED", "ECONNRESET", "EPIPE", "CH_CLOSE", "RPC_CLOSED", "READ_END", "CHANNEL_ERROR"]);

function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function where(context: ErrorContext): string {
  const hosts = context.hosts ?? [];
  return hosts.length === 0 ? "the broker" : hosts.map((h) => `${h.host}:${h.port}`).join(", ");
}

function firstHost(context: ErrorContext): { host?: string; port?: number } {
  const first = context.hosts?.[0];
  return first ? { host: first.host, port: first.port } : {};
}

/** Extracts the quoted name after `what` in a broker reply such as `no exchange 'x' in vhost '/'`. */
function quotedAfter(text: string, what: string): string | undefined {
  const match = new RegExp(`${what} '(.*)' in vhost`).exec(text);
  return match?.[1];
}

/**
 * Turns an error from rabbitmq-client (AMQPConnectionError, AMQPChannelError, AMQPError) or
 * from the socket (ECONNREFUSED, TLS, ...) into a {@link TransportError} whose message says what
 * to fix. A {@link TransportError} is returned unchanged. The original error is kept as `cause`.
 * Credentials never appear in the result: only the user name and vhost are named.
 */
export function toTransportError(err: unknown, context: ErrorContext = {}): TransportError {
  if (err instanceof TransportError) return err;
  const code = errorCode(err) ?? "";
  const text = errorText(err);
  const base = { cause: err, brokerCode: code || undefined };
  const doing = context.operation ? ` while ${context.operation}` : "";

  switch (code) {
    case "ECONNREFUSED":
      return new TransportError(
        "CONNECTION_REFUSED",
        `cannot connect to RabbitMQ at ${where(context)}: connection refused. Is the broker running, and are POSTAGE_HOST/POSTAGE_PORT (or POSTAGE_URL) right?`,
        { ...base, ...firstHost(context) },
      );
    case "ACCESS_REFUSED": {
      if (/login was refused/i.test(text) || /ConnectionStart/i.test(text)) {
        return new TransportError(
          "ACCESS_REFUSED",
          `RabbitMQ at ${where(context)} refused the login of user "${context.user ?? "?"}" (vhost "${context.vhost ?? "/"}"): check POSTAGE_USER and POSTAGE_PASSWORD`,
          { ...base, ...firstHost(context), user: context.user, vhost: context.vhost },
        );
      }
      return new TransportError(
        "ACCESS_REFUSED",
        `user "${context.user ?? "?"}" may not do this in vhost "${context.vhost ?? "/"}"${doing}: ${stripPrefix(text)}. Grant the permission (rabbitmqctl set_permissions) or use another user`,
        { ...base, user: context.user, vhost: context.vhost, exchange: context.exchange, queue: context.queue },
      );
    }
    case "NOT_ALLOWED":
      if (/vhost .* not found/i.test(text)) {
        return new TransportError(
          "VHOST_NOT_FOUND",
          `vhost "${context.vhost ?? "?"}" does not exist on RabbitMQ at ${where(context)}: create it (rabbitmqctl add_vhost) or fix POSTAGE_VHOST`,
          { ...base, ...firstHost(context), user: context.user, vhost: context.vhost },
        );
      }
      return new TransportError(
        "ACCESS_REFUSED",
        `user "${context.user ?? "?"}" may not open vhost "${context.vhost ?? "/"}" on ${where(context)}: ${stripPrefix(text)}. Grant access (rabbitmqctl set_permissions -p <vhost> <user> ...) or fix POSTAGE_VHOST`,
        { ...base, ...firstHost(context), user: context.user, vhost: context.vhost },
      );
    case "NOT_FOUND": {
      const exchange = quotedAfter(text, "no exchange");
      if (exchange !== undefined) {
        return new TransportError(
          "EXCHANGE_NOT_FOUND",
          `exchange "${exchange}" does not exist in vhost "${context.vhost ?? "/"}"${doing}: declare it first (or check its name)`,
          { ...base, exchange, vhost: context.vhost, routingKey: context.routingKey },
        );
      }
      const queue = quotedAfter(text, "no queue");
      if (queue !== undefined) {
        return new TransportError(
          "QUEUE_NOT_FOUND",
          `queue "${queue}" does not exist in vhost "${context.vhost ?? "/"}"${doing}: declare it first (or check its name)`,
          { ...base, queue, vhost: context.vhost },
        );
      }
      return new TransportError("BROKER_ERROR", `not found${doing}: ${stripPrefix(text)}`, base);
    }
    case "PRECONDITION_FAILED": {
      // RabbitMQ says "inequivalent arg" when a declaration differs; its other preconditions (a
      // stream consumer without prefetch, an unknown delivery tag...) need no such advice.
      const hint = /inequivalent arg/.test(text) ? ". An existing entity was declared with other settings: delete it or declare it the same way" : "";
      return new TransportError("PRECONDITION_FAILED", `RabbitMQ refused${doing || " the operation"}: ${stripPrefix(text)}${hint}`, {
        ...base,
        exchange: context.exchange,
        queue: context.queue,
      });
    }
    case "RESOURCE_LOCKED":
      return new TransportError(
        "RESOURCE_LOCKED",
        `RabbitMQ refused${doing || " the operation"}: ${stripPrefix(text)}. The queue is exclusive to another connection`,
        { ...base, queue: context.queue },
      );
    case "NACK":
      return new TransportError(
        "PUBLISH_FAILED",
        `RabbitMQ did not accept the message${messageTarget(context)} (negative confirm): it may be out of resources or a queue rejected it (x-overflow reject-publish); retry later`,
        { ...base, exchange: context.exchange, routingKey: context.routingKey },
      );
    case "TIMEOUT":
    case "RPC_TIMEOUT":
      return new TransportError("TIMEOUT", `timed out${doing}: ${text}`, { ...base, ...firstHost(context) });
    case "CLOSING":
    case "CLOSED":
      return new TransportError("CLOSED", `the connection to ${where(context)} is closed${doing}`, base);
    case "VERSION_MISMATCH":
      return new TransportError("BROKER_ERROR", `${where(context)} does not speak AMQP 0-9-1: ${text}. Is it a RabbitMQ port?`, { ...base, ...firstHost(context) });
    default:
      break;
  }
  if (TLS_CODES.has(code) || /ssl|tls|certificate/i.test(text)) {
    return new TransportError(
      "TLS",
      `TLS connection to ${where(context)} failed: ${text}. Check the CA/certificate options, the server name, and that the port speaks TLS (amqps, usually 5671)`,
      { ...base, ...firstHost(context) },
    );
  }
  if (UNREACHABLE_CODES.has(code)) {
    return new TransportError(
      "UNREACHABLE",
      `cannot reach RabbitMQ at ${where(context)} (${code}: ${text}). Check the host name, the network, and POSTAGE_HOST/POSTAGE_PORT (or POSTAGE_URL)`,
      { ...base, ...firstHost(context) },
    );
  }
  if (LOST_CODES.has(code)) {
    return new TransportError(
      "CONNECTION_LOST",
      `the connection to RabbitMQ at ${where(context)} was lost${doing} (${code}: ${text}); it is being re-established, retry`,
      { ...base, ...firstHost(context) },
    );
  }
  return new TransportError("BROKER_ERROR", `RabbitMQ error${doing}: ${code ? `${code}: ` : ""}${text}`, base);
}

function messageTarget(context: ErrorContext): string {
  if (context.exchange === undefined) return "";
  return ` for exchange "${context.exchange}" with routing key "${context.routingKey ?? ""}"`;
}

/** Keeps the broker's own words: drops `"consumer setup failed; Method: CODE - "` and the like. */
function stripPrefix(text: string): string {
  return text.replace(/^.*?\b[A-Z][A-Z_]+ - /, "");
}
