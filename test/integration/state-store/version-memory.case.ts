/** VersionMemory cases: the highest version seen is kept, within a call and across processes. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { range, type StateStoreCase } from "./state-store-case.js";

export function versionMemoryCases({ open }: StateStoreCase): void {
  describe("versions", () => {
    it("keeps the highest version seen per key and replica unless told to overwrite", async () => {
      const store = await open();
      await store.rememberVersions("users", [
        { key: ["1"], replica: "a", version: { counter: "5" } },
        { key: ["1"], replica: "b", version: { counter: "3" } },
        { key: ["2"], replica: "a", version: { counter: "1" } },
      ]);
      await store.rememberVersions("users", [
        { key: ["1"], replica: "a", version: { counter: "4" } }, // lower: kept at 5
        { key: ["1"], replica: "b", version: { counter: "7" } }, // higher: taken
        { key: ["2"], replica: "a", version: { counter: "9" } },
        { key: ["2"], replica: "a", version: { counter: "8" } }, // lower than the one just before it
      ]);
      await store.rememberVersions("orders", [{ key: ["1"], replica: "a", version: { counter: "1" } }]);

      const seen = await store.lastSeenVersions("users", [["1"], ["2"], ["3"]]);
      expect([...seen.keys()]).toEqual(['["1"]', '["2"]']);
      expect(seen.get('["1"]')).toEqual({ a: { counter: "5" }, b: { counter: "7" } });
      expect(seen.get('["2"]')).toEqual({ a: { counter: "9" } });
      expect(await store.lastSeenVersions("users", [])).toEqual(new Map());

      await store.rememberVersions("users", [{ key: ["1"], replica: "a", version: { counter: "2" } }], {
        overwrite: true,
      });
      expect((await store.lastSeenVersions("users", [["1"]])).get('["1"]')).toEqual({
        a: { counter: "2" },
        b: { counter: "7" },
      });
      expect((await store.lastSeenVersions("orders", [["1"]])).get('["1"]')).toEqual({
        a: { counter: "1" },
      });
    });

    it("keeps concurrent versions (neither is lower) as the latest observed", async () => {
      const store = await open();
      await store.rememberVersions("users", [
        { key: ["1"], replica: "a", version: { vector: { x: "2", y: "1" } } },
      ]);
      await store.rememberVersions("users", [
        { key: ["1"], replica: "a", version: { vector: { x: "1", y: "2" } } },
      ]);
      expect((await store.lastSeenVersions("users", [["1"]])).get('["1"]')).toEqual({
        a: { vector: { x: "1", y: "2" } },
      });
    });

    it("keeps the highest version when several stores remember the same keys at once", async () => {
      const stores = await Promise.all(range(1, 3).map(() => open()));
      const keys = range(1, 300).map((n) => [String(n)]);
      // Each store remembers counters 1 … 12 for every key, in an order of its own.
      await Promise.all(
        stores.flatMap((store, s) =>
          range(1, 12)
            .sort((x, y) => ((x * (s + 5)) % 13) - ((y * (s + 5)) % 13))
            .map((counter) =>
              store.rememberVersions(
                "users",
                keys.map((key) => ({ key, replica: "a", version: { counter: String(counter) } })),
              ),
            ),
        ),
      );
      const seen = await stores[0]!.lastSeenVersions("users", keys);
      expect(seen.size).toBe(keys.length);
      for (const versions of seen.values()) expect(versions).toEqual({ a: { counter: "12" } });
    });
  });
}
