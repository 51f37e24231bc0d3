/**
 * Base class of every error Postage throws. `code` is a stable string to branch on;
 * each package extends this with its own small hierarchy.
 */
export class PostageError extends Error {
  /** A stable, machine-readable error code such as `"NOT_JSON"`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Why a body could not be decoded into a Postage message. */
export type DecodeErrorCode =
  | "EMPTY"
  | "TOO_LARGE"
  | "UNSUPPORTED_ENCODING"
  | "UNSUPPORTED_CONTENT_TYPE"
  | "NOT_UTF8"
  | "NOT_JSON"
  | "UNDECODABLE"
  | "NOT_OBJECT"
  | "MISSING_KEY"
  | "INVALID_KEY"
  | "UNKNOWN_CATEGORY"
  | "UNKNOWN_RESULT_TYPE";

/**
 * An incoming body that is not a valid Postage message. `reason` is a sentence a person can act
 * on (it is also the error's `message`); consumers put it in the dead-letter header.
 */
export class DecodeError extends PostageError {
  declare readonly code: DecodeErrorCode;
  /** Human-readable explanation, e.g. `key "category" must be "message" or "rpc", got "foo"`. */
  readonly reason: string;

  constructor(code: DecodeErrorCode, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
    this.reason = reason;
  }
}
