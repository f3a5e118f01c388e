/** SegmentTreeStore cases: per-replica Merkle trees of segment checksums, and their currency under dirty marks. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { leafHash, parentHash, treeHeight } from "../../../src/core/segment-tree.js";
import type { SegmentSummary, StateStore } from "../../../src/state/state-store.js";
import type { StateStoreCase } from "./state-store-case.js";

const summary = (bounds: string[][]): SegmentSummary => ({
  dataset: "users",
  keyColumns: [{ name: "id", type: "integer" }],
  bounds,
  verifiedAt: 1,
  runId: "run-1",
  invalid: undefined,
  invalidAt: undefined,
  sweepCursor: 0,
});

/** Four bounds: five segments. */
const FIVE = [["10"], ["20"], ["30"], ["40"]];
const leaf = (n: number) => leafHash({ count: n, xor: n.toString(16).padStart(16, "0") });

/** The root of leaves built from scratch. */
function rootOf(leaves: readonly string[]): string {
  let level = [...leaves];
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(parentHash(level[i]!, level[i + 1]));
    level = next;
  }
  return level[0]!;
}

const put = (store: StateStore, replica: string, values: readonly number[], at: number, from = 0) =>
  store.putSegmentHashes(
    "users",
    replica,
    5,
    values.map((v, i) => ({ segment: from + i, hash: leaf(v) })),
    at,
  );

export function segmentTreeStoreCases({ open }: StateStoreCase): void {
  describe("segment trees", () => {
    it("keeps each replica's tree: leaves, inner nodes and root as a rebuild computes them, and a head", async () => {
      const store = await open();
      await store.putSegmentSummary(summary(FIVE));
      expect(await store.listSegmentTrees("users")).toEqual([]);
      await put(store, "a", [1, 2, 3], 100);
      // Leaves 3 and 4 unknown: the root is unknown, the known subtree's node is stored.
      let [head] = await store.listSegmentTrees("users");
      expect(head).toEqual({
        replica: "a",
        leaves: 5,
        root: undefined,
        known: 3,
        completeAt: undefined,
        hashedAt: 100,
      });
      expect(await store.getSegmentTreeNodes("users", 1, [0, 1])).toEqual([
        { replica: "a", level: 1, index: 0, hash: parentHash(leaf(1), leaf(2)), hashedAt: 100 },
      ]);
      await put(store, "a", [4, 5], 110, 3);
      [head] = await store.listSegmentTrees("users");
      expect(head).toMatchObject({ root: rootOf([1, 2, 3, 4, 5].map(leaf)), known: 5, completeAt: 110 });
      expect(treeHeight(5)).toBe(3);
      expect(await store.getSegmentTreeNodes("users", 3, [0])).toEqual([
        { replica: "a", level: 3, index: 0, hash: rootOf([1, 2, 3, 4, 5].map(leaf)), hashedAt: 110 },
      ]);

      // One leaf changed: its path is recomputed from the stored siblings.
      await put(store, "a", [9], 120, 2);
      await put(store, "b", [1, 2, 3, 4, 5], 125);
      const heads = await store.listSegmentTrees("users");
      expect(heads.map((h) => [h.replica, h.root, h.completeAt])).toEqual([
        ["a", rootOf([1, 2, 9, 4, 5].map(leaf)), 120],
        ["b", rootOf([1, 2, 3, 4, 5].map(leaf)), 125],
      ]);
      expect(
        (await store.getSegmentTreeNodes("users", 0, [2, 3])).map((n) => [n.index, n.replica, n.hash]),
      ).toEqual([
        [2, "a", leaf(9)],
        [2, "b", leaf(3)],
        [3, "a", leaf(4)],
        [3, "b", leaf(4)],
      ]);
      // Leaves outside the tree are ignored; a tree of another size replaces the replica's.
      await store.putSegmentHashes("users", "b", 5, [{ segment: 7, hash: leaf(7) }], 126);
      expect((await store.listSegmentTrees("users"))[1]?.hashedAt).toBe(125);
      await store.putSegmentHashes("users", "b", 2, [{ segment: 0, hash: leaf(1) }], 130);
      expect((await store.listSegmentTrees("users"))[1]).toEqual({
        replica: "b",
        leaves: 2,
        root: undefined,
        known: 1,
        completeAt: undefined,
        hashedAt: 130,
      });
    });

    it("forgets stale leaves and their paths, in every replica's tree; heads keep when they were complete", async () => {
      const store = await open();
      await store.putSegmentSummary(summary(FIVE));
      await put(store, "a", [1, 2, 3, 4, 5], 100);
      await put(store, "b", [1, 2, 3, 4, 5], 100);
      await store.staleSegmentHashes("users", [4]);
      for (const h of await store.listSegmentTrees("users"))
        expect(h).toMatchObject({ root: undefined, known: 4, completeAt: 100 });
      expect(await store.getSegmentTreeNodes("users", 2, [0, 1])).toHaveLength(2); // node (2,0) untouched
      await store.staleSegmentHashes("users", "all");
      expect((await store.listSegmentTrees("users")).map((h) => [h.known, h.completeAt])).toEqual([
        [0, 100],
        [0, 100],
      ]);
    });

    it("drops, with the dirty marks, the leaves hashed before them: a known leaf is current unless a mark says otherwise", async () => {
      const store = await open();
      await store.putSegmentSummary(summary(FIVE));
      await put(store, "a", [1, 2, 3, 4, 5], 100);
      await store.markSegmentsDirty("users", [1, 3], 150); // changes after the leaves were read
      await put(store, "a", [7], 160, 3); // segment 3 read again after its mark
      // Marks at or before 200 go: segment 1's leaf (read at 100) goes with its mark, segment 3's stays.
      await store.clearDirtySegments("users", [1, 3], 200);
      expect(await store.listDirtySegments("users")).toEqual([]);
      expect((await store.getSegmentTreeNodes("users", 0, [0, 1, 2, 3, 4])).map((n) => n.index)).toEqual([
        0, 2, 3, 4,
      ]);
      expect((await store.listSegmentTrees("users"))[0]).toMatchObject({ root: undefined, known: 4 });
      expect(await store.getSegmentTreeNodes("users", 1, [0, 1])).toEqual([
        { replica: "a", level: 1, index: 1, hash: parentHash(leaf(3), leaf(7)), hashedAt: 160 },
      ]);

      // A verified whole pass drops the marks made before it began, and the leaves hashed before them.
      await put(store, "a", [2], 210, 1);
      await store.markSegmentsDirty("users", [0], 220);
      await store.markSegmentsDirty("users", [4], 300);
      await store.verifySegmentSummary("users", "run-2", 250);
      expect((await store.listDirtySegments("users")).map((d) => d.segment)).toEqual([4]);
      expect((await store.getSegmentTreeNodes("users", 0, [0, 1, 2, 3, 4])).map((n) => n.index)).toEqual([
        1, 2, 3, 4,
      ]);

      // Other bounds: the trees go with the marks; the same bounds keep them.
      await store.putSegmentSummary({ ...summary(FIVE), sweepCursor: 2 });
      expect(await store.listSegmentTrees("users")).toHaveLength(1);
      await store.putSegmentSummary(summary([["15"]]));
      expect(await store.listSegmentTrees("users")).toEqual([]);
      await store.putSegmentHashes("users", "a", 2, [{ segment: 0, hash: leaf(1) }], 400);
      await store.deleteSegmentSummary("users");
      expect(await store.listSegmentTrees("users")).toEqual([]);
      expect(await store.getSegmentTreeNodes("users", 0, [0])).toEqual([]);
    });
  });
}
