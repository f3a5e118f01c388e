/** DivergenceStore cases: one divergence per (run, key), the last word last. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { StateStoreCase } from "./state-store-case.js";

export function divergenceStoreCases({ open }: StateStoreCase): void {
  describe("divergences", () => {
    it("records divergences per run; the same key again replaces it and moves it last", async () => {
      const store = await open();
      await store.recordDivergences([
        { runId: "run-1", dataset: "users", key: ["1"], class: "missing", detail: { on: ["b"] } },
        { runId: "run-1", dataset: "users", key: ["2"], class: "conflict", detail: null },
        { runId: "run-2", dataset: "users", key: ["1"], class: "missing", detail: {} },
      ]);
      await store.recordDivergences([
        { runId: "run-1", dataset: "users", key: ["1"], class: "conflict", detail: { again: true } },
        { runId: "run-1", dataset: "users", key: ["3"], class: "stale", detail: [1] },
        { runId: "run-1", dataset: "users", key: ["3"], class: "missing", detail: [2] },
      ]);
      expect(await store.listDivergences("run-1")).toEqual([
        { runId: "run-1", dataset: "users", key: ["2"], class: "conflict", detail: null },
        { runId: "run-1", dataset: "users", key: ["1"], class: "conflict", detail: { again: true } },
        { runId: "run-1", dataset: "users", key: ["3"], class: "missing", detail: [2] },
      ]);
      expect((await store.listDivergences("run-2")).map((d) => d.key)).toEqual([["1"]]);
      expect(await store.listDivergences("none")).toEqual([]);
    });

    it("records a call's divergences whole across its statements, each row as given, the last word last", async () => {
      // 150 rows: the SQLite store builds and binds 64 rows per statement; key 10 comes again in the third.
      const store = await open();
      const at = (i: number) => ({
        runId: "run-big",
        dataset: "items",
        key: [String(i)],
        class: i % 2 ? ("missing" as const) : ("conflict" as const),
        detail: { replicas: { a: { present: true, values: [`v${i}`, null, 'é\u0000"'] } }, n: i },
      });
      const again = { ...at(10), class: "stale" as const, detail: { again: true } };
      const rows = [
        ...Array.from({ length: 140 }, (_, i) => at(i)),
        again,
        ...Array.from({ length: 9 }, (_, i) => at(140 + i)),
      ];
      await store.recordDivergences(rows);
      const listed = await store.listDivergences("run-big");
      expect(listed).toHaveLength(149);
      expect(listed).toEqual([...rows.slice(0, 10), ...rows.slice(11, 140), again, ...rows.slice(141)]);
    });
  });
}
