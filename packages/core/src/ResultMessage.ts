import { Message } from "./Message.js";

/** The three outcomes of an RPC call. */
export type ResultType = "success" | "error" | "exception";

/**
 * The reply to an RPC call. `content` is `{ type, value, message }`; error and exception
 * results are "not ok" (`ok === false`), as they are falsy in Python Postage.
 */
export abstract class ResultMessage extends Message {
  protected constructor(type: ResultType, value: unknown, message: string) {
    super({ type: "result", name: "none", content: { type, value, message } });
  }

  /** `success`, `error` or `exception`. */
  get resultType(): ResultType {
    return this.content.type as ResultType;
  }

  /** The returned value; `null` for errors; the exception's name for exceptions. */
  get value(): unknown {
    return this.content.value;
  }

  /** A human-readable message ("" when none). */
  get message(): string {
    return typeof this.content.message === "string" ? this.content.message : "";
  }

  override get ok(): boolean {
    return this.resultType === "success";
  }
}

/** A successful call's result, as Python's `MessageResult(value, message)`. */
export class SuccessResult extends ResultMessage {
  constructor(value: unknown, message = "") {
    super("success", value, message);
  }
}

/** A call that failed in an expected way, as Python's `MessageResultError(message)`. */
export class ErrorResult extends ResultMessage {
  constructor(message: string) {
    super("error", null, message);
  }
}

/**
 * A call whose handler raised: `value` is the exception's name, as Python's
 * `MessageResultException(name, message)`. An RPC that times out resolves to
 * `ExceptionResult("TimeoutError", ...)`.
 */
export class ExceptionResult extends ResultMessage {
  constructor(name: string, message: string) {
    super("exception", name, message);
  }

  /** Builds the result that reports `error` to the caller (its name and message). */
  static fromError(error: unknown): ExceptionResult {
    if (error instanceof Error) return new ExceptionResult(error.name, error.message);
    return new ExceptionResult("Error", String(error));
  }
}
