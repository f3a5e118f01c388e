/** SampleStore cases: order, limits, retention, all-or-nothing appends. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { range, type StateStoreCase, sample } from "./state-store-case.js";

export function sampleStoreCases({ open }: StateStoreCase): void {
  describe("samples", () => {
    const appended = [
      sample("lag", 1000.5, 0.25, { label: "a" }),
      sample("lag", 1000.5, null, { label: "b" }),
      sample("ttc", 900, 12),
      sample("lag", 1001, 3, { dataset: "orders", label: "a" }),
      sample("lag", 999.75, -1.5, { label: "a" }),
      sample("lag", 1002, 1e-9, { label: "b" }),
      sample("anomaly", 1000.5, 1),
    ];
    const [lagA, lagB, ttc, ordersLag, early, late, anomaly] = appended;

    it("lists by dataset, series and since (inclusive), oldest first, equal times as appended", async () => {
      const store = await open();
      await store.appendSamples(appended);
      expect(await store.listSamples({})).toEqual([ttc, early, lagA, lagB, anomaly, ordersLag, late]);
      expect(await store.listSamples({ dataset: "users" })).toEqual([ttc, early, lagA, lagB, anomaly, late]);
      expect(await store.listSamples({ series: "lag" })).toEqual([early, lagA, lagB, ordersLag, late]);
      expect(await store.listSamples({ dataset: "users", series: "lag", since: 1000.5 })).toEqual([
        lagA,
        lagB,
        late,
      ]);
      expect(await store.listSamples({ since: 1000.5000001 })).toEqual([ordersLag, late]);
      expect(await store.listSamples({ dataset: "none" })).toEqual([]);
      expect(await store.appendSamples([])).toBeUndefined();
    });

    it("keeps the newest `limit` and returns them oldest first; on equal times the last appended", async () => {
      const store = await open();
      await store.appendSamples(appended);
      expect(await store.listSamples({ limit: 2 })).toEqual([ordersLag, late]);
      expect(await store.listSamples({ dataset: "users", limit: 3 })).toEqual([lagB, anomaly, late]);
      expect(await store.listSamples({ dataset: "users", series: "lag", limit: 2 })).toEqual([lagB, late]);
      expect(await store.listSamples({ dataset: "users", since: 1000, limit: 10 })).toEqual([
        lagA,
        lagB,
        anomaly,
        late,
      ]);
      expect(await store.listSamples({ limit: 0 })).toEqual([]);
      // Appended later at the same time: newer.
      const tie = sample("lag", 1002, 7, { label: "c" });
      await store.appendSamples([tie]);
      expect(await store.listSamples({ series: "lag", limit: 1 })).toEqual([tie]);
      expect(await store.listSamples({ series: "lag", limit: 2 })).toEqual([late, tie]);
    });

    it("prunes every dataset's samples before a time and returns how many", async () => {
      const store = await open();
      await store.appendSamples(appended);
      expect(await store.pruneSamples(1000.5)).toBe(2);
      expect(await store.listSamples({})).toEqual([lagA, lagB, anomaly, ordersLag, late]);
      expect(await store.pruneSamples(1000.5)).toBe(0);
      expect(await store.pruneSamples(1001.5)).toBe(4);
      expect(await store.listSamples({})).toEqual([late]);
    });

    it("appends batches larger than one statement, all or nothing", async () => {
      const store = await open();
      const many = range(1, 12_001).map((n) => sample("lag", n / 4, n % 3 ? n : null));
      const bad = [...many];
      bad[7000] = { ...many[7000]!, dataset: null as unknown as string };
      await expect(store.appendSamples(bad)).rejects.toThrow();
      expect(await store.listSamples({})).toEqual([]);
      await store.appendSamples(many);
      expect(await store.listSamples({ dataset: "users", series: "lag" })).toEqual(many);
      expect(await store.listSamples({ limit: 2 })).toEqual(many.slice(-2));
    });
  });
}
