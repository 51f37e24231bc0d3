import { ExceptionResult, type Message, type MessageBody, messageFromBody } from "@postage/core";
import type { Delivery } from "@postage/transport";
import type { HandlerContext, HandlerDefinition, ProcessorHandle, ReplyFunction } from "./HandlerDefinition.js";

/** One decoded delivery as the handlers see it. */
export interface HandlerInput {
  readonly message: Message;
  readonly body: MessageBody;
  readonly delivery: Delivery;
  /** Present when the delivery asks for a reply (it has a `reply_to`). */
  readonly reply?: ReplyFunction | undefined;
}

/** What running the handlers of one delivery came to. */
export interface HandlersOutcome {
  /** Handlers that ran to the end. */
  completed: number;
  /** Handlers skipped because one of their filters threw. */
  filtered: number;
  /** Errors thrown by handlers (each also reported to the caller's `onError`). */
  failures: unknown[];
  /** Set when a handler rejected the message explicitly, or when one threw: dead-letter with this reason. */
  rejectReason: string | undefined;
}

type MaybePromise<T> = T | Promise<T>;

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

type Filter = (data: unknown) => unknown;

/**
 * Applies a handler's filters to a copy of the content (or of the body, for full-body handlers);
 * `undefined` when a filter discards the message.
 */
function filtered(handler: HandlerDefinition<never>, body: MessageBody): { body: MessageBody; message: Message } | undefined {
  try {
    let data: unknown = structuredClone(handler.filterOn === "body" ? body : body.content);
    for (const filter of handler.filters as readonly Filter[]) data = filter(data) ?? data;
    const result = handler.filterOn === "body" ? (data as MessageBody) : { ...body, content: data as MessageBody["content"] };
    return { body: result, message: messageFromBody(result) };
  } catch {
    // A filter that throws (or returns something that is not a message) discards the message for
    // this handler only (the seed's MessageFilter).
    return undefined;
  }
}

/** The reply function of a delivery that asks for none: replying does nothing. */
const noReply: ReplyFunction = () => Promise.resolve();

/**
 * One run of the handlers of one delivery. A class rather than closures: the common delivery (one
 * handler, synchronous, no filters) allocates the run, its outcome and one context, nothing else.
 */
class HandlersRun<P extends ProcessorHandle> {
  readonly outcome: HandlersOutcome = { completed: 0, filtered: 0, failures: [], rejectReason: undefined };
  /** The first error of an RPC handler: the caller is told about it if nobody replied. */
  private rpcFailure: unknown;
  private replied = false;
  /** The reply's publish until it is written: the delivery is settled (acked) only after it. */
  private replying: Promise<void> | undefined;
  /** Its failure, when the handler may not have seen it (it did not await the reply). */
  private replyFailure: { error: unknown } | undefined;
  /** The caller gets one reply: the first one sent. */
  readonly reply: ReplyFunction;
  /** Handed to handlers in their context: a function of its own, so it can be destructured. */
  readonly reject = (reason: string): void => {
    this.outcome.rejectReason ??= reason;
  };

  constructor(
    private readonly handlers: readonly HandlerDefinition<P>[],
    private readonly processor: P,
    private readonly input: HandlerInput,
  ) {
    const original = input.reply;
    this.reply =
      original === undefined
        ? noReply
        : (result) => {
            if (this.replied) return Promise.resolve();
            this.replied = true;
            return this.track(original(result));
          };
  }

  /** Follows the reply's publish; registered before the handler's own await, so an awaited reply costs no extra turn. */
  private track(sent: Promise<void>): Promise<void> {
    this.replying = sent;
    sent.then(
      () => {
        this.replying = undefined;
      },
      (error: unknown) => {
        this.replying = undefined;
        this.replyFailure = { error };
      },
    );
    return sent;
  }

  step(index: number): MaybePromise<HandlersOutcome> {
    const { handlers, input, outcome } = this;
    for (let i = index; i < handlers.length; i += 1) {
      const handler = handlers[i]!;
      const view = handler.filters.length === 0 ? input : filtered(handler as HandlerDefinition<never>, input.body);
      if (view === undefined) {
        outcome.filtered += 1;
        continue;
      }
      const context: HandlerContext<P> = { processor: this.processor, message: view.message, body: view.body, delivery: input.delivery, reject: this.reject };
      let result: unknown;
      try {
        result = handler.invoke(context, this.reply);
      } catch (error) {
        this.fail(handler, error);
        continue;
      }
      if (isPromise(result)) {
        return Promise.resolve(result).then(
          () => {
            outcome.completed += 1;
            return this.step(i + 1);
          },
          (error: unknown) => {
            this.fail(handler, error);
            return this.step(i + 1);
          },
        );
      }
      outcome.completed += 1;
    }
    return this.finish();
  }

  private fail(handler: HandlerDefinition<P>, error: unknown): void {
    this.outcome.failures.push(error);
    this.outcome.rejectReason ??= `handler for ${handler.type} "${handler.name}" threw ${describeError(error)}`;
    if (handler.rpc) this.rpcFailure ??= error;
  }

  private finish(): MaybePromise<HandlersOutcome> {
    const outcome = this.outcome;
    // A reply its handler did not await: the ack leaves only after the reply was written.
    const replying = this.replying;
    if (replying !== undefined) {
      return replying.then(
        () => this.finish(),
        () => this.finish(),
      );
    }
    // A reply that failed where no handler threw it: a failure of this delivery (reported, not swallowed).
    const replyFailure = this.replyFailure;
    if (replyFailure !== undefined) {
      this.replyFailure = undefined;
      if (!outcome.failures.includes(replyFailure.error)) outcome.failures.push(replyFailure.error);
    }
    const reply = this.input.reply;
    if (this.rpcFailure === undefined || this.replied || reply === undefined) return outcome;
    return reply(ExceptionResult.fromError(this.rpcFailure)).then(
      () => outcome,
      (error: unknown) => {
        outcome.failures.push(error);
        return outcome;
      },
    );
  }
}

/**
 * Runs every handler registered for one delivery, in registration order, one after the other.
 * Stays synchronous while the handlers are (the common case costs no promise); a handler that
 * throws does not stop the others. If an RPC handler throws before anyone replied, the caller
 * gets an exception result naming the error.
 */
export function runHandlers<P extends ProcessorHandle>(
  handlers: readonly HandlerDefinition<P>[],
  processor: P,
  input: HandlerInput,
): MaybePromise<HandlersOutcome> {
  return new HandlersRun(handlers, processor, input).step(0);
}
