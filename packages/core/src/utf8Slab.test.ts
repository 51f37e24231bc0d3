import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { utf8Bytes } from "./utf8Slab.js";

describe("utf8Bytes", () => {
  it("gives the bytes Buffer.from gives, each in a view of its own, across many slabs", () => {
    const texts: string[] = [];
    const pieces = ["a", "é", "日本", "𝄞", "\u0000", '"', "\ud800", "x".repeat(100)];
    // Lengths that land the ends of the slabs on every kind of character.
    for (let i = 0; i < 3_000; i += 1) texts.push(pieces.map((piece, k) => piece.repeat(1 + ((i * (k + 3)) % 17))).join("") + i);
    texts.push("", "y".repeat(4 * 1024), "z".repeat(4 * 1024 + 1), "ü".repeat(4 * 1024), "𝄞".repeat(5_000));
    const encoded = texts.map((text) => utf8Bytes(text));
    // Checked after all were made: a later one never overwrote an earlier one.
    encoded.forEach((bytes, i) => expect(Buffer.compare(bytes, Buffer.from(texts[i]!, "utf8")), `text ${i}`).toBe(0));
  });
});
