import { describe, expect, it } from "vitest";
import type { ActivityEvidence } from "../learning/evidence.js";
import { reliability } from "../learning/evidence.js";
import { latencyEvidence, recentActivityEvidence } from "./owner-evidence.js";

const DAY = 86_400_000;
const row = (replica: string, segment: number, over: Partial<ActivityEvidence>): ActivityEvidence => ({
  replica,
  segment,
  ahead: 0,
  observed: 0,
  behind: 0,
  probed: 0,
  lagMs: 0,
  ...over,
});

describe("recentActivityEvidence", () => {
  it("scores each replica's share of the changes held first, per key range and over the dataset", () => {
    const ev = recentActivityEvidence(
      [
        row("a", 0, { ahead: 9, observed: 10, behind: 1 }),
        row("b", 0, { ahead: 1, observed: 10, behind: 9 }),
        row("b", 3, { ahead: 20, observed: 20 }),
        row("c", -1, { observed: 4, behind: 4 }),
        row("a", -1, { ahead: 2, observed: 2 }),
      ],
      DAY,
    );
    expect(ev.basis).toBe("recent-activity");
    expect(ev.windowMs).toBe(DAY);
    // Over the dataset: a 11, b 21, c 0 of 32.
    expect(ev.replicas).toEqual({ a: reliability(32, 21), b: reliability(32, 11), c: reliability(32, 32) });
    expect(ev.segments).toEqual({
      0: { a: reliability(10, 1), b: reliability(10, 9), c: reliability(10, 10) },
      3: { a: reliability(20, 20), b: reliability(20, 0), c: reliability(20, 20) },
    });
  });

  it("has no scores without any change held first", () => {
    expect(recentActivityEvidence([row("a", 0, { observed: 5 })], DAY)).toMatchObject({
      replicas: {},
      segments: {},
    });
  });

  it("is the same for the same rows in any order", () => {
    const rows = [row("a", 1, { ahead: 3 }), row("b", 1, { ahead: 5 }), row("b", 2, { ahead: 1 })];
    expect(recentActivityEvidence([...rows].reverse(), DAY)).toEqual(recentActivityEvidence(rows, DAY));
  });
});

describe("latencyEvidence", () => {
  it("scores the comparisons each replica was not behind in, summed over key ranges, with its mean probe lag", () => {
    const ev = latencyEvidence(
      [
        row("a", -1, { observed: 100, behind: 0, probed: 100, lagMs: 0 }),
        row("a", 4, { observed: 20, behind: 1 }),
        row("b", -1, { observed: 100, behind: 40, probed: 98, lagMs: 4900 }),
        row("c", 2, { ahead: 3 }),
      ],
      DAY,
    );
    expect(ev).toEqual({
      basis: "latency",
      windowMs: DAY,
      replicas: {
        a: { ...reliability(120, 1), meanLagMs: 0 },
        b: { ...reliability(100, 40), meanLagMs: 50 },
      },
    });
  });
});
