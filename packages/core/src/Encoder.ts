import { Buffer, isAscii, isUtf8 } from "node:buffer";
import { DecodeError } from "./errors.js";
import type { MessageBody } from "./Message.js";
import { utf8Bytes } from "./utf8Slab.js";

/**
 * Turns message bodies into bytes and back. JSON is the default; a component can swap in its own
 * (every component it talks to must use the same one).
 */
export interface Encoder {
  /** The AMQP `content_type` published with each message, e.g. `application/json`. */
  readonly contentType: string;
  /** Encodes a body. */
  encode(body: MessageBody): Uint8Array;
  /**
   * Decodes bytes into a value (validated afterwards by {@link decodeMessage}).
   * Should throw {@link DecodeError} for bytes it cannot read; other errors are wrapped as `UNDECODABLE`.
   */
  decode(bytes: Uint8Array): unknown;
}

/** The default encoder: UTF-8 JSON, content type `application/json`, as Python Postage's `JsonEncoder`. */
export class JsonEncoder implements Encoder {
  readonly contentType = "application/json";

  encode(body: MessageBody): Uint8Array {
    // Buffer writes are markedly faster than TextEncoder for the small bodies messages are.
    return utf8Bytes(JSON.stringify(body));
  }

  /** @throws {DecodeError} `NOT_UTF8` or `NOT_JSON`. */
  decode(bytes: Uint8Array): unknown {
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let text: string;
    // Bodies are nearly always ASCII: checked (SIMD) then read as Latin-1, which for ASCII is the
    // same text and a cheaper copy than UTF-8 decoding. Else isUtf8 + a UTF-8 read: several times
    // faster than a fatal TextDecoder, and as strict (overlong forms, surrogates, truncations refused).
    if (isAscii(buffer)) text = buffer.toString("latin1");
    else if (isUtf8(buffer)) text = buffer.toString("utf8");
    else throw new DecodeError("NOT_UTF8", "body is not valid UTF-8 text");
    try {
      // JSON.parse defines "__proto__" as an own property, so hostile keys cannot reach a prototype.
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new DecodeError("NOT_JSON", `body is not JSON: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** The shared default {@link JsonEncoder}. */
export const jsonEncoder: Encoder = new JsonEncoder();
