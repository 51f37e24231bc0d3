import { PostageError } from "@postage/core";

/** Error codes of the actors package. */
export type ActorErrorCode =
  | "HANDLER_FAILED"
  | "FILTER_FAILED"
  | "NOT_RUNNING"
  | "START_FAILED"
  | "INVALID_GROUP"
  | "SCHEDULER_CLOSED"
  | "SNAPSHOT_INVALID"
  | "SNAPSHOT_IO"
  | "SNAPSHOT_STORE_CLOSED"
  | "METRICS_SERVER"
  /** The handlers of one delivery ran past `handlerTimeoutMs`. */
  | "HANDLER_TIMEOUT"
  /** A wait (`whenState`) ran past its `timeout`. */
  | "WAIT_TIMEOUT"
  /** A wait's `signal` aborted. */
  | "WAIT_ABORTED"
  /** The actor reached a final state other than the one waited for. */
  | "ACTOR_STOPPED"
  /** Its consumer stopped consuming and could not resume (sent to the machine as `fail`). */
  | "CONSUMER_LOST";

/** An error raised by a processor, an application or the scheduler; `code` says which kind. */
export class ActorError extends PostageError {
  declare readonly code: ActorErrorCode;

  constructor(code: ActorErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
