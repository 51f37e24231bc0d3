import { Message } from "./Message.js";

/**
 * A free-form message (type and name `"none"`): positional arguments go to `content.args`,
 * keyword arguments to `content.kwds`, as Python's `Message(*args, **kwds)`.
 */
export class GenericMessage extends Message {
  constructor(args: unknown[] = [], kwds: Record<string, unknown> = {}) {
    super({ type: "none", name: "none", content: { args, kwds } });
  }

  get args(): unknown[] {
    return Array.isArray(this.content.args) ? this.content.args : [];
  }

  get kwds(): Record<string, unknown> {
    const kwds = this.content.kwds;
    return typeof kwds === "object" && kwds !== null && !Array.isArray(kwds) ? (kwds as Record<string, unknown>) : {};
  }
}
