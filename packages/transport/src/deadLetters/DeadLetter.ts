import { createHash } from "node:crypto";
import { decodeMessage } from "@postage/core";
import { DEAD_LETTER_HEADERS } from "../Consumer.js";
import type { BrowsedMessage } from "../driver/QueueBrowser.js";

/** Who dead-lettered a message: a Postage consumer (a copy with `x-postage-*` headers) or RabbitMQ itself (`x-death`). */
export type DeadLetterSource = "postage" | "rabbitmq" | "unknown";

/**
 * One dead-lettered message as the `postage dlq` commands and the inspector show it. Plain JSON:
 * times are ISO strings, header values are made JSON-safe.
 */
export interface DeadLetter {
  /**
   * The message id when the message has one (Postage gives every message one), otherwise a hash of
   * its body and headers. A second message with the same id in the same queue gets `~2` appended
   * (then `~3`...), counted from the head of the queue, so ids are unique within a listing.
   */
  readonly id: string;
  /** 0-based place in the queue when it was listed. */
  readonly position: number;
  readonly messageId?: string;
  readonly source: DeadLetterSource;
  /** When it was dead-lettered (the last time, when it happened more than once), if recorded. */
  readonly deadLetteredAt?: string;
  /** When it was first published (the AMQP `timestamp` property), if set. */
  readonly publishedAt?: string;
  /** The exchange it was published to before it died (`""`: the default exchange): where a replay sends it. */
  readonly exchange: string;
  /** Its routing key then. */
  readonly routingKey: string;
  /** `x-postage-error` (`NOT_JSON`, `HANDLER_ERROR`, ...) or RabbitMQ's reason (`rejected`, `expired`, `maxlen`, `delivery_limit`). */
  readonly error: string;
  /** `x-postage-reason`, or a sentence made of the `x-death` record. */
  readonly reason: string;
  /** The queue it died in, when RabbitMQ dead-lettered it. */
  readonly queue?: string;
  /** Times it was dead-lettered (RabbitMQ's `x-death` counts; 1 for a Postage copy). */
  readonly deaths: number;
  /** Times it was replayed from a dead-letter queue already (`x-postage-replays`). */
  readonly replays: number;
  /** Taken from the queue before (a listing counts: RabbitMQ marks what it requeues). */
  readonly redelivered: boolean;
  /** Quorum queues' `x-delivery-count` (each listing adds one). */
  readonly deliveryCount?: number;
  readonly contentType?: string;
  /** Body size in bytes. */
  readonly size: number;
  /**
   * The start of the body: `command echo {"parameters":"hi"}` for a Postage message (type, name,
   * `(rpc)`, content), else the text itself, whitespace collapsed.
   */
  readonly preview: string;
  /** The whole body: UTF-8 text, or base64 when it is not valid UTF-8 (see {@link bodyEncoding}). */
  readonly body: string;
  readonly bodyEncoding: "utf8" | "base64";
  /** Every header, JSON-safe (dates as ISO strings, bytes as base64). */
  readonly headers: Readonly<Record<string, unknown>>;
}

/** Headers that describe a death, not the message: dropped from a replayed copy. */
export const DEATH_HEADERS: readonly string[] = [
  DEAD_LETTER_HEADERS.error,
  DEAD_LETTER_HEADERS.reason,
  DEAD_LETTER_HEADERS.exchange,
  DEAD_LETTER_HEADERS.routingKey,
  DEAD_LETTER_HEADERS.time,
  "x-death",
  "x-first-death-exchange",
  "x-first-death-queue",
  "x-first-death-reason",
  "x-last-death-exchange",
  "x-last-death-queue",
  "x-last-death-reason",
  "x-delivery-count",
];

/** Counts replays of a message (set on each replayed copy). */
export const REPLAYS_HEADER = "x-postage-replays";

/** How long {@link DeadLetter.preview} is at most, in characters. */
const PREVIEW_LENGTH = 120;

