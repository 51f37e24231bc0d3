import type { Message } from "@postage/core";
import type { HandlerDefinition, ProcessorHandle } from "../handlers/HandlerDefinition.js";

/** The handlers of one category, type and name. */
interface Entry<P extends ProcessorHandle> {
  readonly category: string;
  readonly type: string;
  readonly list: HandlerDefinition<P>[];
}

/**
 * A processor's handlers by category (`message` or `rpc`), message type and name, as in the seed.
 * Looked up by name, then by category and type among the few entries sharing it: no key string is
 * built per delivery. @internal
 */
export class HandlerRegistry<P extends ProcessorHandle> {
  private readonly byName = new Map<string, Entry<P>[]>();

  /** Adds a handler after those already registered for its category, type and name. */
  add(handler: HandlerDefinition<P>): void {
    const category = handler.rpc ? "rpc" : "message";
    let entries = this.byName.get(handler.name);
    if (entries === undefined) {
      entries = [];
      this.byName.set(handler.name, entries);
    }
    const entry = entries.find((candidate) => candidate.category === category && candidate.type === handler.type);
    if (entry) entry.list.push(handler);
    else entries.push({ category, type: handler.type, list: [handler] });
  }

  /** The handlers for `message`, in the order added; undefined when there are none. */
  for(message: Message): readonly HandlerDefinition<P>[] | undefined {
    const entries = this.byName.get(message.name);
    if (entries === undefined) return undefined;
    for (const entry of entries) if (entry.category === message.category && entry.type === message.type) return entry.list;
    return undefined;
  }
}
