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

    it("pages, counts and lists keys in the store, runs interleaved, the last word last", async () => {
      const store = await open();
      const at = (run: string, dataset: string, i: number, cls: "missing" | "conflict" = "missing") => ({
        runId: run,
        dataset,
        key: [String(i)],
        class: cls,
        detail: { i },
      });
      // Two runs written in turns (as serve's passes of two datasets are), so neither run's rows are one
      // stretch of the table; 2,500 keys in run p: more than one page of keys.
      for (let b = 0; b < 5; b++) {
        await store.recordDivergences(
          Array.from({ length: 500 }, (_, j) =>
            at("p", j % 3 ? "users" : "orders", b * 500 + j, j % 2 ? "conflict" : "missing"),
          ),
        );
        await store.recordDivergences(Array.from({ length: 7 }, (_, j) => at("q", "users", b * 7 + j)));
      }
      // The last word on key 1 moves it last.
      await store.recordDivergences([at("p", "users", 1, "conflict")]);
      const all = await store.listDivergences("p");
      expect(all).toHaveLength(2500);
      expect(all.at(-1)).toMatchObject({ key: ["1"], class: "conflict" });
      expect(await store.countDivergences("p")).toBe(2500);
      expect(await store.countDivergences("q")).toBe(35);
      expect(await store.countDivergences("none")).toBe(0);
      const users = all.filter((d) => d.dataset === "users");
      expect(await store.countDivergences("p", { dataset: "users" })).toBe(users.length);
      const usersConflicts = users.filter((d) => d.class === "conflict");
      expect(await store.countDivergences("p", { dataset: "users", class: "conflict" })).toBe(
        usersConflicts.length,
      );
      expect(
        await store.listDivergences("p", { dataset: "users", class: "conflict", offset: 10, limit: 25 }),
      ).toEqual(usersConflicts.slice(10, 35));
      expect(await store.listDivergences("p", { offset: 2490 })).toEqual(all.slice(2490));
      expect(await store.listDivergences("p", { offset: 2500, limit: 5 })).toEqual([]);
      expect(await store.listDivergences("none", { limit: 5 })).toEqual([]);
      const keys: { dataset: string; key: unknown }[] = [];
      for await (const k of store.keysOfRun("p")) keys.push(k);
      expect(keys).toEqual(all.map((d) => ({ dataset: d.dataset, key: d.key })));
      const none: unknown[] = [];
      for await (const k of store.keysOfRun("none")) none.push(k);
      expect(none).toEqual([]);
    });
  });
}
