import { describe, expect, it } from "vitest";
import { headersMatch } from "./MemoryExchange.js";
import { topicMatches, topicWords } from "./topic.js";

const matches = (pattern: string, key: string): boolean => topicMatches(topicWords(pattern), topicWords(key));

describe("topicMatches", () => {
  it.each([
    ["a.b.c", "a.b.c", true],
    ["a.b.c", "a.b", false],
    ["a.*.c", "a.b.c", true],
    ["a.*.c", "a.c", false],
    ["a.*.c", "a.b.b.c", false],
    ["*", "a", true],
    ["*", "", false],
    ["*", "a.b", false],
    ["#", "", true],
    ["#", "a", true],
    ["#", "a.b.c", true],
    ["a.#", "a", true],
    ["a.#", "a.b.c", true],
    ["a.#", "b.a", false],
    ["#.a", "a", true],
    ["#.a", "x.y.a", true],
    ["#.a", "a.x", false],
    ["a.#.z", "a.z", true],
    ["a.#.z", "a.b.c.z", true],
    ["a.#.z", "a.b.c", false],
    ["#.#", "a.b", true],
    ["#.#", "", true],
    ["a.#.#.b", "a.b", true],
    ["*.#", "", false],
    ["*.#", "a", true],
    ["#.*", "a.b.c", true],
    ["*.*", ".", true],
    ["*", ".", false],
    ["a.", "a.", true],
    ["a.*", "a.", true],
    ["a.*", "a", false],
    ["", "", true],
    ["", "a", false],
    ["#.b.#", "a.b.c", true],
    ["#.b.#", "b", true],
    ["#.b.#", "a.c", false],
    ["*.b.*", "a.b.c", true],
    ["*.b.*", "b.c", false],
    ["A", "a", false],
  ])("%j vs %j -> %s", (pattern, key, expected) => {
    expect(matches(pattern, key)).toBe(expected);
  });
});

describe("headersMatch", () => {
  it("all (the default) needs every non-x argument", () => {
    expect(headersMatch({ a: 1, b: "x" }, { a: 1, b: "x", c: 3 })).toBe(true);
    expect(headersMatch({ "x-match": "all", a: 1, b: "x" }, { a: 1 })).toBe(false);
    expect(headersMatch({ a: 1 }, { a: 2 })).toBe(false);
    expect(headersMatch({ a: 1 }, undefined)).toBe(false);
  });

  it("any needs one matching argument", () => {
    expect(headersMatch({ "x-match": "any", a: 1, b: 2 }, { b: 2 })).toBe(true);
    expect(headersMatch({ "x-match": "any", a: 1, b: 2 }, { b: 3 })).toBe(false);
    expect(headersMatch({ "x-match": "any" }, { a: 1 })).toBe(false);
  });

  it("ignores x- arguments unless a -with-x mode is used", () => {
    expect(headersMatch({ "x-foo": 1 }, {})).toBe(true);
    expect(headersMatch({ "x-match": "all-with-x", "x-foo": 1 }, {})).toBe(false);
    expect(headersMatch({ "x-match": "any-with-x", "x-foo": 1 }, { "x-foo": 1 })).toBe(true);
  });

  it("treats a null argument as presence only", () => {
    expect(headersMatch({ a: null }, { a: "anything" })).toBe(true);
    expect(headersMatch({ a: null }, { b: 1 })).toBe(false);
  });
});
