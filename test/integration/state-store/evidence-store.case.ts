/** EvidenceStore cases: increments add up per cell, readers sum them, roll-up and retention keep totals bounded. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { EvidenceIncrement } from "../../../src/state/state-store.js";
import type { StateStoreCase } from "./state-store-case.js";

const H = 3_600_000;
const DAY = 24 * H;
/** Midnight UTC of some day, so hours and days are easy to read. */
const T0 = 20_000 * DAY;

const inc = (over: Partial<EvidenceIncrement> & Pick<EvidenceIncrement, "counts">): EvidenceIncrement => ({
  dataset: "users",
  replica: "",
  column: "",
  segment: 0,
  class: "stale",
  facet: "",
  at: T0 + 1000,
  ...over,
});

export function evidenceStoreCases({ open, sql }: StateStoreCase): void {
  describe("evidence", () => {
    it("adds increments to their cell, across calls and stores, without rereading anything", async () => {
      const a = await open();
      const b = await open();
      await a.addEvidence([
        inc({ replica: "a", counts: { settled: 1 } }),
        inc({ replica: "b", counts: { settled: 1, lost: 1 } }),
        inc({ replica: "b", column: "price", counts: { settled: 1, lost: 1 } }),
        inc({ replica: "b", counts: { settled: 1, lost: 1 }, at: T0 + 2000 }),
      ]);
      await b.addEvidence([
        inc({ replica: "b", counts: { settled: 2, lost: 1, personSettled: 1, personLost: 1 } }),
        inc({ replica: "a", dataset: "orders", counts: { settled: 5, lost: 5 } }),
        // Counts nothing: no cell.
        inc({ replica: "c", counts: { settled: 0 } }),
      ]);
      expect(await a.replicaEvidence("users")).toEqual([
        { replica: "a", column: undefined, settled: 1, lost: 0 },
        { replica: "b", column: undefined, settled: 4, lost: 3 },
        { replica: "b", column: "price", settled: 1, lost: 1 },
      ]);
      expect(await b.replicaEvidence("orders")).toEqual([
        { replica: "a", column: undefined, settled: 5, lost: 5 },
      ]);
      // Same cell (same hour) twice in one call and once more in another: one row.
      const rows = await sql("SELECT COUNT(*) AS n FROM evidence WHERE replica = 'b' AND col = ''");
      expect(Number(rows[0]!.n)).toBe(1);
      const [total] = await a.evidenceTotals({ dataset: "users", by: ["replica"], replica: "b", column: "" });
      expect(total).toMatchObject({ replica: "b", settled: 4, lost: 3, personSettled: 1, personLost: 1 });
      expect(total!.lastAt).toBe(T0 + 2000);
      await a.close();
      await b.close();
    });

    it("concurrent additions to the same cells lose nothing", async () => {
      const stores = await Promise.all([open(), open(), open()]);
      await Promise.all(
        stores.flatMap((s, i) =>
          Array.from({ length: 5 }, (_, n) =>
            s.addEvidence([
              inc({ replica: "a", counts: { divergences: 1, convergedMs: 0.5 } }),
              inc({ replica: "b", counts: { divergences: 2 }, at: T0 + i * 10 + n }),
            ]),
          ),
        ),
      );
      const totals = await stores[0]!.evidenceTotals({ dataset: "users", by: ["replica"] });
      expect(totals.map((t) => [t.replica, t.divergences, t.convergedMs])).toEqual([
        ["a", 15, 7.5],
        ["b", 30, 0],
      ]);
      for (const s of stores) await s.close();
    });

    it("groups totals by any dimensions, filtered by replica, column and time", async () => {
      const store = await open();
      await store.addEvidence([
        inc({ segment: 2, class: "stale", counts: { divergences: 3, repaired: 2 } }),
        inc({ segment: 2, class: "conflict", counts: { divergences: 1, selfConverged: 1 }, at: T0 + 5 * H }),
        inc({ segment: 7, class: "stale", counts: { divergences: 4, repaired: 4 }, at: T0 + 5 * H + 1 }),
        inc({ segment: 7, column: "price", counts: { divergences: 4 }, at: T0 + 5 * H + 1 }),
        inc({ segment: -1, facet: "region=eu", counts: { divergences: 1 }, at: T0 + 6 * H }),
        inc({ replica: "a", segment: 7, column: "price", counts: { lost: 1, settled: 1 } }),
      ]);
      const bySegment = await store.evidenceTotals({
        dataset: "users",
        by: ["segment"],
        replica: "",
        column: "",
      });
      expect(bySegment.map((t) => [t.segment, t.divergences, t.repaired, t.selfConverged])).toEqual([
        [-1, 1, 0, 0],
        [2, 4, 2, 1],
        [7, 4, 4, 0],
      ]);
      const byBucket = await store.evidenceTotals({
        dataset: "users",
        by: ["bucket"],
        replica: "",
        column: "",
      });
      expect(byBucket.map((t) => [t.bucket, t.spanHours, t.divergences])).toEqual([
        [T0, 1, 3],
        [T0 + 5 * H, 1, 5],
        [T0 + 6 * H, 1, 1],
      ]);
      const recent = await store.evidenceTotals({
        dataset: "users",
        by: ["class", "facet"],
        replica: "",
        since: T0 + 5 * H + 30,
      });
      expect(recent.map((t) => [t.class, t.facet, t.divergences])).toEqual([
        ["conflict", "", 1],
        ["stale", "", 8],
        ["stale", "region=eu", 1],
      ]);
      // No grouping: one row, the dataset's totals; an unknown dataset's are zero.
      expect((await store.evidenceTotals({ dataset: "users", by: [] }))[0]).toMatchObject({
        divergences: 13,
        settled: 1,
      });
      expect((await store.evidenceTotals({ dataset: "nobody", by: [] }))[0]).toMatchObject({
        divergences: 0,
        lastAt: 0,
      });
      expect(await store.rangeDrift("users", T0 + 5 * H)).toEqual([
        { segment: 2, divergences: 1, repaired: 0, lastSeenAt: T0 + 5 * H },
        { segment: 7, divergences: 4, repaired: 4, lastSeenAt: T0 + 5 * H + 1 },
      ]);
      expect(await store.rangeDrift("users", 0)).toEqual([
        { segment: 2, divergences: 4, repaired: 2, lastSeenAt: T0 + 5 * H },
        { segment: 7, divergences: 4, repaired: 4, lastSeenAt: T0 + 5 * H + 1 },
      ]);
      await store.close();
    });

    it("reads each replica's freshness per key range and hour inside a window, column and dataset-wide cells left out", async () => {
      const store = await open();
      await store.addEvidence([
        inc({ replica: "a", segment: 1, counts: { ahead: 2, observed: 2 } }),
        inc({ replica: "a", segment: 1, counts: { ahead: 1, observed: 1 }, at: T0 + 3 * H }),
        inc({ replica: "b", segment: 1, counts: { observed: 3, behind: 3 } }),
        inc({
          replica: "b",
          segment: -1,
          class: "",
          counts: { observed: 1, behind: 1, probed: 1, lagMs: 1250 },
        }),
        // An older hour, a column cell, the dataset as a whole and another dataset: not read.
        inc({ replica: "a", segment: 1, counts: { ahead: 7, observed: 7 }, at: T0 - 2 * H }),
        inc({ replica: "a", column: "price", segment: 1, counts: { ahead: 9 } }),
        inc({ replica: "", segment: 1, counts: { divergences: 3 } }),
        inc({ replica: "a", dataset: "orders", counts: { ahead: 4 } }),
        // Settled decisions only: no freshness row.
        inc({ replica: "c", segment: 1, counts: { settled: 2 } }),
      ]);
      expect(await store.activityEvidence("users", T0)).toEqual([
        { replica: "a", segment: 1, bucket: T0, ahead: 2, observed: 2, behind: 0, probed: 0, lagMs: 0 },
        {
          replica: "a",
          segment: 1,
          bucket: T0 + 3 * H,
          ahead: 1,
          observed: 1,
          behind: 0,
          probed: 0,
          lagMs: 0,
        },
        { replica: "b", segment: -1, bucket: T0, ahead: 0, observed: 1, behind: 1, probed: 1, lagMs: 1250 },
        { replica: "b", segment: 1, bucket: T0, ahead: 0, observed: 3, behind: 3, probed: 0, lagMs: 0 },
      ]);
      expect((await store.activityEvidence("users", 0))[0]).toMatchObject({ bucket: T0 - 2 * H, ahead: 7 });
      // Rolling up keeps the counts (the day bucket from T0 holds both hours and still ends after T0).
      await store.rollUpEvidence(T0 + DAY);
      expect((await store.activityEvidence("users", T0))[0]).toMatchObject({
        replica: "a",
        bucket: T0,
        ahead: 3,
      });
      await store.close();
    });

    it("rolls hour buckets up into days without changing totals, and prunes past retention", async () => {
      const store = await open();
      const day = (d: number, h: number) => T0 + d * DAY + h * H + 7;
      await store.addEvidence([
        inc({ replica: "a", counts: { settled: 1, lost: 1 }, at: day(0, 1) }),
        inc({ replica: "a", counts: { settled: 2 }, at: day(0, 23) }),
        inc({ replica: "a", counts: { settled: 4, lost: 1 }, at: day(1, 3) }),
        inc({ replica: "a", counts: { settled: 8 }, at: day(2, 0) }),
      ]);
      const before = await store.replicaEvidence("users");
      expect(await store.rollUpEvidence(T0 + 2 * DAY)).toBe(3);
      // Idempotent: nothing left to merge.
      expect(await store.rollUpEvidence(T0 + 2 * DAY)).toBe(0);
      expect(await store.replicaEvidence("users")).toEqual(before);
      const buckets = await store.evidenceTotals({ dataset: "users", by: ["bucket"] });
      expect(buckets.map((t) => [t.bucket, t.spanHours, t.settled, t.lastAt])).toEqual([
        [T0, 24, 3, day(0, 23)],
        [T0 + DAY, 24, 4, day(1, 3)],
        [T0 + 2 * DAY, 1, 8, day(2, 0)],
      ]);
      // An increment into an hour already rolled up lands in an hour bucket; the next roll-up adds it to the day.
      await store.addEvidence([inc({ replica: "a", counts: { settled: 16 }, at: day(0, 5) })]);
      expect(await store.rollUpEvidence(T0 + DAY)).toBe(1);
      expect((await store.evidenceTotals({ dataset: "users", by: ["bucket"] }))[0]).toMatchObject({
        bucket: T0,
        spanHours: 24,
        settled: 19,
      });
      // A day bucket ends at its day's end: it stays until retention passes that.
      expect(await store.pruneEvidence(T0 + DAY - 1)).toBe(0);
      expect(await store.pruneEvidence(T0 + DAY)).toBe(1);
      expect(await store.replicaEvidence("users")).toEqual([
        { replica: "a", column: undefined, settled: 12, lost: 1 },
      ]);
      await store.close();
    });

    it("keeps noiseMax as a maximum through additions, stores and roll-ups, and sums noise", async () => {
      const a = await open();
      const b = await open();
      await a.addEvidence([
        inc({ column: "price", counts: { noise: 1, noiseMax: 0.25 }, at: T0 + 1000 }),
        inc({ column: "price", counts: { noise: 1, noiseMax: 0.5 }, at: T0 + 2000 }),
      ]);
      await b.addEvidence([inc({ column: "price", counts: { noise: 1, noiseMax: 0.125 }, at: T0 + H })]);
      const total = async () =>
        (await a.evidenceTotals({ dataset: "users", by: ["column"], column: "price" }))[0];
      expect(await total()).toMatchObject({ noise: 3, noiseMax: 0.5 });
      await a.rollUpEvidence(T0 + DAY);
      expect(await total()).toMatchObject({ noise: 3, noiseMax: 0.5 });
      await a.close();
      await b.close();
    });

    it("refuses a non-finite time or count, and a fractional segment, writing nothing", async () => {
      const store = await open();
      await expect(
        store.addEvidence([inc({ counts: { settled: 1 } }), inc({ counts: { settled: 1 }, at: Number.NaN })]),
      ).rejects.toThrow(/time must be finite/);
      await expect(store.addEvidence([inc({ segment: 1.5, counts: { settled: 1 } })])).rejects.toThrow(
        /segment must be an integer/,
      );
      await expect(store.addEvidence([inc({ counts: { lost: Number.POSITIVE_INFINITY } })])).rejects.toThrow(
        /lost must be finite/,
      );
      expect((await store.evidenceTotals({ dataset: "users", by: [] }))[0]!.settled).toBe(0);
      await store.close();
    });
  });
}
