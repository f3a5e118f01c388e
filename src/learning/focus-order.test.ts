import { describe, expect, it } from "vitest";
import { visitOrder } from "../engine/run-dataset.js";
import { focusStretch, hotFirst, planFocus } from "./focus-order.js";

const drift = (segment: number, divergences: number, repaired = divergences) => ({
  segment,
  divergences,
  repaired,
});

/** Visits of each segment in an order. */
function counts(order: readonly number[], segments: number): number[] {
  const c = Array.from({ length: segments }, () => 0);
  for (const s of order) c[s]!++;
  return c;
}

/** The longest run of visits between two visits of `segment` (wrapping into the next pass). */
function longestGap(order: readonly number[], segment: number): number {
  const at = order.flatMap((s, i) => (s === segment ? [i] : []));
  return Math.max(...at.map((p, i) => (i + 1 < at.length ? at[i + 1]! : at[0]! + order.length) - p));
}

describe("planFocus", () => {
  it.each([
    { name: "no drift", segments: 8, drift: [], visits: [1, 1, 1, 1, 1, 1, 1, 1] },
    {
      name: "one hot segment takes every extra visit",
      segments: 8,
      drift: [drift(2, 5)],
      visits: [1, 1, 9, 1, 1, 1, 1, 1],
    },
    {
      name: "two hot segments share the extra visits by divergences",
      segments: 8,
      drift: [drift(1, 3), drift(6, 2)],
      visits: [1, 6, 1, 1, 1, 1, 4, 1],
    },
    {
      name: "at most a quarter of the segments are hot, the most repaired first",
      segments: 12,
      drift: [drift(0, 5), drift(3, 9), drift(5, 6), drift(8, 7)],
      visits: [1, 1, 1, 6, 1, 4, 1, 1, 5, 1, 1, 1],
    },
    {
      name: "background drift spread over every range stays cold (hot: over twice the median)",
      segments: 4,
      drift: [drift(0, 2), drift(1, 2), drift(2, 2), drift(3, 3)],
      visits: [1, 1, 1, 1],
    },
    {
      name: "two hot ranges do not hide a third at 3× the background (the median, not the mean, sets the bar)",
      segments: 12,
      drift: [
        drift(0, 10),
        drift(6, 10),
        drift(3, 3),
        ...[1, 2, 4, 5, 7, 8, 9, 10, 11].map((s) => drift(s, 1)),
      ],
      visits: [6, 1, 1, 3, 1, 1, 6, 1, 1, 1, 1, 1],
    },
    {
      name: "first repairs where most ranges have none already make a range hot, with a share to match",
      segments: 8,
      drift: [drift(5, 8), drift(1, 2)],
      visits: [1, 3, 1, 1, 1, 7, 1, 1],
    },
    {
      name: "ranges outside the segments and ranges without repaired drift are ignored",
      segments: 4,
      drift: [drift(9, 50), drift(1, 0), drift(3, 40, 0), drift(2, 1)],
      visits: [1, 1, 5, 1],
    },
    {
      name: "extraShare 0.5",
      segments: 8,
      drift: [drift(4, 2)],
      extraShare: 0.5,
      visits: [1, 1, 1, 1, 5, 1, 1, 1],
    },
  ])("$name", ({ segments, drift: d, visits, extraShare }) => {
    const plan = planFocus(segments, d, extraShare === undefined ? {} : { extraShare });
    expect(counts(plan.order, segments)).toEqual(visits);
  });

  it("spreads a hot segment's visits over the pass", () => {
    const plan = planFocus(16, [drift(5, 4)]);
    // 32 visits, 17 of them to segment 5: never more than two visits apart.
    expect(plan.order).toHaveLength(32);
    expect(longestGap(plan.order, 5)).toBeLessThanOrEqual(2);
    expect(focusStretch(plan)).toBe(2);
  });

  it("says what it prioritised and why", () => {
    const plan = planFocus(8, [drift(1, 5, 3), drift(6, 9, 2)]);
    expect(plan.hot).toEqual([
      { segment: 1, visits: 6, divergences: 5, repaired: 3 },
      { segment: 6, visits: 4, divergences: 9, repaired: 2 },
    ]);
    expect(plan.reason).toBe(
      "hot ranges scanned more often: segment 2 6× (5 divergences, 3 repaired), segment 7 4× (9 divergences, 2 repaired); the other 6 once per pass",
    );
  });

  it("is deterministic", () => {
    const d = [drift(3, 2), drift(1, 2), drift(7, 5)];
    expect(planFocus(12, d)).toEqual(planFocus(12, [...d].reverse()));
  });
});

describe("hotFirst (a dispatched pass: one job per segment)", () => {
  it.each([
    { name: "no drift: index order", segments: 5, drift: [], order: [0, 1, 2, 3, 4], hot: [] },
    {
      name: "hottest first, then the others in index order, each once",
      segments: 8,
      drift: [drift(1, 5, 3), drift(6, 9, 9)],
      order: [6, 1, 0, 2, 3, 4, 5, 7],
      hot: [6, 1],
    },
  ])("$name", ({ segments, drift: d, order, hot }) => {
    const plan = hotFirst(planFocus(segments, d));
    expect(plan.order).toEqual(order);
    expect(focusStretch(plan)).toBe(1);
    expect(plan.hot.map((h) => [h.segment, h.visits])).toEqual(hot.map((s) => [s, 1]));
  });

  it("says what it prioritised and why", () => {
    expect(hotFirst(planFocus(8, [drift(1, 5, 3), drift(6, 9, 2)])).reason).toBe(
      "hot ranges submitted first: segment 2 (5 divergences, 3 repaired), segment 7 (9 divergences, 2 repaired); the other 6 after them, each once per pass (one job per segment)",
    );
  });
});

describe("visitOrder", () => {
  it("drops indexes out of range and appends the segments never visited", () => {
    expect(visitOrder([2, 2, 7, -1, 1.5, 0], 4)).toEqual([2, 2, 0, 1, 3]);
  });
});
