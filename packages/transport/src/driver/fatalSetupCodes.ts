/**
 * Broker answers to a consumer's setup (declare, bind, consume) that will not change by retrying
 * the same setup: a consumer refused so after a cancel or reconnect is lost (`onLost`).
 * @internal
 */
export const FATAL_SETUP_CODES: ReadonlySet<string> = new Set(["NOT_FOUND", "PRECONDITION_FAILED", "ACCESS_REFUSED", "RESOURCE_LOCKED", "NOT_ALLOWED"]);
