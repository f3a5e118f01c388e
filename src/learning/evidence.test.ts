import { describe, expect, it } from "vitest";
import { reliability } from "./evidence.js";

describe("reliability", () => {
  it("has no evidence against a replica that was never settled", () => {
    expect(reliability(0, 0)).toEqual({ score: 1, low: 0, high: 1, settled: 0, lost: 0 });
  });

  it("matches the Wilson interval's textbook values", () => {
    const r = reliability(10, 1); // 9 of 10
    expect(r.score).toBeCloseTo(0.9, 10);
    expect(r.low).toBeCloseTo(0.5958, 3);
    expect(r.high).toBeCloseTo(0.9821, 3);
  });

  it("narrows with more evidence and stays inside [0, 1]", () => {
    const few = reliability(10, 0);
    const many = reliability(1000, 0);
    expect(many.high - many.low).toBeLessThan(few.high - few.low);
    expect(few.high).toBeLessThanOrEqual(1);
    expect(reliability(5, 5).low).toBeGreaterThanOrEqual(0);
  });

  it("refuses counts that cannot be", () => {
    expect(() => reliability(3, 4)).toThrow(/lost <= settled/);
    expect(() => reliability(-1, 0)).toThrow(RangeError);
  });
});
