import { ExceptionResult, type Message } from "@postage/core";
import { type HandlerOutcome, type Incoming, reject } from "@postage/transport";
import type { DuplicateFilter } from "../DuplicateFilter.js";
import { ActorError } from "../errors.js";
import type { HandlersOutcome } from "../handlers/runHandlers.js";
import type { MessageProcessor } from "../MessageProcessor.js";
import type { ActorHost } from "./ActorHost.js";
import type { ProcessorCounters } from "./MessageProcessorOptions.js";

/** How one delivery is handled (the processor's `dispatch`): undefined when nothing wants it. @internal */
export type Dispatch = (incoming: Incoming) => HandlersOutcome | Promise<HandlersOutcome> | undefined;

/** A copy of an RPC delivery whose reply goes out once, whoever calls it first; and that reply function. */
function replyingOnce(incoming: Incoming): { incoming: Incoming; reply: (result: Message) => Promise<void> } {
  const original = incoming.reply as (result: Message) => Promise<void>;
  let replied = false;
  const reply = (result: Message): Promise<void> => {
    if (replied) return Promise.resolve();
    replied = true;
    return original(result);
  };
  return { incoming: { ...incoming, reply }, reply };
}

/**
 * Handles deliveries for one running processor, start to settlement: counts each, suppresses
 * duplicates, dispatches it, applies the handler timeout, and settles it (ack, or dead-letter
 * with the reason), telling inspection listeners about each step. @internal
 */
export class DeliveryRunner {
  constructor(
    private readonly actor: MessageProcessor,
    private readonly host: ActorHost,
    private readonly counters: ProcessorCounters,
    private readonly duplicates: DuplicateFilter | undefined,
    private readonly handlerTimeoutMs: number | undefined,
    private readonly dispatch: Dispatch,
  ) {}

  /** Handles one delivery from the mailbox; returns a promise only when the handling went async. */
  handle(incoming: Incoming, settle: (outcome: HandlerOutcome) => void): void | Promise<void> {
    this.counters.received += 1;
    if (this.host.inspection.active) this.emitMessage("received", incoming);
    if (this.duplicates?.seen(incoming.delivery.properties.messageId)) {
      this.counters.duplicates += 1;
      settle("ack");
      return;
    }
    // With a handler timeout, an RPC caller gets one reply: the handlers', or the timeout's.
    const once = this.handlerTimeoutMs !== undefined && incoming.reply !== undefined ? replyingOnce(incoming) : undefined;
    const outcome = this.dispatch(once?.incoming ?? incoming);
    if (outcome === undefined) {
      this.counters.unhandled += 1;
      settle("ack");
      return;
    }
    if (outcome instanceof Promise) return this.whenHandled(incoming, outcome, settle, once?.reply);
    this.settle(incoming, outcome, settle);
  }

  private whenHandled(
    incoming: Incoming,
    outcome: Promise<HandlersOutcome>,
    settle: (outcome: HandlerOutcome) => void,
    reply?: (result: Message) => Promise<void>,
  ): Promise<void> {
    const limit = this.handlerTimeoutMs;
    if (limit === undefined) return outcome.then((result) => this.settle(incoming, result, settle));
    return new Promise<void>((resolve, fail) => {
      const timer = setTimeout(() => {
        timedOut = true;
        const reason = `the handlers of ${incoming.message.type} "${incoming.message.name}" did not finish within ${limit} ms`;
        this.counters.timedOut += 1;
        this.counters.rejected += 1;
        this.host.report(this.actor, new ActorError("HANDLER_TIMEOUT", reason), "handler timed out; message dead-lettered");
        if (this.host.inspection.active) this.emitMessage("rejected", incoming, reason);
        // A queue with an x-delivery-limit retries it: the redelivery is not a duplicate.
        this.duplicates?.forget(incoming.delivery.properties.messageId);
        settle(reject(reason, "HANDLER_TIMEOUT"));
        // The caller would otherwise wait for its own timeout, then retry into the same stuck handler.
        reply?.(ExceptionResult.fromError(new ActorError("HANDLER_TIMEOUT", reason))).catch((error: unknown) => this.host.report(this.actor, error, "replying HANDLER_TIMEOUT failed"));
        resolve();
      }, limit);
      let timedOut = false;
      outcome.then(
        (result) => {
          if (timedOut) return;
          clearTimeout(timer);
          this.settle(incoming, result, settle);
          resolve();
        },
        (error: unknown) => {
          if (timedOut) return;
          clearTimeout(timer);
          fail(error);
        },
      );
    });
  }

  private settle(incoming: Incoming, outcome: HandlersOutcome, settle: (outcome: HandlerOutcome) => void): void {
    for (const error of outcome.failures) {
      this.counters.handlerErrors += 1;
      this.host.report(this.actor, error, `handler for ${incoming.message.type} "${incoming.message.name}" failed; message dead-lettered`);
    }
    if (outcome.rejectReason !== undefined) {
      this.counters.rejected += 1;
      if (this.host.inspection.active) this.emitMessage("rejected", incoming, outcome.rejectReason);
      // A handler error on a queue with an x-delivery-limit is retried: the redelivery is not a duplicate.
      if (outcome.failures.length > 0) this.duplicates?.forget(incoming.delivery.properties.messageId);
      settle(reject(outcome.rejectReason, outcome.failures.length > 0 ? "HANDLER_ERROR" : "REJECTED"));
      return;
    }
    this.counters.handled += 1;
    if (this.host.inspection.active) this.emitMessage("acked", incoming);
    settle("ack");
  }

  private emitMessage(direction: "received" | "acked" | "rejected", incoming: Incoming, reason?: string): void {
    const { message, delivery } = incoming;
    this.host.inspection.emit({
      kind: "message",
      actorId: this.actor.id,
      at: Date.now(),
      direction,
      messageType: message.type,
      name: message.name,
      category: message.category,
      exchange: delivery.exchange,
      routingKey: delivery.routingKey,
      ...(delivery.properties.messageId ? { messageId: delivery.properties.messageId } : {}),
      ...(reason ? { reason } : {}),
    });
  }
}
