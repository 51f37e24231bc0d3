/**
 * How an RPC call ended, as metrics label it: the reply's result type, `timeout` (every attempt
 * went unanswered: the `TimeoutError` result), or `failed` (the request could not be published, or
 * the producer closed meanwhile).
 */
export type RpcOutcome = "success" | "error" | "exception" | "timeout" | "failed";

/**
 * Told what the transport does that metrics count. `@postage/actors` implements it with its
 * Prometheus metrics; give one to {@link ProducerOptions.observer} / {@link ConsumerOptions.observer}
 * to count a bare producer or consumer. Calls are synchronous and must not throw.
 */
export interface TransportObserver {
  /** An RPC call ended after `seconds` (from the first publish to the reply or the last timeout). */
  rpcFinished?(seconds: number, outcome: RpcOutcome): void;
  /** A consumer dead-lettered a message; `code` is its `x-postage-error` header (`NOT_JSON`, `HANDLER_ERROR`, ...). */
  deadLettered?(code: string): void;
  /** A consumer without acks stopped consuming for a while: its handler held a full window (`noAck`). */
  consumerPaused?(): void;
}
