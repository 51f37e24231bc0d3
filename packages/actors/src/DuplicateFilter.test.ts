import { describe, expect, it } from "vitest";
import { DuplicateFilter } from "./DuplicateFilter.js";

describe("DuplicateFilter", () => {
  it("tells an id seen within the window; never one without an id", () => {
    const filter = new DuplicateFilter({ windowMs: 1_000 });
    expect(filter.seen("a", 0)).toBe(false);
    expect(filter.seen("a", 999)).toBe(true);
    expect(filter.seen("a", 1_000)).toBe(false); // out of the window: recorded anew
    expect(filter.seen("a", 1_999)).toBe(true);
    expect(filter.seen(undefined, 0)).toBe(false);
    expect(filter.seen("", 0)).toBe(false);
    expect(filter.seen("", 0)).toBe(false);
  });

  it("forgets an id on request (a failed handling retried is not a duplicate)", () => {
    const filter = new DuplicateFilter();
    expect(filter.seen("a", 0)).toBe(false);
    filter.forget("a");
    expect(filter.seen("a", 1)).toBe(false);
    expect(filter.seen("a", 2)).toBe(true);
  });

  it("keeps at most maxIds, forgetting the oldest first, over many times that many ids", () => {
    const filter = new DuplicateFilter({ maxIds: 100 });
    for (let i = 0; i < 50_000; i += 1) expect(filter.seen(`id-${i}`, i)).toBe(false);
    // The last 100 are remembered, the one before them is not.
    for (let i = 49_900; i < 50_000; i += 1) expect(filter.seen(`id-${i}`, 50_000)).toBe(true);
    expect(filter.seen("id-49899", 50_000)).toBe(false);
  });

  it("counts an id recorded again, or forgotten and recorded again, once: its newer record is what ages", () => {
    const filter = new DuplicateFilter({ maxIds: 3, windowMs: 1_000_000 });
    filter.seen("a", 0);
    filter.forget("a");
    filter.seen("a", 0); // same time as the stale record
    filter.seen("b", 1);
    filter.seen("c", 2);
    // Three live ids (a, b, c): the stale record of a must not evict the live one.
    expect(filter.seen("a", 3)).toBe(true);
    filter.seen("d", 4); // a is now the oldest live record: forgotten
    expect(filter.seen("b", 5)).toBe(true);
    expect(filter.seen("c", 5)).toBe(true);
    expect(filter.seen("d", 5)).toBe(true);
    expect(filter.seen("a", 6)).toBe(false);
  });

  it("forgets ids out of the window as time goes on", () => {
    const filter = new DuplicateFilter({ windowMs: 10 });
    for (let t = 0; t < 5_000; t += 1) filter.seen(`id-${t}`, t);
    expect(filter.seen("id-4990", 5_000)).toBe(false); // 10 ms old: out
    expect(filter.seen("id-4991", 5_000)).toBe(true);
  });
});
