import { TransportError, type TransportErrorCode, type TransportErrorDetails } from "../errors.js";

/** The AMQP reply code names RabbitMQ would use, kept as `brokerCode` on the errors. */
const BROKER_CODES: Partial<Record<TransportErrorCode, string>> = {
  EXCHANGE_NOT_FOUND: "NOT_FOUND",
  QUEUE_NOT_FOUND: "NOT_FOUND",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  RESOURCE_LOCKED: "RESOURCE_LOCKED",
  ACCESS_REFUSED: "ACCESS_REFUSED",
  UNROUTABLE: "NO_ROUTE",
};

/**
 * A {@link TransportError} from the in-memory broker. `text` is RabbitMQ's reply text for the
 * same failure (e.g. `inequivalent arg 'type' for exchange 'x' in vhost '/': ...`), so logs read
 * the same on both drivers; `brokerCode` is RabbitMQ's reply code name.
 * @internal
 */
export function memoryError(code: TransportErrorCode, text: string, details: TransportErrorDetails = {}): TransportError {
  const brokerCode = details.brokerCode ?? BROKER_CODES[code];
  return new TransportError(code, `in-memory broker: ${brokerCode === undefined ? "" : `${brokerCode} - `}${text}`, { ...details, brokerCode });
}
