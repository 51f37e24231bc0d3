import { Message } from "./Message.js";

/** A status broadcast (e.g. `"online"`): the status is the message's name, as Python's `MessageStatus`. */
export class StatusMessage extends Message {
  constructor(status: string) {
    super({ type: "status", name: status });
  }

  /** The status this message announces. */
  get status(): string {
    return this.name;
  }
}
