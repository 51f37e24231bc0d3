import { ExceptionResult, type Message, type MessageBody, messageFromBody } from "@postage/core";
import type { Delivery } from "@postage/transport";
import type { HandlerContext, HandlerDefinition, ProcessorHandle, ReplyFunction } from "./HandlerDefinition.js";

/** One decoded delivery as the handlers see it. */
export interface HandlerInput {
  readonly message: Message;
  readonly body: MessageBody;
  readonly delivery: Delivery;
  /** Present when the delivery asks for a reply (it has a `reply_to`). */
  readonly reply: ReplyFunction | undefined;
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
  const outcome: HandlersOutcome = { completed: 0, filtered: 0, failures: [], rejectReason: undefined };
  let replied = false;
  let rpcFailure: unknown;
  // The caller gets one reply: the first one sent.
  const reply: ReplyFunction = (result) => {
    if (replied) return Promise.resolve();
    replied = true;
    return input.reply ? input.reply(result) : Promise.resolve();
  };
  const reject = (reason: string): void => {
    outcome.rejectReason ??= reason;
  };
  const fail = (handler: HandlerDefinition<P>, error: unknown): void => {
    outcome.failures.push(error);
    outcome.rejectReason ??= `handler for ${handler.type} "${handler.name}" threw ${describeError(error)}`;
    if (handler.rpc) rpcFailure ??= error;
  };

  const finish = (): MaybePromise<HandlersOutcome> => {
    if (rpcFailure === undefined || replied || input.reply === undefined) return outcome;
    return input.reply(ExceptionResult.fromError(rpcFailure)).then(
      () => outcome,
      (error: unknown) => {
        outcome.failures.push(error);
        return outcome;
      },
    );
  };

  const step = (index: number): MaybePromise<HandlersOutcome> => {
    for (let i = index; i < handlers.length; i += 1) {
      const handler = handlers[i]!;
      const view = handler.filters.length === 0 ? input : filtered(handler as HandlerDefinition<never>, input.body);
      if (view === undefined) {
        outcome.filtered += 1;
        continue;
      }
      const context: HandlerContext<P> = { processor, message: view.message, body: view.body, delivery: input.delivery, reject };
      let result: unknown;
      try {
        result = handler.invoke(context, reply);
      } catch (error) {
        fail(handler, error);
        continue;
      }
      if (isPromise(result)) {
        return Promise.resolve(result).then(
          () => {
            outcome.completed += 1;
            return step(i + 1);
          },
          (error: unknown) => {
            fail(handler, error);
            return step(i + 1);
          },
        );
      }
      outcome.completed += 1;
    }
    return finish();
  };

  return step(0);
}
