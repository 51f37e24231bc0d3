import { Fingerprint, type FingerprintDict } from "./Fingerprint.js";
import { jsonEqual } from "./jsonEqual.js";

/** `message` for fire-and-forget, `rpc` for a request that expects a reply. */
export type MessageCategory = "message" | "rpc";

/** The wire body of every Postage message (protocol version 2), as Python Postage 1.2.1 sends it. */
export interface MessageBody {
  type: string;
  name: string;
  category: MessageCategory;
  version: "2";
  fingerprint: Record<string, unknown>;
  content: Record<string, unknown>;
  _reserved: Record<string, unknown>;
}

/** The fields a {@link Message} is built from. */
export interface MessageInit {
  type: string;
  name: string;
  /** @default "message" */
  category?: MessageCategory;
  /** @default {} */
  fingerprint?: Record<string, unknown>;
  /** @default {} */
  content?: Record<string, unknown>;
  /** @default {} */
  reserved?: Record<string, unknown>;
}

/**
 * A Postage message: a type (free text; `command`, `status` and `result` are predefined), a name,
 * a category, the sender's fingerprint and a content object. Subclasses give the predefined kinds.
 */
export class Message {
  type: string;
  name: string;
  category: MessageCategory;
  fingerprint: Record<string, unknown>;
  content: Record<string, unknown>;
  /** The `_reserved` key of the body, kept for compatibility; Postage itself leaves it empty. */
  reserved: Record<string, unknown>;

  constructor(init: MessageInit) {
    this.type = init.type;
    this.name = init.name;
    this.category = init.category ?? "message";
    this.fingerprint = init.fingerprint ?? {};
    this.content = init.content ?? {};
    this.reserved = init.reserved ?? {};
  }

  /** Stamps the sender's fingerprint onto the message and returns the message. */
  stamp(fingerprint: Fingerprint | FingerprintDict): this {
    this.fingerprint = fingerprint instanceof Fingerprint ? fingerprint.toDict() : { ...fingerprint };
    return this;
  }

  /**
   * Truthiness of the message, as Python Postage defines it: `false` only for error and
   * exception results.
   */
  get ok(): boolean {
    return true;
  }

  /** The wire body (a fresh object; its nested values are shared with the message). */
  toBody(): MessageBody {
    return {
      type: this.type,
      name: this.name,
      category: this.category,
      version: "2",
      fingerprint: this.fingerprint,
      content: this.content,
      _reserved: this.reserved,
    };
  }

  /** Two messages are equal when their bodies are (key order ignored). */
  equals(other: Message): boolean {
    return jsonEqual(this.toBody(), other.toBody());
  }
}
