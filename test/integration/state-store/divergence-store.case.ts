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
  });
}
