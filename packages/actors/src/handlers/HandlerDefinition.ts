import type { Message, MessageBody } from "@postage/core";
import type { Delivery, Producer } from "@postage/transport";

/** Sends the result of an RPC call back to its caller (to the request's `reply_to`). */
export type ReplyFunction = (result: Message) => Promise<void>;

/** The content object of a message (`body.content`). */
export type MessageContent = Record<string, unknown>;

/**
 * A filter (the seed's `MessageFilter`) gets a copy of what its handler would get, the content
 * (the full body for a full-body handler), and returns what the handler gets instead: the copy,
 * changed or not, or a new value (for example an old message format turned into the new one).
 * Returning nothing passes the copy on as the filter left it. If it throws, the message is
 * discarded for that handler only.
 *
 * @example
 * // An old sender put a bare string where the new handler wants { text }.
 * const upgrade: MessageFilter = (content) =>
 *   typeof content.parameters === "string" ? { ...content, parameters: { text: content.parameters } } : content;
 */
export type MessageFilter<T extends MessageContent | MessageBody = MessageContent> = (data: T) => T | void;

/** What a handler kind is keyed by besides type and name: `message` (fire-and-forget) or `rpc`. */
export type HandlerCategory = "message" | "rpc";

/** What a processor exposes to its handlers. */
export interface ProcessorHandle {
  /** The processor's fingerprint (dictionary form). */
  readonly fingerprint: Readonly<Record<string, unknown>>;
  /** The processor's producer, to send messages from handlers. */
  readonly producer: Producer;
}

/** Everything a handler may want to know about the delivery it handles. */
export interface HandlerContext<P extends ProcessorHandle = ProcessorHandle> {
  /** The processor running the handler (its fingerprint, producer, bindings...). */
  readonly processor: P;
  /** The decoded message (after this handler's filters). */
  readonly message: Message;
  /** The message body (after this handler's filters). */
  readonly body: MessageBody;
  /** The AMQP delivery: exchange, routing key, properties (message id, reply_to...). */
  readonly delivery: Delivery;
  /**
   * Rejects the message explicitly: once the handlers finished it is dead-lettered with `reason`
   * instead of acknowledged.
   */
  reject(reason: string): void;
}

/** A handler given the message content. */
export type ContentHandler<P extends ProcessorHandle = ProcessorHandle> = (content: MessageContent, context: HandlerContext<P>) => unknown;
/** A handler given the full message body (fingerprint included). */
export type BodyHandler<P extends ProcessorHandle = ProcessorHandle> = (body: MessageBody, context: HandlerContext<P>) => unknown;
/** An RPC handler: the content (or body) and a reply function; it may keep working after replying. */
export type RpcHandlerFunction<P extends ProcessorHandle = ProcessorHandle> = (
  content: MessageContent,
  reply: ReplyFunction,
  context: HandlerContext<P>,
) => unknown;

/** Options shared by every handler kind. */
export interface HandlerOptions<T extends MessageContent | MessageBody = MessageContent> {
  /** Applied in order to a copy of the content (the body for full-body handlers) before this handler. @default [] */
  filters?: readonly MessageFilter<T>[];
}

/**
 * A registered handler: the category, message type and name it handles and how to call it (the
 * seed keys handlers the same way). Built with {@link messageHandler},
 * {@link messageHandlerFullBody}, {@link rpcHandler} or {@link handlerClass}.
 */
export interface HandlerDefinition<P extends ProcessorHandle = ProcessorHandle> {
  readonly type: string;
  readonly name: string;
  /**
   * Receives a reply function (the seed's `RpcHandler`): it handles messages of category `rpc`
   * only; the other kinds handle category `message` only.
   */
  readonly rpc: boolean;
  /** What the filters get and return: the content, or the full body. */
  readonly filterOn: "content" | "body";
  readonly filters: ReadonlyArray<(data: never) => unknown>;
  /** Calls the handler for one (filtered) message. */
  readonly invoke: (context: HandlerContext<P>, reply: ReplyFunction) => unknown;
}

