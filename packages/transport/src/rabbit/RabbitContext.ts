import type { Channel, Connection } from "rabbitmq-client";
import type { ErrorContext, TransportError } from "../errors.js";

/** What the driver shares with its publishers, consumers and reply channels. @internal */
export interface RabbitContext {
  readonly connection: Connection;
  /**
   * {@link toTransportError} naming this driver's hosts, vhost and user (`ACCESS_REFUSED` says
   * who may not do what), plus `context`.
   */
  toError(err: unknown, context?: ErrorContext): TransportError;
  /** Debug logging is on. */
  readonly debug: boolean;
  /** Writes one debug line (only called when {@link debug} is on). */
  log(line: string): void;
  /** Reports an error that has no caller to reject (lost connection, failed ack, ...). */
  report(error: TransportError): void;
  /** Attempts per publish when the connection drops mid-publish. */
  readonly maxPublishAttempts: number;
  /** Deadline of one publish, retries included, in ms (0: none). */
  readonly publishTimeout: number;
  /**
   * Runs `fn` on a fresh channel closed afterwards: AMQP closes a channel on any declare error, so
   * declarations never share a channel. Errors are mapped with {@link toError} and `context`.
   */
  withChannel<T>(context: ErrorContext, fn: (channel: Channel) => Promise<T>): Promise<T>;
}
