import { describe, expect, it } from "vitest";
import type { KeyRange } from "../core/model.js";
import { segmentGroups } from "./segments.js";

/** Segments [0,10), [10,20), … as ranges open at both ends of the key space. */
function segments(n: number): KeyRange[] {
  return Array.from({ length: n }, (_, i) => ({
    lo: i === 0 ? null : [String(i * 10)],
    hi: i === n - 1 ? null : [String((i + 1) * 10)],
  }));
}

/** The groups taken when each segment holds `perSegment[i]` divergences. */
function groups(n: number, budget: number, perSegment: (i: number) => number) {
  const out: { from: number; to: number; range: KeyRange }[] = [];
  let found = 0;
  for (const g of segmentGroups(segments(n), budget, () => found)) {
    out.push(g);
    found = 0;
    for (let i = g.from; i < g.to; i++) found += perSegment(i);
  }
  return out;
}

describe("segmentGroups", () => {
  it("covers every segment once, in order, each group one range from its first segment's lo to its last's hi", () => {
    for (const per of [() => 0, () => 5, () => 10_000, (i: number) => (i % 3 === 0 ? 0 : 900)]) {
      const gs = groups(23, 1000, per);
      expect(gs[0]).toMatchObject({ from: 0, to: 1 });
      for (let i = 1; i < gs.length; i++) expect(gs[i]!.from).toBe(gs[i - 1]!.to);
      expect(gs.at(-1)!.to).toBe(23);
      const all = segments(23);
      for (const g of gs) expect(g.range).toEqual({ lo: all[g.from]!.lo, hi: all[g.to - 1]!.hi });
    }
  });

  it("grows to 8 segments while differences are sparse and falls back to one when they are dense", () => {
    expect(groups(20, 1000, () => 0).map((g) => g.to - g.from)).toEqual([1, 8, 8, 3]);
    // 200 per segment against a budget of 1000: 5 at a time.
    expect(groups(12, 1000, () => 200).map((g) => g.to - g.from)).toEqual([1, 5, 5, 1]);
    expect(groups(4, 1000, () => 5000).map((g) => g.to - g.from)).toEqual([1, 1, 1, 1]);
    // Sparse, then a dense stretch: the group that meets it still spans 8 segments (memory is bounded by
    // that: 8 segments' divergences at most), and the one after it is a single segment again.
    const sizes = groups(20, 1000, (i) => (i >= 9 && i < 12 ? 4000 : 0)).map((g) => [g.from, g.to - g.from]);
    expect(sizes.slice(0, 4)).toEqual([
      [0, 1],
      [1, 8],
      [9, 8],
      [17, 1],
    ]);
  });
});