/**
 * A handler for messages of a type and name, given their content (the seed's `MessageHandler`).
 *
 * @example
 * messageHandler("command", "echo", (content) => console.log(content.parameters));
 */
export function messageHandler<P extends ProcessorHandle = ProcessorHandle>(
  type: string,
  name: string,
  handler: ContentHandler<P>,
  options: HandlerOptions = {},
): HandlerDefinition<P> {
  return { type, name, rpc: false, filterOn: "content", filters: options.filters ?? [], invoke: (context) => handler(context.body.content, context) };
}

/** A handler given the full body, fingerprint included (the seed's `MessageHandlerFullBody`). */
export function messageHandlerFullBody<P extends ProcessorHandle = ProcessorHandle>(
  type: string,
  name: string,
  handler: BodyHandler<P>,
  options: HandlerOptions<MessageBody> = {},
): HandlerDefinition<P> {
  return { type, name, rpc: false, filterOn: "body", filters: options.filters ?? [], invoke: (context) => handler(context.body, context) };
}

/**
 * An RPC handler (the seed's `RpcHandler`): given the content and a reply function; it handles
 * RPC requests (category `rpc`), never fire-and-forget messages of the same type and name. The
 * caller gets the first reply sent for a request (several RPC handlers for one key all run; a
 * later reply is not sent). If it throws before anyone replied, the caller receives an exception
 * result with the error's name and message.
 *
 * The reply is published without publisher confirm (the caller's receipt is the confirmation; a
 * lost reply shows up there as a timeout, which it retries), and the request is acked only once
 * the reply was written, whether the handler awaits `reply(...)` or not: a server that dies
 * before has its request redelivered. A reply that fails to publish counts as a failure of the
 * delivery (reported) even when the handler did not await it.
 *
 * @example
 * rpcHandler("command", "echo", async (content, reply) => {
 *   await reply(new SuccessResult("RPC message received"));
 * });
 */
export function rpcHandler<P extends ProcessorHandle = ProcessorHandle>(
  type: string,
  name: string,
  handler: RpcHandlerFunction<P>,
  options: HandlerOptions = {},
): HandlerDefinition<P> {
  return { type, name, rpc: true, filterOn: "content", filters: options.filters ?? [], invoke: (context, reply) => handler(context.body.content, reply, context) };
}

/**
 * A handler written as a class (the seed's `Handler`): `call()` reads `this.data` (the content,
 * or the full body), `this.reply` (RPC) and `this.processor`. A new instance handles each message.
 */
export abstract class Handler<P extends ProcessorHandle = ProcessorHandle> {
  constructor(
    /** The message content, or its full body for a full-body handler class. */
    readonly data: MessageContent | MessageBody,
    /** The reply function (meaningful for RPC messages). */
    readonly reply: ReplyFunction,
    /** The delivery's context (message, body, delivery, reject). */
    readonly context: HandlerContext<P>,
  ) {}

  /** The processor running this handler. */
  get processor(): P {
    return this.context.processor;
  }

  /** Handles the message. */
  abstract call(): unknown;
}

/** A concrete {@link Handler} subclass. */
export type HandlerClass<P extends ProcessorHandle = ProcessorHandle> = new (
  data: MessageContent | MessageBody,
  reply: ReplyFunction,
  context: HandlerContext<P>,
) => Handler<P>;

/**
 * Registers a {@link Handler} class for a message type and name: for category `rpc` with
 * `rpc: true`, else for category `message`. Its filters get the content, or the body with `fullBody`.
 */
export function handlerClass<P extends ProcessorHandle = ProcessorHandle>(
  type: string,
  name: string,
  HandlerType: HandlerClass<P>,
  options: HandlerOptions<MessageContent | MessageBody> & { rpc?: boolean; fullBody?: boolean } = {},
): HandlerDefinition<P> {
  return {
    type,
    name,
    rpc: options.rpc ?? false,
    filterOn: options.fullBody ? "body" : "content",
    filters: options.filters ?? [],
    invoke: (context, reply) => new HandlerType(options.fullBody ? context.body : context.body.content, reply, context).call(),
  };
}
