/**
 * Descending segment trees held in a real (in-memory SQLite) state store: equal roots settle everything in
 * one comparison, a differing leaf is found level by level, and a leaf with a younger dirty mark is not
 * trusted (its subtree, up to the root, counts as unknown).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { leafHash, treeHeight } from "../../src/core/segment-tree.js";
import { compareSegmentTrees, staleMarks, viewSegmentTrees } from "../../src/engine/segment-trees.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";

const LEAVES = 37;
const leaf = (n: number) => leafHash({ count: n, xor: n.toString(16).padStart(16, "0") });
const all = (value: (s: number) => number) =>
  Array.from({ length: LEAVES }, (_, s) => ({ segment: s, hash: leaf(value(s)) }));

let state: SqliteStateStore;

beforeEach(async () => {
  state = SqliteStateStore.open(":memory:");
  await state.putSegmentSummary({
    dataset: "d",
    keyColumns: [{ name: "id", type: "integer" }],
    bounds: Array.from({ length: LEAVES - 1 }, (_, i) => [String((i + 1) * 10)]),
    verifiedAt: 1,
    runId: "r",
    invalid: undefined,
    invalidAt: undefined,
    sweepCursor: 0,
  });
});

afterEach(async () => {
  await state.close();
});

describe("compareSegmentTrees", () => {
  it("settles equal trees at the root, in one read", async () => {
    for (const r of ["a", "b", "c"])
      await state.putSegmentHashes(
        "d",
        r,
        LEAVES,
        all((s) => s),
        100,
      );
    expect(await compareSegmentTrees(state, "d", ["a", "b", "c"], LEAVES, new Set())).toEqual({
      rootsAgree: true,
      differ: [],
      unknown: [],
      compared: 1,
      reads: 1,
    });
    expect(await viewSegmentTrees(state, "d")).toMatchObject({
      segments: LEAVES,
      agree: true,
      completeAt: 100,
    });
  });

  it("finds differing leaves in O(d log n) comparisons, a level per read", async () => {
    await state.putSegmentHashes(
      "d",
      "a",
      LEAVES,
      all((s) => s),
      100,
    );
    await state.putSegmentHashes(
      "d",
      "b",
      LEAVES,
      all((s) => (s === 5 || s === 36 ? 1000 + s : s)),
      100,
    );
    const found = await compareSegmentTrees(state, "d", ["a", "b"], LEAVES, new Set());
    expect(found).toMatchObject({
      rootsAgree: false,
      differ: [5, 36],
      unknown: [],
      reads: treeHeight(LEAVES) + 1,
    });
    expect(found.compared).toBeLessThanOrEqual(1 + 2 * 2 * treeHeight(LEAVES));
    expect(await viewSegmentTrees(state, "d")).toMatchObject({ agree: false });
  });

  it("does not trust a leaf a younger mark lies on: its path counts as unknown", async () => {
    for (const r of ["a", "b"])
      await state.putSegmentHashes(
        "d",
        r,
        LEAVES,
        all((s) => s),
        100,
      );
    await state.markSegmentsDirty("d", [12], 150);
    const marks = await state.listDirtySegments("d");
    // Marked after every leaf was read: stale.
    expect(staleMarks(marks, undefined)).toEqual(new Set([12]));
    const hashed = {
      leaves: new Map([
        ["a", new Map([[12, leaf(12)]])],
        ["b", new Map([[12, leaf(12)]])],
      ]),
      readAt: 200,
      parts: new Map(),
      sums: new Map(),
    };
    expect(staleMarks(marks, hashed)).toEqual(new Set());
    expect(staleMarks(marks, { ...hashed, readAt: 140 })).toEqual(new Set([12]));
    expect(await compareSegmentTrees(state, "d", ["a", "b"], LEAVES, new Set([12]))).toMatchObject({
      rootsAgree: false,
      differ: [],
      unknown: [12],
    });
    expect(await viewSegmentTrees(state, "d")).toMatchObject({ dirty: 1, stale: 1, agree: null });
  });

  it("reports an incomplete tree as unknown where it is, and its known differences", async () => {
    await state.putSegmentHashes(
      "d",
      "a",
      LEAVES,
      all((s) => s),
      100,
    );
    await state.putSegmentHashes("d", "b", LEAVES, all((s) => (s === 3 ? 99 : s)).slice(0, 30), 100);
    const found = await compareSegmentTrees(state, "d", ["a", "b"], LEAVES, new Set());
    expect(found).toMatchObject({ rootsAgree: false, differ: [3], unknown: [30, 31, 32, 33, 34, 35, 36] });
    expect(await viewSegmentTrees(state, "d")).toMatchObject({ agree: null, completeAt: null });
  });
});
