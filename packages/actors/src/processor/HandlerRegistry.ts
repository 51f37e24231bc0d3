import type { Message } from "@postage/core";
import type { HandlerDefinition, ProcessorHandle } from "../handlers/HandlerDefinition.js";

/** Handlers are keyed by category, type and name, as in the seed. */
const key = (category: string, type: string, name: string): string => `${category}\u0000${type}\u0000${name}`;

/** A processor's handlers by category (`message` or `rpc`), message type and name. @internal */
export class HandlerRegistry<P extends ProcessorHandle> {
  private readonly byKey = new Map<string, HandlerDefinition<P>[]>();

  /** Adds a handler after those already registered for its category, type and name. */
  add(handler: HandlerDefinition<P>): void {
    const handlerKey = key(handler.rpc ? "rpc" : "message", handler.type, handler.name);
    const list = this.byKey.get(handlerKey);
    if (list) list.push(handler);
    else this.byKey.set(handlerKey, [handler]);
  }

  /** The handlers for `message`, in the order added; undefined when there are none. */
  for(message: Message): readonly HandlerDefinition<P>[] | undefined {
    return this.byKey.get(key(message.category, message.type, message.name));
  }
}
