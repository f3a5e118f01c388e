/** DivergentKeys cases: marks commute, takes are exclusive. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { keyId } from "../../../src/core/model.js";
import { range, type StateStoreCase } from "./state-store-case.js";

export function divergentKeysCases({ open }: StateStoreCase): void {
  describe("divergent keys", () => {
    const k = (n: number) => keyId([String(n), `part|"${n}"`]);
    /** A taken map as [key, firstSeen] pairs, so that its order is compared too. */
    const entries = (taken: Map<string, number>) => [...taken];

    it("counts a dataset's tracked keys and reads one key's first and last seen", async () => {
      const store = await open();
      expect(await store.countDivergent("users")).toBe(0);
      expect(await store.getDivergent("users", k(1))).toBeUndefined();
      await store.markDivergent("users", [k(1), k(2)], 100);
      await store.markDivergent("users", [k(1)], 150.5);
      await store.markDivergent("orders", [k(1)], 7);
      expect(await store.countDivergent("users")).toBe(2);
      expect(await store.countDivergent("orders")).toBe(1);
      expect(await store.getDivergent("users", k(1))).toEqual({ firstSeen: 100, lastSeen: 150.5 });
      await store.takeDivergent("users", [k(1)]);
      expect(await store.getDivergent("users", k(1))).toBeUndefined();
      expect(await store.countDivergent("users")).toBe(1);
    });

    it("keeps the earliest first seen and the latest last seen of a key's marks", async () => {
      const store = await open();
      await store.markDivergent("users", [k(1), k(2)], 100);
      await store.markDivergent("users", [k(2), k(3)], 200.5);
      expect(await store.purgeDivergent("users", 100)).toBe(0); // k1 was last seen at 100: not before it
      expect(entries(await store.takeDivergent("users", [k(4), k(3), k(1), k(2), k(3)]))).toEqual([
        [k(3), 200.5],
        [k(1), 100],
        [k(2), 100],
      ]);
      expect(await store.takeDivergent("users", [k(1), k(2), k(3)])).toEqual(new Map());

      // A mark with an earlier time (another process's clock) moves first seen back, never last seen.
      await store.markDivergent("users", [k(5)], 300);
      await store.markDivergent("users", [k(5)], 250);
      expect(await store.purgeDivergent("users", 300)).toBe(0);
      expect(entries(await store.takeDivergent("users", [k(5)]))).toEqual([[k(5), 250]]);

      await store.markDivergent("users", [], 1);
      expect(await store.takeDivergent("users", [])).toEqual(new Map());
    });

    it("purges by last seen and keeps datasets apart", async () => {
      const store = await open();
      await store.markDivergent("users", [k(1), k(3)], 10);
      await store.markDivergent("users", [k(2)], 20);
      await store.markDivergent("users", [k(3)], 30);
      await store.markDivergent("orders", [k(1), k(9)], 5);
      expect(await store.purgeDivergent("users", 20)).toBe(1);
      expect(entries(await store.takeDivergent("users", [k(1), k(2), k(3), k(9)]))).toEqual([
        [k(2), 20],
        [k(3), 10],
      ]);
      expect(entries(await store.takeDivergent("orders", [k(1), k(9)]))).toEqual([
        [k(1), 5],
        [k(9), 5],
      ]);
      expect(await store.purgeDivergent("users", Number.MAX_VALUE)).toBe(0);
    });

    it("marks, purges and takes 10,000 keys in one call each", async () => {
      const store = await open();
      const keys = range(1, 10_000).map(k);
      const even = keys.filter((_, i) => i % 2);
      await store.markDivergent("users", keys, 5.5);
      // Repeated keys in one call count once.
      await store.markDivergent("users", [...even, ...even.slice(0, 100)], 7);
      expect(await store.purgeDivergent("users", 6)).toBe(5000);
      const taken = await store.takeDivergent("users", keys);
      expect(entries(taken)).toEqual(even.map((key) => [key, 5.5]));
      expect(await store.takeDivergent("users", keys)).toEqual(new Map());
    });

    it("takes a key with a lone surrogate as it was marked", async () => {
      const store = await open();
      await store.markDivergent("users", ["a\uD800", "b"], 1);
      expect(entries(await store.takeDivergent("users", ["a\uD800"]))).toEqual([["a\uD800", 1]]);
      expect(entries(await store.takeDivergent("users", ["b"]))).toEqual([["b", 1]]);
    });

    it("ends with the earliest first seen and latest last seen when two stores mark at once", async () => {
      const [a, b] = [await open(), await open()];
      const onlyA = range(1, 100).map(k);
      const both = range(101, 300).map(k);
      const onlyB = range(301, 400).map(k);
      const keysA = [...onlyA, ...both];
      const keysB = [...onlyB, ...both].reverse();
      // Neither the earliest nor the latest time is marked first or last.
      await Promise.all([
        a.markDivergent("users", keysA, 300),
        b.markDivergent("users", keysB, 250),
        a.markDivergent("users", keysA, 100),
        b.markDivergent("users", keysB, 350),
        b.markDivergent("users", keysB, 50),
        a.markDivergent("users", keysA, 200),
      ]);
      expect(await a.purgeDivergent("users", 300)).toBe(0);
      // Only A's keys were last seen at 300.
      expect(await b.purgeDivergent("users", 350)).toBe(onlyA.length);
      const all = [...onlyA, ...both, ...onlyB];
      expect(entries(await a.takeDivergent("users", all))).toEqual(
        [...both, ...onlyB].map((key) => [key, 50]),
      );
    });

    it("gives each key to exactly one of several stores taking it at once", async () => {
      const stores = await Promise.all(range(1, 3).map(() => open()));
      const keys = range(1, 3000).map(k);
      for (let round = 1; round <= 3; round++) {
        await stores[0]!.markDivergent("users", keys, round);
        const taken = await Promise.all(
          stores.map((store, s) =>
            store.takeDivergent("users", s % 2 ? [...keys].reverse() : keys.slice(s * 500)),
          ),
        );
        const got = taken.flatMap((m) => [...m.keys()]);
        expect(got.length).toBe(keys.length);
        expect(new Set(got).size).toBe(keys.length);
        for (const m of taken) for (const seen of m.values()) expect(seen).toBe(round);
      }
    });
  });
}
