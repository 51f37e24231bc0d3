import type { ExchangeType } from "@postage/core";
import type { MemoryQueue } from "./MemoryQueue.js";
import { topicMatches, topicWords } from "./topic.js";

/** One binding of a queue to an exchange. @internal */
export interface MemoryBinding {
  readonly queue: MemoryQueue;
  readonly routingKey: string;
  readonly arguments: Record<string, unknown> | undefined;
  /** Binding-identity key for the arguments (RabbitMQ tells bindings apart by them too). */
  readonly argsKey: string;
  /** The key split into words (topic exchanges). */
  readonly words: readonly string[];
}

const NO_QUEUES: readonly MemoryQueue[] = Object.freeze([]);
/** Topic route caches are cleared past this many distinct keys, so random keys cannot grow memory without bound. */
const TOPIC_CACHE_LIMIT = 10_000;

/**
 * An exchange of the in-memory broker: its bindings and how it routes.
 * Direct and fanout exchanges keep precomputed queue lists and topic exchanges cache their
 * answer per routing key, so routing a message usually allocates nothing.
 * @internal
 */
export class MemoryExchange {
  readonly bindings: MemoryBinding[] = [];
  /** Set once a binding was added: auto-delete exchanges go only after having had one. */
  hadBindings = false;
  private readonly byKey = new Map<string, MemoryQueue[]>();
  private fanout: MemoryQueue[] = [];
  private readonly topicCache = new Map<string, readonly MemoryQueue[]>();

  constructor(
    readonly name: string,
    readonly type: ExchangeType,
    readonly durable: boolean,
    readonly autoDelete: boolean,
    readonly args: Record<string, unknown> | undefined,
  ) {}

  /** Adds a binding; false when the same one already exists (bindings are idempotent). */
  bind(queue: MemoryQueue, routingKey: string, args: Record<string, unknown> | undefined): boolean {
    const argsKey = argumentsKey(args);
    if (this.find(queue, routingKey, argsKey) >= 0) return false;
    this.bindings.push({ queue, routingKey, arguments: args, argsKey, words: topicWords(routingKey) });
    this.hadBindings = true;
    this.reindex();
    return true;
  }

  /** Removes a binding; false when there was none. */
  unbind(queue: MemoryQueue, routingKey: string, args: Record<string, unknown> | undefined): boolean {
    const index = this.find(queue, routingKey, argumentsKey(args));
    if (index < 0) return false;
    this.bindings.splice(index, 1);
    this.reindex();
    return true;
  }

  /** Removes every binding to `queue` (it was deleted); true when there was any. */
  removeQueue(queue: MemoryQueue): boolean {
    const before = this.bindings.length;
    for (let i = this.bindings.length - 1; i >= 0; i--) {
      if (this.bindings[i]?.queue === queue) this.bindings.splice(i, 1);
    }
    if (this.bindings.length === before) return false;
    this.reindex();
    return true;
  }

  /** The queues a message goes to, each once. The returned array must not be modified. */
  route(routingKey: string, headers: Record<string, unknown> | undefined): readonly MemoryQueue[] {
    switch (this.type) {
      case "direct":
        return this.byKey.get(routingKey) ?? NO_QUEUES;
      case "fanout":
        return this.fanout;
      case "topic": {
        let queues = this.topicCache.get(routingKey);
        if (queues === undefined) {
          queues = this.matchTopic(routingKey);
          if (this.topicCache.size >= TOPIC_CACHE_LIMIT) this.topicCache.clear();
          this.topicCache.set(routingKey, queues);
        }
        return queues;
      }
      case "headers": {
        const queues: MemoryQueue[] = [];
        for (const binding of this.bindings) {
          if (headersMatch(binding.arguments, headers) && !queues.includes(binding.queue)) queues.push(binding.queue);
        }
        return queues;
      }
    }
  }

  private matchTopic(routingKey: string): readonly MemoryQueue[] {
    const words = topicWords(routingKey);
    const queues: MemoryQueue[] = [];
    for (const binding of this.bindings) {
      if (!queues.includes(binding.queue) && topicMatches(binding.words, words)) queues.push(binding.queue);
    }
    return queues.length === 0 ? NO_QUEUES : queues;
  }

  private find(queue: MemoryQueue, routingKey: string, argsKey: string): number {
    return this.bindings.findIndex((b) => b.queue === queue && b.routingKey === routingKey && b.argsKey === argsKey);
  }

  private reindex(): void {
    this.topicCache.clear();
    // Rebuilt rather than patched: bindings change rarely, messages are routed all the time.
    this.byKey.clear();
    const fanout: MemoryQueue[] = [];
    for (const { queue, routingKey } of this.bindings) {
      let queues = this.byKey.get(routingKey);
      if (queues === undefined) this.byKey.set(routingKey, (queues = []));
      if (!queues.includes(queue)) queues.push(queue);
      if (!fanout.includes(queue)) fanout.push(queue);
    }
    this.fanout = fanout;
  }
}

function argumentsKey(args: Record<string, unknown> | undefined): string {
  if (args === undefined) return "";
  const keys = Object.keys(args).sort();
  return keys.length === 0 ? "" : JSON.stringify(keys.map((k) => [k, args[k]]));
}

/**
 * Headers-exchange matching: `x-match` is `all` (default), `any`, `all-with-x` or `any-with-x`;
 * other `x-` binding arguments are ignored unless a `-with-x` mode is used. A binding argument
 * whose value is `null` or `undefined` only asks for the header to be present.
 */
export function headersMatch(bindingArgs: Record<string, unknown> | undefined, headers: Record<string, unknown> | undefined): boolean {
  const mode = bindingArgs?.["x-match"];
  const any = mode === "any" || mode === "any-with-x";
  const withX = mode === "all-with-x" || mode === "any-with-x";
  if (bindingArgs === undefined) return !any;
  for (const key of Object.keys(bindingArgs)) {
    if (key === "x-match" || (!withX && key.startsWith("x-"))) continue;
    const matched = headers !== undefined && Object.hasOwn(headers, key) && valueMatches(bindingArgs[key], headers[key]);
    if (any && matched) return true;
    if (!any && !matched) return false;
  }
  return !any;
}

function valueMatches(expected: unknown, actual: unknown): boolean {
  if (expected === null || expected === undefined) return true;
  if (expected === actual) return true;
  if (typeof expected === "object" && typeof actual === "object" && actual !== null) {
    return JSON.stringify(expected) === JSON.stringify(actual);
  }
  return false;
}