/** One record of RabbitMQ's `x-death` header. */
interface DeathRecord {
  count?: unknown;
  reason?: unknown;
  queue?: unknown;
  time?: unknown;
  exchange?: unknown;
  "routing-keys"?: unknown;
}

/**
 * Gives each message of a browse its {@link DeadLetter.id}: the same messages in the same order
 * always get the same ids, whichever operation browses them.
 * @internal
 */
export class DeadLetterIds {
  private readonly seen = new Map<string, number>();

  next(message: BrowsedMessage): string {
    const base = message.properties.messageId || contentHash(message);
    const n = (this.seen.get(base) ?? 0) + 1;
    this.seen.set(base, n);
    return n === 1 ? base : `${base}~${n}`;
  }
}

/** Where a dead letter came from: what a replay publishes to, and what the listing shows. @internal */
export interface Origin {
  exchange: string;
  routingKey: string;
}

/** Reads a browsed message as a {@link DeadLetter}. @internal */
export function readDeadLetter(message: BrowsedMessage, id: string): DeadLetter {
  const headers = message.properties.headers ?? {};
  const text = utf8OrUndefined(message.body);
  const origin = originOf(message);
  const deaths = deathRecords(headers);
  const postage = typeof headers[DEAD_LETTER_HEADERS.error] === "string";
  const first = firstDeath(headers, deaths);
  const count = deaths.reduce((sum, d) => sum + (typeof d.count === "number" ? d.count : 1), 0);
  const deadLetteredAt = postage ? isoTime(headers[DEAD_LETTER_HEADERS.time]) : isoTime(deaths[0]?.time);
  const publishedAt = message.properties.timestamp === undefined ? undefined : isoTime(message.properties.timestamp);
  const deliveryCount = headers["x-delivery-count"];
  const replays = headers[REPLAYS_HEADER];
  const letter: DeadLetter = {
    id,
    position: message.index,
    ...(message.properties.messageId ? { messageId: message.properties.messageId } : {}),
    source: postage ? "postage" : first !== undefined ? "rabbitmq" : "unknown",
    ...(deadLetteredAt !== undefined ? { deadLetteredAt } : {}),
    ...(publishedAt !== undefined ? { publishedAt } : {}),
    exchange: origin.exchange,
    routingKey: origin.routingKey,
    error: postage ? String(headers[DEAD_LETTER_HEADERS.error]) : first !== undefined ? String(first.reason ?? "unknown") : "unknown",
    reason: postage ? String(headers[DEAD_LETTER_HEADERS.reason] ?? "") : first !== undefined ? describeDeath(first, count) : "no dead-letter headers (published to this queue directly?)",
    ...(!postage && typeof first?.queue === "string" ? { queue: first.queue } : {}),
    deaths: postage ? 1 : count,
    replays: typeof replays === "number" ? replays : 0,
    redelivered: message.redelivered,
    ...(typeof deliveryCount === "number" ? { deliveryCount } : {}),
    ...(message.properties.contentType !== undefined ? { contentType: message.properties.contentType } : {}),
    size: message.body.byteLength,
    preview: previewOf(message, text),
    body: text ?? Buffer.from(message.body).toString("base64"),
    bodyEncoding: text === undefined ? "base64" : "utf8",
    headers: jsonSafe(headers) as Record<string, unknown>,
  };
  return letter;
}

/**
 * The exchange and routing key a dead letter was published to before it died: the
 * `x-original-*` headers of a Postage copy, else RabbitMQ's first death (`x-first-death-exchange`
 * and the routing key of that `x-death` record), else where it sits now.
 * @internal
 */
