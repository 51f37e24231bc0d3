import type { CollectFingerprintOptions, Fingerprint } from "@postage/core";
import type { ExchangeQueueKeys, ProducerOptions } from "@postage/transport";
import type { DuplicateSuppressionOptions } from "../DuplicateFilter.js";
import type { HandlerDefinition, ProcessorHandle } from "../handlers/HandlerDefinition.js";
import type { MessageCounters } from "../inspection/InspectionEvent.js";
import type { SupervisionOptions } from "../machine/processorMachine.js";
import type { MessageProcessor } from "../MessageProcessor.js";

/** Options of a {@link MessageProcessor}. */
export interface MessageProcessorOptions<P extends ProcessorHandle = MessageProcessor> {
  /** The processor's fingerprint, or what to collect it from. @default Fingerprint.collect({ type: "processor" }) */
  fingerprint?: Fingerprint | CollectFingerprintOptions;
  /** Exchanges, queues and routing keys to consume (the seed's `eqk`). @default [] */
  bindings?: ExchangeQueueKeys;
  /** Message handlers (see {@link messageHandler}, {@link rpcHandler}, ...). More can be added with {@link MessageProcessor.handle}. */
  handlers?: readonly HandlerDefinition<P>[];
  /** Deliveries in flight per queue: bounds the mailbox. @default 100 */
  prefetch?: number;
  /**
   * Consume without acknowledgements (at most once, for events one can afford to lose): cheaper
   * for the broker, but what the mailbox holds when the process dies or its connection drops is
   * lost. Failures are still dead-lettered as copies; on a drain (quit, restart, SIGTERM) the
   * unstarted mailbox is published back to its queues. See the transport's `ConsumerOptions.noAck`.
   * @default false (each message acked after its handlers)
   */
  noAck?: boolean;
  /**
   * Largest body accepted, in bytes; bigger ones are dead-lettered (`TOO_LARGE`) without being
   * decoded. @default 1 MiB (core's `DEFAULT_MAX_BODY_BYTES`)
   */
  maxBytes?: number;
  /** Options of the processor's own producer (default exchanges, builders). @default {} */
  producer?: Omit<ProducerOptions, "fingerprint">;
  /** Restart limits for failures outside handlers. */
  supervision?: SupervisionOptions;
  /** Ack without handling a message whose id was seen recently (redelivery after a reconnect). @default off */
  duplicates?: DuplicateSuppressionOptions | false;
  /** Handle `quit` and `restart` commands. @default true */
  defaultHandlers?: boolean;
  /**
   * How long the handlers of one delivery may run, in ms. Past it the message is dead-lettered
   * with code `HANDLER_TIMEOUT` (an RPC caller gets an `ExceptionResult` saying so), the actor
   * moves on to the next one, and a drain (quit, restart, SIGTERM) no longer waits for the stuck
   * handler; whatever it does later is ignored (a late reply is not sent).
   * @default undefined (no limit)
   */
  handlerTimeoutMs?: number;
}

/** Counters a processor keeps (also shown by the inspector). */
export type ProcessorCounters = MessageCounters & {
  duplicates: number;
  handlerErrors: number;
  /** Handlers that did not finish within `handlerTimeoutMs` (their messages dead-lettered). */
  timedOut: number;
  /** Deliveries given back unhandled: their channel died, or the actor drained before starting them. */
  givenBack: number;
};
