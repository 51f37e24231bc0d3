import { describe, expect, it } from "vitest";
import { CommandMessage } from "./CommandMessage.js";
import { decodeMessage, type DecodeOptions } from "./decodeMessage.js";
import type { DecodeErrorCode } from "./errors.js";

const text = (value: string) => new TextEncoder().encode(value);
const good = { type: "command", name: "echo", category: "message", version: "2", fingerprint: {}, content: { parameters: 1 }, _reserved: {} };
const withKey = (key: string, value: unknown) => JSON.stringify({ ...good, [key]: value });
const without = (key: string) => JSON.stringify(Object.fromEntries(Object.entries(good).filter(([k]) => k !== key)));

function codeOf(bytes: Uint8Array, options?: DecodeOptions): DecodeErrorCode | "ok" {
  const outcome = decodeMessage(bytes, options);
  if (outcome.ok) return "ok";
  expect(outcome.error.reason.length).toBeGreaterThan(5);
  expect(outcome.error.message).toBe(outcome.error.reason);
  return outcome.error.code;
}

describe("decodeMessage", () => {
  it.each<[string, Uint8Array, DecodeErrorCode, DecodeOptions?]>([
    ["an empty body", new Uint8Array(), "EMPTY"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "NOT_UTF8"],
    ["not JSON", text("hello there"), "NOT_JSON"],
    ["a JSON array", text("[1,2]"), "NOT_OBJECT"],
    ["a JSON number", text("42"), "NOT_OBJECT"],
    ["a JSON string", text('"x"'), "NOT_OBJECT"],
    ["JSON null", text("null"), "NOT_OBJECT"],
    ["a missing type", text(without("type")), "MISSING_KEY"],
    ["a missing content", text(without("content")), "MISSING_KEY"],
    ["a missing fingerprint", text(without("fingerprint")), "MISSING_KEY"],
    ["a numeric name", text(withKey("name", 3)), "INVALID_KEY"],
    ["an array content", text(withKey("content", [])), "INVALID_KEY"],
    ["a string fingerprint", text(withKey("fingerprint", "me")), "INVALID_KEY"],
    ["another version", text(withKey("version", "1")), "INVALID_KEY"],
    ["an unknown category", text(withKey("category", "broadcast")), "UNKNOWN_CATEGORY"],
    ["an unknown result type", text(JSON.stringify({ ...good, type: "result", content: { type: "maybe", value: 1, message: "" } })), "UNKNOWN_RESULT_TYPE"],
    ["a result with a numeric message", text(JSON.stringify({ ...good, type: "result", content: { type: "success", value: 1, message: 2 } })), "INVALID_KEY"],
    ["an oversize body", text(withKey("content", { parameters: "x".repeat(100) })), "TOO_LARGE", { maxBytes: 64 }],
    ["a gzip content encoding", text(JSON.stringify(good)), "UNSUPPORTED_ENCODING", { contentEncoding: "gzip" }],
    ["another content type", text(JSON.stringify(good)), "UNSUPPORTED_CONTENT_TYPE", { contentType: "application/msgpack" }],
  ])("refuses %s", (_what, bytes, code, options) => {
    expect(codeOf(bytes, options)).toBe(code);
  });

  it("accepts a body without content type (Python replies carry none) and with its own", () => {
    expect(codeOf(text(JSON.stringify(good)))).toBe("ok");
    expect(codeOf(text(JSON.stringify(good)), { contentType: "application/json", contentEncoding: "utf-8" })).toBe("ok");
  });

  it("defaults a missing _reserved and version", () => {
    const outcome = decodeMessage(text(JSON.stringify({ type: "command", name: "a", category: "rpc", fingerprint: {}, content: {} })));
    expect(outcome.ok && outcome.body).toMatchObject({ version: "2", _reserved: {}, category: "rpc" });
  });

  it("keeps __proto__ and constructor keys as plain data without polluting prototypes", () => {
    const hostile = `{"type":"command","name":"x","category":"message","fingerprint":{},"_reserved":{},
      "content":{"parameters":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}},
      "__proto__":{"polluted":true}}`;
    const outcome = decodeMessage(text(hostile));
    if (!outcome.ok) throw outcome.error;
    expect(outcome.message).toBeInstanceOf(CommandMessage);
    const parameters = (outcome.message as CommandMessage).parameters as Record<string, unknown>;
    expect(Object.hasOwn(parameters, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(parameters)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("turns a custom encoder's untyped throw into an UNDECODABLE error", () => {
    const broken = { contentType: "x/broken", encode: () => new Uint8Array(), decode: () => { throw new RangeError("boom"); } };
    const outcome = decodeMessage(text("{}"), { encoder: broken });
    expect(outcome.ok ? "ok" : [outcome.error.code, outcome.error.reason]).toEqual(["UNDECODABLE", expect.stringContaining("boom")]);
  });
});
