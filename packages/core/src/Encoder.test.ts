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
