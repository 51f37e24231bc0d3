import { CommandMessage, RpcCommandMessage } from "./CommandMessage.js";
import { DecodeError } from "./errors.js";
import { GenericMessage } from "./GenericMessage.js";
import { Message, type MessageBody } from "./Message.js";
import { ErrorResult, ExceptionResult, SuccessResult, type ResultMessage } from "./ResultMessage.js";
import { StatusMessage } from "./StatusMessage.js";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

function requireKey(body: JsonObject, key: string, kind: "string" | "object"): void {
  if (!Object.hasOwn(body, key)) throw new DecodeError("MISSING_KEY", `body has no "${key}" key`);
  const value = body[key];
  const ok = kind === "string" ? typeof value === "string" : isObject(value);
  if (!ok) throw new DecodeError("INVALID_KEY", `key "${key}" must be ${kind === "string" ? "a string" : "an object"}, got ${describe(value)}`);
}

function resultFrom(content: JsonObject): ResultMessage {
  const { type, value, message } = content;
  if (message !== undefined && typeof message !== "string") {
    throw new DecodeError("INVALID_KEY", `key "content.message" of a result must be a string, got ${describe(message)}`);
  }
  const text = message ?? "";
  switch (type) {
    case "success":
      return new SuccessResult(value, text);
    case "error":
      return new ErrorResult(text);
    case "exception":
      return new ExceptionResult(typeof value === "string" ? value : "Error", text);
    default:
      throw new DecodeError("UNKNOWN_RESULT_TYPE", `result type must be "success", "error" or "exception", got ${describe(type)}`);
  }
}

function kindFrom(body: MessageBody): Message {
  const content = body.content;
  switch (body.type) {
    case "command":
      return body.category === "rpc" ? new RpcCommandMessage(body.name) : new CommandMessage(body.name);
    case "status":
      return new StatusMessage(body.name);
    case "result":
      return resultFrom(content);
    case "none":
      if (Object.hasOwn(content, "args") || Object.hasOwn(content, "kwds")) return new GenericMessage();
      return new Message({ type: body.type, name: body.name });
    default:
      return new Message({ type: body.type, name: body.name });
  }
}

/**
 * Validates a decoded body and builds the matching message class: {@link CommandMessage},
 * {@link RpcCommandMessage}, {@link StatusMessage}, a result, {@link GenericMessage}, or a plain
 * {@link Message} for other (free) types. The message keeps the body's content and fingerprint.
 *
 * @throws {DecodeError} with a code and a reason when the body is not a valid Postage message.
 */
export function messageFromBody(body: unknown): Message {
  if (!isObject(body)) throw new DecodeError("NOT_OBJECT", `body must be a JSON object, got ${describe(body)}`);
  requireKey(body, "type", "string");
  requireKey(body, "name", "string");
  requireKey(body, "category", "string");
  requireKey(body, "fingerprint", "object");
  requireKey(body, "content", "object");
  if (body.category !== "message" && body.category !== "rpc") {
    throw new DecodeError("UNKNOWN_CATEGORY", `key "category" must be "message" or "rpc", got ${describe(body.category)}`);
  }
  if (Object.hasOwn(body, "version") && body.version !== "2") {
    throw new DecodeError("INVALID_KEY", `key "version" must be "2", got ${describe(body.version)}`);
  }
  if (Object.hasOwn(body, "_reserved") && !isObject(body._reserved)) {
    throw new DecodeError("INVALID_KEY", `key "_reserved" must be an object, got ${describe(body._reserved)}`);
  }
  const valid = body as unknown as MessageBody;
  const message = kindFrom(valid);
  message.category = valid.category;
  message.fingerprint = valid.fingerprint;
  message.content = valid.content;
  message.reserved = (body._reserved as JsonObject | undefined) ?? {};
  return message;
}
