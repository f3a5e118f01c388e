import { describe, expect, it } from "vitest";
import { AdaptiveWriteRate } from "./adaptive-rate.js";

describe("AdaptiveWriteRate", () => {
  const cfg = { latencyMs: 100, minWritesPerSecond: 5 };

  it("starts at the configured rate, halves on congestion or failure, and climbs back in twentieths", () => {
    const seen: (number | undefined)[] = [];
    const r = new AdaptiveWriteRate(cfg, 1000, (n) => seen.push(n));
    expect(r.perSecond).toBe(1000);
    r.observe(100, 50, true); // healthy at the ceiling: stays
    expect(r.perSecond).toBe(1000);
    r.observe(100, 250, true); // slow
    expect(r.perSecond).toBe(500);
    r.observe(100, 10, false); // failed (or retried)
    expect(r.perSecond).toBe(250);
    r.observe(100, 10, true);
    expect(r.perSecond).toBe(300);
    for (let i = 0; i < 30; i++) r.observe(100, 10, true);
    expect(r.perSecond).toBe(1000);
    expect(seen.slice(0, 4)).toEqual([1000, 500, 250, 300]);
  });

  it("never goes below minWritesPerSecond", () => {
    const r = new AdaptiveWriteRate(cfg, 40);
    for (let i = 0; i < 10; i++) r.observe(10, 500, false);
    expect(r.perSecond).toBe(5);
  });

  it("without a configured rate stays unlimited until congestion, then starts from the batch's own pace", () => {
    const r = new AdaptiveWriteRate(cfg, undefined);
    r.observe(1000, 50, true);
    expect(r.perSecond).toBeUndefined();
    // 1,000 writes in 400 ms: 2,500/s was too much; half of it next.
    r.observe(1000, 400, true);
    expect(r.perSecond).toBe(1250);
    r.observe(10, 10, true);
    expect(r.perSecond).toBe(1250 + 125);
  });
});
