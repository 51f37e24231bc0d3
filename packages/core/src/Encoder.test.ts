import { describe, expect, it } from "vitest";
import { CommandMessage } from "./CommandMessage.js";
import { decodeMessage } from "./decodeMessage.js";
import { type Encoder, jsonEncoder } from "./Encoder.js";
import type { MessageBody } from "./Message.js";

/** A stand-in for a user's own encoder: JSON wrapped in base64, with its own content type. */
class Base64JsonEncoder implements Encoder {
  readonly contentType = "application/x-base64-json";
  encode(body: MessageBody): Uint8Array {
    return new TextEncoder().encode(Buffer.from(JSON.stringify(body)).toString("base64"));
  }
  decode(bytes: Uint8Array): unknown {
    return JSON.parse(Buffer.from(new TextDecoder().decode(bytes), "base64").toString("utf8"));
  }
}

describe("encoders", () => {
  it("JSON round-trips a body", () => {
    const body = new CommandMessage("sum", { a: 5, b: 6 }).toBody();
    expect(jsonEncoder.contentType).toBe("application/json");
    expect(jsonEncoder.decode(jsonEncoder.encode(body))).toEqual(body);
  });

  it("reads UTF-8 bodies exactly, ASCII or not, and refuses every malformed form with NOT_UTF8", () => {
    const body = new CommandMessage("näme", { text: "héllo wörld 𝄞 \u{fffd} \u0000 日本" }).toBody();
    const bytes = jsonEncoder.encode(body);
    expect(jsonEncoder.decode(bytes)).toEqual(body);
    // The same bytes in a plain Uint8Array (not a Buffer), at an offset in a larger buffer.
    const framed = new Uint8Array(bytes.byteLength + 7);
    framed.set(bytes, 3);
    expect(jsonEncoder.decode(framed.subarray(3, 3 + bytes.byteLength))).toEqual(body);
    const malformed: Array<[string, number[]]> = [
      ["a lone continuation byte", [0x80]],
      ["a truncated 2-byte sequence", [0xc3]],
      ["an overlong slash", [0xc0, 0xaf]],
      ["an encoded surrogate", [0xed, 0xa0, 0x80]],
      ["a code point over U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
      ["a byte never valid", [0xff]],
    ];
    for (const [what, sequence] of malformed) {
      const wrapped = Uint8Array.from([...Buffer.from('{"a":"'), ...sequence, ...Buffer.from('"}')]);
      expect(() => jsonEncoder.decode(wrapped), what).toThrow(expect.objectContaining({ code: "NOT_UTF8" }));
    }
  });

  it("can be swapped: decoding uses the given encoder and checks its content type", () => {
    const custom = new Base64JsonEncoder();
    const bytes = custom.encode(new CommandMessage("sum", [1, 2]).toBody());
    const outcome = decodeMessage(bytes, { encoder: custom, contentType: custom.contentType });
    expect(outcome.ok && (outcome.message as CommandMessage).parameters).toEqual([1, 2]);
    expect(decodeMessage(bytes).ok).toBe(false);
    const wrongType = decodeMessage(bytes, { encoder: custom, contentType: "application/json" });
    expect(wrongType.ok ? "ok" : wrongType.error.code).toBe("UNSUPPORTED_CONTENT_TYPE");
  });
});
