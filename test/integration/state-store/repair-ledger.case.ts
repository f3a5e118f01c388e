/** RepairLedger cases: unconditional records, reads and listings. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { range, refs, repair, type StateStoreCase } from "./state-store-case.js";

export function repairLedgerCases({ open }: StateStoreCase): void {
  describe("ledger records", () => {
    it("upserts by id, returns entries by id and lists them by run, id, dataset and outcome", async () => {
      const store = await open();
      await store.recordRepairs([
        repair("r1"),
        repair("r2", { dataset: "orders", before: null, after: null }),
      ]);
      await store.recordRepairs([
        repair("r1", { runId: "run-2", outcome: "failed", attempts: 2, error: "timeout", updatedAt: 2000 }),
        repair("r3", { runId: "run-2", expected: null, nextFingerprint: null }),
      ]);

      const got = await store.getRepairs(refs("r1", "r2", "missing"));
      expect([...got.keys()].sort()).toEqual(["r1", "r2"]);
      expect(got.get("r1")).toEqual(
        repair("r1", { runId: "run-2", outcome: "failed", attempts: 2, error: "timeout", updatedAt: 2000 }),
      );
      expect(got.get("r2")).toEqual(repair("r2", { dataset: "orders", before: null, after: null }));
      expect(got.get("r2")).not.toHaveProperty("error");
      expect(await store.getRepairs([])).toEqual(new Map());

      // In the order first recorded: an upsert keeps its place.
      expect((await store.listRepairs({})).map((e) => e.id)).toEqual(["r1", "r2", "r3"]);
      expect((await store.listRepairs({ runId: "run-2" })).map((e) => e.id)).toEqual(["r1", "r3"]);
      expect((await store.listRepairs({ dataset: "users" })).map((e) => e.id)).toEqual(["r1", "r3"]);
      expect((await store.listRepairs({ outcome: "pending" })).map((e) => e.id)).toEqual(["r2", "r3"]);
      expect((await store.listRepairs({ outcome: "failed", runId: "run-2" })).map((e) => e.id)).toEqual([
        "r1",
      ]);
      expect((await store.listRepairs({ id: "r3" }))[0]).toEqual(
        repair("r3", { runId: "run-2", expected: null, nextFingerprint: null }),
      );
      expect(await store.listRepairs({ runId: "run-2", dataset: "orders" })).toEqual([]);
    });

    it("clears the error when an entry is recorded again without one, and keeps attempts as given", async () => {
      const store = await open();
      await store.recordRepairs([repair("r1", { outcome: "failed", error: "boom", attempts: 3 })]);
      await store.recordRepairs([repair("r1", { outcome: "applied", attempts: 1 })]);
      const [entry] = await store.listRepairs({ id: "r1" });
      expect(entry).toEqual(repair("r1", { outcome: "applied", attempts: 1 }));
    });

    it("keeps the repair a rollback's entry undoes through records, claims and settlements; a claim without it clears it", async () => {
      const store = await open();
      await store.recordRepairs([repair("r1", { outcome: "failed", undoes: "orig" })]);
      expect((await store.getRepairs(refs("r1"))).get("r1")).toEqual(
        repair("r1", { outcome: "failed", undoes: "orig" }),
      );
      await store.claimRepairs([repair("r1", { runId: "run-2", outcome: "pending", undoes: "orig" })]);
      await store.settleRepairs(
        [{ id: "r1", key: ["1"], runId: "run-2", outcome: "rolled-back", attempts: 2, updatedAt: 3000 }],
        [],
      );
      expect((await store.listAbandonedRepairs("users", { staleBefore: 0 })).length).toBe(0);
      expect((await store.getRepairs(refs("r1"))).get("r1")).toMatchObject({
        outcome: "rolled-back",
        undoes: "orig",
      });
      // A run's own repair of the same transition claims the id again: it undoes nothing.
      await store.claimRepairs([repair("r1", { runId: "run-3", outcome: "pending" })]);
      expect((await store.getRepairs(refs("r1"))).get("r1")).not.toHaveProperty("undoes");
    });

    it("is idempotent: recording the same entries twice equals once", async () => {
      const store = await open();
      const entries = range(1, 50).map((n) => repair(`r${n}`));
      await store.recordRepairs(entries);
      await store.recordRepairs(entries);
      expect(await store.listRepairs({})).toEqual(entries);
    });

    it("takes the last word on an id given twice in one call, in the place of its first", async () => {
      const store = await open();
      await store.recordRepairs([
        repair("r1"),
        repair("r2"),
        repair("r1", { outcome: "applied", attempts: 2 }),
      ]);
      expect(await store.listRepairs({})).toEqual([
        repair("r1", { outcome: "applied", attempts: 2 }),
        repair("r2"),
      ]);
    });

    it("records batches larger than one statement", async () => {
      const store = await open();
      const entries = range(1, 12_001).map((n) => repair(`r${n}`, { updatedAt: n }));
      await store.recordRepairs(entries);
      const listed = await store.listRepairs({});
      expect(listed.length).toBe(entries.length);
      expect(listed.map((e) => e.id)).toEqual(entries.map((e) => e.id));
      expect(listed[12_000]).toEqual(entries[12_000]);
      const got = await store.getRepairs(entries);
      expect(got.size).toBe(entries.length);
      expect(got.get("r6000")).toEqual(entries[5999]);
    });

    it("lands every entry when several stores upsert overlapping ids at once, in different orders", async () => {
      const stores = await Promise.all(range(1, 4).map(() => open()));
      const ids = range(1, 300).map((n) => `r${n}`);
      await Promise.all(
        stores.flatMap((store, s) =>
          range(1, 5).map((round) => {
            const order = (s + round) % 2 ? ids : [...ids].reverse();
            return store.recordRepairs(order.map((id) => repair(id, { attempts: round, runId: `run-${s}` })));
          }),
        ),
      );
      const listed = await stores[0]!.listRepairs({});
      expect(listed.map((e) => e.id).sort()).toEqual([...ids].sort());
      // Each entry is exactly one of the versions written, never a mix.
      for (const e of listed) expect(e).toEqual(repair(e.id, { attempts: e.attempts, runId: e.runId }));
    });
  });

  describe("ledger pages", () => {
    /** Every page of `filter`, `limit` at a time: the ids of each page and whether it said more follows. */
    const allPages = async (
      store: Awaited<ReturnType<typeof open>>,
      filter: Parameters<typeof store.listRepairsPage>[0],
      limit: number,
    ) => {
      const out: string[][] = [];
      let after: string | undefined;
      do {
        const page = await store.listRepairsPage(filter, { after, limit });
        out.push(page.entries.map((e) => e.id));
        after = page.next;
      } while (after !== undefined);
      return out;
    };

    it("lists what listRepairs lists, a page at a time, in the order first recorded", async () => {
      const store = await open();
      await store.recordRepairs(
        range(1, 25).map((n) => repair(`r${n}`, { runId: n % 3 ? "run-1" : "run-2", outcome: "applied" })),
      );
      // Recorded again: keeps its place.
      await store.recordRepairs([repair("r2", { runId: "run-1", outcome: "applied", attempts: 4 })]);
      const run1 = (await store.listRepairs({ runId: "run-1", outcome: "applied" })).map((e) => e.id);
      expect(run1).toHaveLength(17);
      const pages = await allPages(store, { runId: "run-1", outcome: "applied" }, 5);
      expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 2]);
      expect(pages.flat()).toEqual(run1);
      // A last page exactly full: the next one is empty and ends the listing.
      expect((await allPages(store, { runId: "run-2" }, 4)).map((p) => p.length)).toEqual([4, 4, 0]);
      const first = await store.listRepairsPage({ runId: "run-1" }, { limit: 2 });
      expect(first.entries).toEqual([
        repair("r1", { outcome: "applied" }),
        repair("r2", { outcome: "applied", attempts: 4 }),
      ]);
      expect(await store.listRepairsPage({ runId: "nobody" }, { limit: 10 })).toEqual({ entries: [] });
    });

    it("neither repeats nor skips an entry when the entries listed change between pages", async () => {
      const store = await open();
      await store.recordRepairs(range(1, 12).map((n) => repair(`r${n}`, { outcome: "applied" })));
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = await store.listRepairsPage({ runId: "run-1", outcome: "applied" }, { after, limit: 4 });
        seen.push(...page.entries.map((e) => e.id));
        // What a rollback does between pages: marks the page's entries and records new ones (its inverses).
        await store.recordRepairs(page.entries.map((e) => ({ ...e, outcome: "rolled-back" as const })));
        await store.recordRepairs(page.entries.map((e) => repair(`inv-${e.id}`, { runId: "run-9" })));
        after = page.next;
      } while (after !== undefined);
      expect(seen).toEqual(range(1, 12).map((n) => `r${n}`));
      expect(await store.listRepairs({ runId: "run-1", outcome: "applied" })).toEqual([]);
    });

    it("counts what listRepairs lists, and from a page's next what the pages after it list", async () => {
      const store = await open();
      expect(await store.countRepairs({})).toBe(0);
      await store.recordRepairs(
        range(1, 25).map((n) =>
          repair(`r${n}`, {
            runId: n % 3 ? "run-1" : "run-2",
            dataset: n % 2 ? "users" : "orders",
            outcome: n % 4 ? "applied" : "failed",
          }),
        ),
      );
      // Recorded again: counted once.
      await store.recordRepairs([repair("r2", { runId: "run-1", dataset: "orders", outcome: "applied" })]);
      for (const filter of [
        {},
        { runId: "run-1" },
        { runId: "run-1", outcome: "applied" as const },
        { dataset: "orders", outcome: "failed" as const },
        { id: "r7" },
        { runId: "nobody" },
      ])
        expect(await store.countRepairs(filter), JSON.stringify(filter)).toBe(
          (await store.listRepairs(filter)).length,
        );
      const filter = { runId: "run-1", outcome: "applied" as const };
      const all = (await store.listRepairs(filter)).map((e) => e.id);
      let after: string | undefined;
      let read = 0;
      do {
        expect(await store.countRepairs(filter, { after })).toBe(all.length - read);
        const page = await store.listRepairsPage(filter, { after, limit: 4 });
        read += page.entries.length;
        after = page.next;
      } while (after !== undefined);
      expect(read).toBe(all.length);
      await expect(store.countRepairs({}, { after: "x'; --" })).rejects.toThrow(
        /after must be the next of an earlier page/,
      );
    });

    it("refuses a limit that is not a positive integer and a position no page gave", async () => {
      const store = await open();
      await expect(store.listRepairsPage({}, { limit: 0 })).rejects.toThrow(
        /limit must be a positive integer/,
      );
      await expect(store.listRepairsPage({}, { after: "x'; --", limit: 5 })).rejects.toThrow(
        /after must be the next of an earlier page/,
      );
    });
  });
}
