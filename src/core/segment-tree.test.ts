import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  childrenOf,
  compareNodes,
  leafHash,
  parentHash,
  pathsOf,
  siblingsToRead,
  treeHeight,
  updatePaths,
} from "./segment-tree.js";

/** A tree held as a map `level:index` → hash, updated the way the state stores do (read siblings, write paths). */
function update(tree: Map<string, string>, leaves: number, changed: Map<number, string | undefined>): number {
  const reads = siblingsToRead(leaves, changed.keys());
  const writes = updatePaths(leaves, changed, (level, index) => tree.get(`${level}:${index}`));
  for (const w of writes)
    if (w.hash === undefined) tree.delete(`${w.level}:${w.index}`);
    else tree.set(`${w.level}:${w.index}`, w.hash);
  return reads.length + writes.length;
}

/** The root of leaves built from scratch (undefined when any leaf is unknown). */
function rootOf(leaves: readonly (string | undefined)[]): string | undefined {
  let level: (string | undefined)[] = [...leaves];
  while (level.length > 1) {
    const next: (string | undefined)[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const l = level[i];
      const hasRight = i + 1 < level.length;
      const r = hasRight ? level[i + 1] : undefined;
      next.push(l === undefined || (hasRight && r === undefined) ? undefined : parentHash(l, r));
    }
    level = next;
  }
  return level[0];
}

/** Descends from the roots of `trees`, as the engine does a level at a time; counts nodes compared. */
function descend(trees: readonly Map<string, string>[], leaves: number) {
  let level = treeHeight(leaves);
  let indexes = [0];
  let compared = 0;
  for (;;) {
    const step = compareNodes(
      indexes.map((index) => ({ index, hashes: trees.map((t) => t.get(`${level}:${index}`)) })),
    );
    compared += indexes.length;
    if (level === 0) return { ...step, compared };
    indexes = childrenOf(leaves, level, [...step.differ, ...step.unknown]);
    level--;
  }
}

const leaf = (n: number) => leafHash({ count: n, xor: n.toString(16).padStart(16, "0") });

describe("segment tree", () => {
  it.each([
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 2],
    [5, 3],
    [1024, 10],
    [1025, 11],
  ])("a tree of %i leaves is %i levels above them", (leaves, height) => {
    expect(treeHeight(leaves)).toBe(height);
  });

  it("updates a leaf's path only: O(log n) nodes read and written, and the root equals a rebuild", () => {
    const leaves = 1000;
    const values = Array.from({ length: leaves }, (_, i) => leaf(i));
    const tree = new Map<string, string>();
    update(tree, leaves, new Map(values.map((v, i) => [i, v])));
    expect(tree.get(`${treeHeight(leaves)}:0`)).toBe(rootOf(values));
    values[517] = leaf(99_999);
    const touched = update(tree, leaves, new Map([[517, values[517]]]));
    expect(touched).toBeLessThanOrEqual(2 * (treeHeight(leaves) + 1));
    expect(tree.get(`${treeHeight(leaves)}:0`)).toBe(rootOf(values));
  });

  it("makes a stale leaf's path unknown up to the root, and only that path", () => {
    const leaves = 5;
    const tree = new Map<string, string>();
    update(tree, leaves, new Map([0, 1, 2, 3, 4].map((i) => [i, leaf(i)])));
    expect(pathsOf(leaves, [4])).toEqual([
      { level: 0, index: 4 },
      { level: 1, index: 2 },
      { level: 2, index: 1 },
      { level: 3, index: 0 },
    ]);
    update(tree, leaves, new Map([[4, undefined]]));
    expect(tree.has("3:0")).toBe(false);
    expect(tree.has("2:1")).toBe(false);
    expect(tree.get("2:0")).toBe(rootOf([0, 1, 2, 3].map(leaf)));
  });

  it("a node with only a left child is not its child's hash (a tree of 3 differs from one of 4 with a copy)", () => {
    expect(rootOf([leaf(1), leaf(2), leaf(3)])).not.toBe(rootOf([leaf(1), leaf(2), leaf(3), leaf(3)]));
    expect(rootOf([leaf(1)])).toBe(leaf(1));
  });

  it.each([
    ["equal trees: one comparison", [1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [], [], 1],
    ["one leaf differs", [1, 2, 3, 4, 5], [1, 2, 7, 4, 5], [2], [], 7],
    ["an unknown leaf is neither equal nor differing", [1, 2, 3, 4, 5], [1, 2, 3, undefined, 5], [], [3], 7],
  ])("descends: %s", (_name, a, b, differ, unknown, compared) => {
    const leaves = a.length;
    const trees = [a, b].map((values) => {
      const tree = new Map<string, string>();
      update(
        tree,
        leaves,
        new Map(
          values.map((v, i) => [i, v === undefined ? undefined : leaf(v)] as [number, string | undefined]),
        ),
      );
      return tree;
    });
    expect(descend(trees, leaves)).toEqual({ differ, unknown, compared });
  });

  it("descent after any sequence of incremental updates names exactly the leaves a brute-force comparison does", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 2, max: 3 }),
        fc.array(
          fc.record({
            replica: fc.nat(),
            segment: fc.nat(),
            value: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 4 }),
          }),
          { maxLength: 120 },
        ),
        (leaves, replicas, updates) => {
          const values: (string | undefined)[][] = Array.from({ length: replicas }, () =>
            Array.from({ length: leaves }, () => undefined),
          );
          const trees = Array.from({ length: replicas }, () => new Map<string, string>());
          for (const u of updates) {
            const r = u.replica % replicas;
            const s = u.segment % leaves;
            const h = u.value === null ? undefined : leaf(u.value);
            values[r]![s] = h;
            update(trees[r]!, leaves, new Map([[s, h]]));
          }
          for (let r = 0; r < replicas; r++)
            expect(trees[r]!.get(`${treeHeight(leaves)}:0`)).toBe(rootOf(values[r]!));
          const differ: number[] = [];
          const unknown: number[] = [];
          for (let s = 0; s < leaves; s++) {
            const column = values.map((v) => v[s]);
            if (column.some((h) => h === undefined)) unknown.push(s);
            else if (column.some((h) => h !== column[0])) differ.push(s);
          }
          const found = descend(trees, leaves);
          expect(found.differ).toEqual(differ);
          expect(found.unknown).toEqual(unknown);
          // Complete trees: d differing leaves cost at most 2 comparisons per level per leaf, plus the root.
          if (!unknown.length)
            expect(found.compared).toBeLessThanOrEqual(1 + 2 * differ.length * treeHeight(leaves));
        },
      ),
      { numRuns: 300 },
    );
  });
});