export function originOf(message: BrowsedMessage): Origin {
  const headers = message.properties.headers ?? {};
  const exchange = headers[DEAD_LETTER_HEADERS.exchange];
  const routingKey = headers[DEAD_LETTER_HEADERS.routingKey];
  if (typeof headers[DEAD_LETTER_HEADERS.error] === "string" && typeof exchange === "string" && typeof routingKey === "string") return { exchange, routingKey };
  const first = firstDeath(headers, deathRecords(headers));
  if (first !== undefined) {
    const keys = Array.isArray(first["routing-keys"]) ? first["routing-keys"] : [];
    const firstExchange = headers["x-first-death-exchange"] ?? first.exchange;
    return { exchange: typeof firstExchange === "string" ? firstExchange : "", routingKey: typeof keys[0] === "string" ? keys[0] : message.routingKey };
  }
  return { exchange: message.exchange, routingKey: message.routingKey };
}

function deathRecords(headers: Record<string, unknown>): DeathRecord[] {
  const deaths = headers["x-death"];
  return Array.isArray(deaths) ? deaths.filter((d): d is DeathRecord => typeof d === "object" && d !== null) : [];
}

/** The `x-death` record of the first death (RabbitMQ lists the most recent first). */
function firstDeath(headers: Record<string, unknown>, deaths: DeathRecord[]): DeathRecord | undefined {
  const queue = headers["x-first-death-queue"];
  const reason = headers["x-first-death-reason"];
  return deaths.find((d) => d.queue === queue && d.reason === reason) ?? deaths.at(-1);
}

function describeDeath(death: DeathRecord, count: number): string {
  const why: Record<string, string> = {
    rejected: "rejected by a consumer without requeue",
    expired: "its TTL expired",
    maxlen: "the queue was over its length limit",
    delivery_limit: "delivered more times than the queue's x-delivery-limit",
  };
  const reason = String(death.reason ?? "unknown");
  const times = count > 1 ? ` (dead-lettered ${count} times)` : "";
  return `RabbitMQ dead-lettered it from queue "${String(death.queue ?? "?")}": ${why[reason] ?? reason}${times}`;
}

/** An AMQP time as ISO: a Date, epoch seconds (AMQP timestamps) or epoch milliseconds. */
function isoTime(value: unknown): string | undefined {
  let ms: number | undefined;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "number" && Number.isFinite(value)) ms = value < 1e11 ? value * 1000 : value;
  else if (typeof value === "bigint") ms = Number(value) < 1e11 ? Number(value) * 1000 : Number(value);
  return ms === undefined || Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function utf8OrUndefined(body: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    // Not UTF-8: the caller shows it as base64 instead.
    return undefined;
  }
}

function previewOf(message: BrowsedMessage, text: string | undefined): string {
  const { contentType, contentEncoding } = message.properties;
  const decoded = decodeMessage(message.body, { ...(contentType !== undefined ? { contentType } : {}), ...(contentEncoding !== undefined ? { contentEncoding } : {}) });
  const shown = decoded.ok
    ? `${decoded.body.type} ${decoded.body.name}${decoded.body.category === "rpc" ? " (rpc)" : ""} ${JSON.stringify(decoded.body.content)}`
    : (text ?? Buffer.from(message.body).toString("latin1"));
  const flat = shown.replace(/\s+/g, " ").trim();
  return flat.length > PREVIEW_LENGTH ? `${flat.slice(0, PREVIEW_LENGTH - 1)}…` : flat;
}

function contentHash(message: BrowsedMessage): string {
  const hash = createHash("sha256");
  hash.update(message.body);
  // Not x-delivery-count: a quorum queue raises it at every listing, and the id must not move.
  const { "x-delivery-count": _count, ...headers } = message.properties.headers ?? {};
  hash.update(JSON.stringify(jsonSafe(headers)));
  hash.update(String(message.properties.timestamp ?? ""));
  return `sha-${hash.digest("hex").slice(0, 12)}`;
}

/** A header value as JSON: dates as ISO strings, bytes as base64, bigints as strings. */
function jsonSafe(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  // fromEntries defines own properties: a "__proto__" header stays a plain key.
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, jsonSafe(inner)]));
  return value;
}
