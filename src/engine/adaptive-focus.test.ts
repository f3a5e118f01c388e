import { describe, expect, it } from "vitest";
import type { RangeDrift } from "../learning/evidence.js";
import { AdaptiveFocus, type AdaptiveFocusOptions } from "./adaptive-focus.js";
import type { SegmentOutcome } from "./run-dataset.js";

const NOW = 1_700_000_000_000;

/** A focus over a fixed drift table; what it read (`since`) and logged are kept. */
function focusOver(drift: RangeDrift[], options: Partial<AdaptiveFocusOptions> = {}) {
  const read: number[] = [];
  const logged: string[] = [];
  const focus = new AdaptiveFocus({
    rangeDrift: async (since) => {
      read.push(since);
      return drift;
    },
    now: () => NOW,
    log: (reason) => logged.push(reason),
    ...options,
  });
  return { focus, read, logged };
}

/** A visit of segment `from` of `of` that found `found` divergences acted on (a repair each). */
function visit(from: number, of: number, found: number): SegmentOutcome {
  return {
    from,
    to: from + 1,
    of,
    scan: { divergences: [] },
    plan: { decisions: Array.from({ length: found }, () => ({ action: "repair" })) },
  } as unknown as SegmentOutcome;
}

const hot = (segment: number, n: number): RangeDrift => ({ segment, divergences: n, repaired: n });

describe("AdaptiveFocus", () => {
  it.each([
    { name: "no drift: the plain order, no stretch", drift: [], order: [0, 1, 2, 3], stretch: 1 },
    {
      name: "a hot range: visited more often, the next wait stretched by visits ÷ segments",
      drift: [hot(2, 5)],
      visits: 8,
      stretch: 2,
    },
  ])("plan: $name", async ({ drift, order, visits, stretch }) => {
    const { focus, read, logged } = focusOver(drift);
    const planned = await focus.plan(4, { extraShare: 1, windowMs: 60_000 });
    if (order) expect(planned).toEqual(order);
    if (visits) expect(planned).toHaveLength(visits);
    expect(focus.stretch).toBe(stretch);
    expect(read).toEqual([NOW - 60_000]);
    expect(focus.planned).toMatchObject({ plannedAt: NOW, since: NOW - 60_000, segments: 4 });
    expect(logged).toEqual([focus.planned!.reason]);
  });

  it("reads all the evidence without a window", async () => {
    const { focus, read } = focusOver([]);
    await focus.plan(4, {});
    expect(read).toEqual([0]);
  });

  it("on workers, the hot ranges go first, each once (hotFirst)", async () => {
    const { focus } = focusOver([hot(2, 5)], { hotFirst: true });
    expect(await focus.plan(4, { extraShare: 1 })).toEqual([2, 0, 1, 3]);
    expect(focus.stretch).toBe(1);
  });

  it("replan: the rest of the pass, logged only when its hot ranges change", async () => {
    const drift: RangeDrift[] = [];
    const { focus, logged } = focusOver(drift);
    await focus.plan(4, { extraShare: 1 });
    expect(logged).toHaveLength(1);
    expect(await focus.replan([0], 4, { extraShare: 1 })).toEqual([1, 2, 3]);
    expect(logged).toHaveLength(1);
    drift.push(hot(3, 5));
    const rest = await focus.replan([0, 1], 4, { extraShare: 1 });
    expect(rest.filter((s) => s === 3).length).toBeGreaterThan(1);
    expect(focus.stretch).toBe((2 + rest.length) / 4);
    expect(focus.planned?.visits).toBe(2 + rest.length);
    expect(logged).toHaveLength(2);
    await focus.replan([0, 1, rest[0]!], 4, { extraShare: 1 });
    expect(logged).toHaveLength(2);
  });

  it("live evidence: a visit's finding makes its range hot in the next plan; pieces count with the last", async () => {
    const { focus } = focusOver([]);
    focus.observe({ part: { index: 0, last: false } }, visit(1, 4, 3));
    expect(await focus.plan(4, { extraShare: 1 })).toEqual([0, 1, 2, 3]);
    focus.observe({ part: { index: 1, last: true } }, visit(1, 4, 3));
    const order = await focus.plan(4, { extraShare: 1 });
    expect(order.filter((s) => s === 1).length).toBeGreaterThan(1);
    expect(focus.planned?.hot.map((h) => [h.segment, h.found])).toEqual([[1, 6]]);
    // A group of several segments is not a visit of one.
    const { focus: other } = focusOver([]);
    other.observe({}, { ...visit(1, 4, 3), to: 3 });
    expect(await other.plan(4, { extraShare: 1 })).toEqual([0, 1, 2, 3]);
  });

  it("without live evidence (live: false), what visits found is not planned by", async () => {
    const { focus } = focusOver([], { live: false });
    focus.observe({}, visit(1, 4, 3));
    expect(await focus.plan(4, { extraShare: 1 })).toEqual([0, 1, 2, 3]);
  });

  it("unfocused resets the stretch", async () => {
    const { focus } = focusOver([hot(2, 5)]);
    await focus.plan(4, { extraShare: 1 });
    expect(focus.stretch).toBe(2);
    focus.unfocused();
    expect(focus.stretch).toBe(1);
  });
});
