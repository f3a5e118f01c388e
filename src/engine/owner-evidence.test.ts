import { describe, expect, it } from "vitest";
import type { ActivityEvidence } from "../learning/evidence.js";
import { reliability } from "../learning/evidence.js";
import { latencyEvidence, recentActivityEvidence } from "./owner-evidence.js";

const DAY = 86_400_000;
const H = 3_600_000;
const H0 = 20_000 * DAY;
const row = (replica: string, segment: number, over: Partial<ActivityEvidence>): ActivityEvidence => ({
  replica,
  segment,
  bucket: H0,
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
    const s = (settled: number, lost: number) => ({ ...reliability(settled, lost), sinceMs: H0 });
    expect(ev.replicas).toEqual({ a: s(32, 21), b: s(32, 11), c: s(32, 32) });
    expect(ev.segments).toEqual({
      0: { a: s(10, 1), b: s(10, 9), c: s(10, 10) },
      3: { a: s(20, 20), b: s(20, 0), c: s(20, 20) },
    });
  });

  it("follows a writer that moved: only the hours since another replica last led count", async () => {
    const ev = recentActivityEvidence(
      [
        // a led hours 0 to 4 of range 1, b leads hours 5 and 6 (a still held one change first in hour 5).
        ...[0, 1, 2, 3, 4].map((h) => row("a", 1, { bucket: H0 + h * H, ahead: 20 })),
        row("a", 1, { bucket: H0 + 5 * H, ahead: 1 }),
        row("b", 1, { bucket: H0 + 5 * H, ahead: 6 }),
        row("b", 1, { bucket: H0 + 6 * H, ahead: 5 }),
        // Range 2: a led its newest hours, all before b took over the dataset: stale, left out.
        row("b", 2, { bucket: H0, ahead: 50 }),
        row("a", 2, { bucket: H0 + 2 * H, ahead: 3 }),
        row("a", 2, { bucket: H0 + 4 * H, ahead: 4 }),
        // Range 3: b's changes before the dataset's run began still count (b leads the dataset too).
        row("b", 3, { bucket: H0 + 3 * H, ahead: 4 }),
      ],
      DAY,
    );
    expect(ev.segments?.[1]).toEqual({
      a: { ...reliability(12, 11), sinceMs: H0 + 5 * H },
      b: { ...reliability(12, 1), sinceMs: H0 + 5 * H },
    });
    expect(ev.segments?.[2]).toBeUndefined();
    expect(ev.segments?.[3]).toEqual({
      a: { ...reliability(4, 4), sinceMs: H0 + 3 * H },
      b: { ...reliability(4, 0), sinceMs: H0 + 3 * H },
    });
    // Over the dataset: b's hours 5 and 6 (6 + 5 of 12 changes held first; a 1).
    expect(ev.replicas.b).toEqual({ ...reliability(12, 1), sinceMs: H0 + 5 * H });
  });

  it("has no scores without any change held first", () => {
    expect(recentActivityEvidence([row("a", 0, { observed: 5 })], DAY)).toMatchObject({
      replicas: {},
      segments: {},
    });
  });

  it("is the same for the same rows in any order", () => {
    const rows = [
      row("a", 1, { ahead: 3 }),
      row("b", 1, { ahead: 5, bucket: H0 + H }),
      row("b", 2, { ahead: 1 }),
      row("a", 2, { ahead: 1 }),
    ];
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
