import { PostageError } from "@postage/core";

/** Why the inspector refused something. */
export type InspectorErrorCode =
  /** A non-loopback host was asked for without a token. */
  | "TOKEN_REQUIRED"
  /** The port is taken or the address cannot be bound. */
  | "LISTEN_FAILED"
  /** An inspection event did not have the expected shape. */
  | "INVALID_EVENT"
  /** The server or source was closed. */
  | "CLOSED";

/** Base class of the inspector's errors; branch on `code`. */
export class InspectorError extends PostageError {
  declare readonly code: InspectorErrorCode;

  constructor(code: InspectorErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
