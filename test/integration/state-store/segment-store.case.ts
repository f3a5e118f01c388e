/** SegmentStore cases: a run's groups round-trip in order, a redone group replaces, and retention bounds them. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { RunSegment } from "../../../src/state/state-store.js";
import type { StateStoreCase } from "./state-store-case.js";

const group = (runId: string, from: number, over: Partial<RunSegment> = {}): RunSegment => ({
  dataset: "users",
  runId,
  from,
  to: from + 1,
  of: 4,
  visit: 0,
  startedAt: 1_700_000_000_000 + from * 1000 + 0.25,
  durationMs: 812.5,
  scanMs: 400.125,
  rows: { pg: 100, "cache:eu": 99 },
  counts: { missing: 1, stale: 2 },
  repairs: { applied: 3 },
  escalated: 1,
  ...over,
});

export function segmentStoreCases({ open }: StateStoreCase): void {
  describe("run segments", () => {
    it("keeps each visit of a focused pass, listed in visit order", async () => {
      const store = await open();
      // Segment 2 is hot: visited at positions 1, 3 and 5; the others once.
      const visits = [2, 0, 2, 1, 2, 3].map((from, i) => group("run-f", from, { visit: i + 1 }));
      for (const v of [...visits].reverse()) await store.recordSegment(v);
      const listed = await store.listSegments("run-f");
      expect(listed.map((s) => [s.visit, s.from])).toEqual(visits.map((v) => [v.visit, v.from]));
      // Recording a visit again replaces it (a retried group), it does not add one.
      await store.recordSegment({ ...visits[2]!, durationMs: 1 });
      const again = await store.listSegments("run-f");
      expect(again).toHaveLength(6);
      expect(again[2]!.durationMs).toBe(1);
    });

    it("round-trips a run's groups by segment, and a redone group replaces the one it redoes", async () => {
      const store = await open();
      expect(await store.listSegments("run-1")).toEqual([]);
      const g2 = group("run-1", 2, { to: 4, counts: {}, repairs: {}, rows: {}, escalated: 0 });
      const g0 = group("run-1", 0, { to: 2 });
      await store.recordSegment(g2);
      await store.recordSegment(g0);
      await store.recordSegment(group("run-2", 0));
      expect(await store.listSegments("run-1")).toEqual([g0, g2]);
      // A resumed pass redoes the group from 2, cut anew.
      const redone = group("run-1", 2, { to: 3, durationMs: 5 });
      await store.recordSegment(redone);
      // Another process reads what was written.
      const second = await open();
      expect(await second.listSegments("run-1")).toEqual([g0, redone]);
      expect(await second.listSegments("run-2")).toEqual([group("run-2", 0)]);
    });

    it("keeps the dataset's most recent runs and prunes by age", async () => {
      const store = await open();
      // run-a is older than run-b, whose latest group is older than run-c's.
      await store.recordSegment(group("run-a", 0, { startedAt: 100 }));
      await store.recordSegment(group("run-a", 1, { startedAt: 150 }));
      await store.recordSegment(group("run-b", 0, { startedAt: 200 }));
      await store.recordSegment(group("run-c", 0, { startedAt: 120 }));
      await store.recordSegment(group("run-c", 1, { startedAt: 300 }));
      await store.recordSegment(group("other", 0, { dataset: "orders", startedAt: 50 }));
      expect(await store.keepSegmentRuns("users", 2)).toBe(2);
      expect(await store.listSegments("run-a")).toEqual([]);
      expect((await store.listSegments("run-b")).length).toBe(1);
      expect((await store.listSegments("run-c")).length).toBe(2);
      // Another dataset's runs are not counted against this one's.
      expect((await store.listSegments("other")).length).toBe(1);
      expect(await store.keepSegmentRuns("users", 2)).toBe(0);

      expect(await store.pruneSegments(200)).toBe(2);
      expect(await store.listSegments("other")).toEqual([]);
      expect((await store.listSegments("run-c")).map((s) => s.from)).toEqual([1]);
      expect(await store.listSegments("run-b")).toEqual([group("run-b", 0, { startedAt: 200 })]);
      expect(await store.keepSegmentRuns("users", 0)).toBe(2);
      expect(await store.listSegments("run-b")).toEqual([]);
    });
  });
}
