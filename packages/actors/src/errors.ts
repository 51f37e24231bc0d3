import { PostageError } from "@postage/core";

/** Error codes of the actors package. */
export type ActorErrorCode = "HANDLER_FAILED" | "FILTER_FAILED" | "NOT_RUNNING" | "START_FAILED" | "INVALID_GROUP" | "SCHEDULER_CLOSED" | "SNAPSHOT_INVALID" | "SNAPSHOT_IO" | "SNAPSHOT_STORE_CLOSED" | "METRICS_SERVER";

/** An error raised by a processor, an application or the scheduler; `code` says which kind. */
export class ActorError extends PostageError {
  declare readonly code: ActorErrorCode;

  constructor(code: ActorErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
