import { describe, expect, it } from "vitest";
import { median, percentile } from "./stats.js";

describe("median", () => {
  it("takes the middle value of an odd count, whatever the order", () => {
    expect(median([9, 1, 5])).toBe(5);
  });
  it("averages the middle two of an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it("is NaN for no values", () => {
    expect(median([])).toBeNaN();
  });
});

describe("percentile", () => {
  const hundred = Array.from({ length: 101 }, (_, i) => 100 - i); // 100..0, unsorted on purpose
  it("returns the value at the rank on a 0..100 list", () => {
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 0)).toBe(0);
    expect(percentile(hundred, 100)).toBe(100);
  });
  it("interpolates between neighbours", () => {
    expect(percentile([10, 20], 25)).toBe(12.5);
  });
  it("does not reorder its input", () => {
    const input = [3, 1, 2];
    percentile(input, 50);
    expect(input).toEqual([3, 1, 2]);
  });
});
