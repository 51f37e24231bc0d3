import { jsonEncoder, type Encoder } from "./Encoder.js";
import { DecodeError } from "./errors.js";
import type { Message, MessageBody } from "./Message.js";
import { messageFromBody } from "./messageFromBody.js";

/** Options of {@link decodeMessage}. */
export interface DecodeOptions {
  /** @default jsonEncoder */
  encoder?: Encoder;
  /** Bodies larger than this are refused with `TOO_LARGE`. @default 1_048_576 (1 MiB) */
  maxBytes?: number;
  /** The delivery's AMQP content type; when given it must match the encoder's (absent is accepted: Python replies carry none). */
  contentType?: string;
  /** The delivery's AMQP content encoding; only identity encodings are accepted. */
  contentEncoding?: string;
}

/** The outcome of {@link decodeMessage}: a message, or the reason there is none. */
export type DecodeOutcome = { ok: true; message: Message; body: MessageBody } | { ok: false; error: DecodeError };

/** The default largest body {@link decodeMessage} accepts: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

const IDENTITY_ENCODINGS = new Set(["", "identity", "utf-8", "utf8"]);

/**
 * Decodes incoming bytes into a typed message. Never throws: anything wrong (empty, oversize,
 * unsupported encoding or content type, not UTF-8, not JSON, not an object, missing or ill-typed
 * keys, unknown category or result type) comes back as a {@link DecodeError} with a code and a
 * human reason, ready to be put in a dead-letter header.
 */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): DecodeOutcome {
  const encoder = options.encoder ?? jsonEncoder;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  try {
    if (bytes.byteLength === 0) throw new DecodeError("EMPTY", "body is empty");
    if (bytes.byteLength > maxBytes) {
      throw new DecodeError("TOO_LARGE", `body is ${bytes.byteLength} bytes, over the ${maxBytes}-byte limit`);
    }
    const encoding = options.contentEncoding;
    if (encoding !== undefined && !IDENTITY_ENCODINGS.has(encoding.toLowerCase())) {
      throw new DecodeError("UNSUPPORTED_ENCODING", `content encoding "${encoding}" is not supported (send uncompressed bodies)`);
    }
    const contentType = options.contentType;
    if (contentType !== undefined && contentType !== "" && contentType !== encoder.contentType) {
      throw new DecodeError("UNSUPPORTED_CONTENT_TYPE", `content type "${contentType}" is not "${encoder.contentType}"`);
    }
    let decoded: unknown;
    try {
      decoded = encoder.decode(bytes);
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw new DecodeError("UNDECODABLE", `the ${encoder.contentType} encoder could not read the body: ${String((error as Error)?.message ?? error)}`, { cause: error });
    }
    const message = messageFromBody(decoded);
    return { ok: true, message, body: message.toBody() };
  } catch (error) {
    if (error instanceof DecodeError) return { ok: false, error };
    // A bug in a custom encoder must not escape as an untyped throw either.
    return { ok: false, error: new DecodeError("UNDECODABLE", `decoding failed: ${String(error)}`, { cause: error }) };
  }
}
