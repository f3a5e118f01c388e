/** ChangeLogStore cases: consecutive seqs in order, pruning and gaps move lostThrough, compare-and-set cursors. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { StateStoreCase } from "./state-store-case.js";

export function changeLogStoreCases({ open }: StateStoreCase): void {
  describe("change log", () => {
    it("gives consecutive seqs in the order appended, per (dataset, source), and reads after a seq", async () => {
      const store = await open();
      expect(await store.changeLogHead("users", "pg")).toEqual({ last: 0, lostThrough: 0, kept: 0 });
      expect(await store.appendChanges("users", "pg", [["3"], ["1"], ["a|b", "\\N"]], 100)).toEqual({
        last: 3,
        lostThrough: 0,
        kept: 3,
      });
      expect(await store.appendChanges("users", "pg", [], 101)).toMatchObject({ last: 3 });
      await store.appendChanges("users", "pg", [["1"]], 102);
      await store.appendChanges("orders", "pg", [["9"]], 103);
      await store.appendChanges("users", "maria", [["7"]], 104);
      // Another process reads what was written.
      const second = await open();
      expect(await second.readChanges("users", "pg", 0, 10)).toEqual([
        { seq: 1, key: ["3"], at: 100 },
        { seq: 2, key: ["1"], at: 100 },
        { seq: 3, key: ["a|b", "\\N"], at: 100 },
        { seq: 4, key: ["1"], at: 102 },
      ]);
      expect((await second.readChanges("users", "pg", 1, 2)).map((c) => c.seq)).toEqual([2, 3]);
      expect(await second.readChanges("users", "pg", 4, 10)).toEqual([]);
      expect(await second.readChanges("orders", "pg", 0, 10)).toEqual([{ seq: 1, key: ["9"], at: 103 }]);
      expect(await second.readChanges("users", "maria", 0, 10)).toEqual([{ seq: 1, key: ["7"], at: 104 }]);
    });

    it("keeps seqs consecutive when several appenders race", async () => {
      const stores = [await open(), await open(), await open()];
      await Promise.all(
        stores.flatMap((s, i) =>
          Array.from({ length: 5 }, (_, j) =>
            s.appendChanges("race", "pg", [[`${i}-${j}`], [`${i}-${j}b`]], 1),
          ),
        ),
      );
      const all = await stores[0]!.readChanges("race", "pg", 0, 100);
      expect(all.map((c) => c.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      // An append's keys stay together and in order.
      for (let i = 0; i < all.length; i += 2) expect(all[i + 1]!.key[0]).toBe(`${all[i]!.key[0]}b`);
    });

    it("prunes the oldest beyond keep and marks gaps, moving lostThrough forward only", async () => {
      const store = await open();
      await store.appendChanges("users", "pg", [["1"], ["2"], ["3"], ["4"], ["5"]], 1);
      expect(await store.pruneChanges("users", "pg", 2)).toBe(3);
      expect(await store.changeLogHead("users", "pg")).toEqual({
        last: 5,
        lostThrough: 3,
        lostReason: "pruned",
        kept: 2,
      });
      expect((await store.readChanges("users", "pg", 0, 10)).map((c) => c.seq)).toEqual([4, 5]);
      expect(await store.pruneChanges("users", "pg", 2)).toBe(0);
      expect(await store.pruneChanges("users", "pg", 10)).toBe(0);
      expect((await store.changeLogHead("users", "pg")).lostThrough).toBe(3);

      // A gap takes a seq of its own, so a replica caught up to 5 is behind it too.
      await store.markChangeLogGap("users", "pg", "the slot was released");
      expect(await store.changeLogHead("users", "pg")).toEqual({
        last: 6,
        lostThrough: 6,
        lostReason: "the slot was released",
        kept: 0,
      });
      // Seqs go on after a gap.
      expect(await store.appendChanges("users", "pg", [["7"]], 2)).toMatchObject({ last: 7, kept: 1 });
      expect(await store.readChanges("users", "pg", 0, 10)).toEqual([{ seq: 7, key: ["7"], at: 2 }]);
      // A gap in an empty log still stands between cursor 0 and what follows.
      await store.markChangeLogGap("empty", "pg", "a truncate");
      expect(await store.changeLogHead("empty", "pg")).toMatchObject({ last: 1, lostThrough: 1, kept: 0 });

      await store.deleteChangeLog("users", "pg");
      await store.deleteChangeLog("users", "pg");
      expect(await store.changeLogHead("users", "pg")).toEqual({ last: 0, lostThrough: 0, kept: 0 });
    });
  });

  describe("replay cursors", () => {
    it("start at 0 and move only from where they are", async () => {
      const store = await open();
      expect(await store.getReplayCursor("users", "maria")).toBe(0);
      expect(await store.moveReplayCursor("users", "maria", 1, 5, 10)).toBe(false);
      expect(await store.moveReplayCursor("users", "maria", 0, 5, 10)).toBe(true);
      expect(await store.moveReplayCursor("users", "maria", 0, 9, 11)).toBe(false);
      expect(await store.moveReplayCursor("users", "maria", 5, 9, 12)).toBe(true);
      await store.moveReplayCursor("users", "copy", 0, 2, 13);
      await store.moveReplayCursor("orders", "maria", 0, 1, 14);
      const second = await open();
      expect(await second.getReplayCursor("users", "maria")).toBe(9);
      expect(await second.listReplayCursors("users")).toEqual([
        { replica: "copy", seq: 2, updatedAt: 13 },
        { replica: "maria", seq: 9, updatedAt: 12 },
      ]);
    });

    it("let one of two racing movers win", async () => {
      const a = await open();
      const b = await open();
      const moved = await Promise.all([
        a.moveReplayCursor("race", "r", 0, 3, 1),
        b.moveReplayCursor("race", "r", 0, 4, 1),
      ]);
      expect(moved.filter(Boolean)).toHaveLength(1);
      expect(await a.getReplayCursor("race", "r")).toBe(moved[0] ? 3 : 4);
    });
  });
}
