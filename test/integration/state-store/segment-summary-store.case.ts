/** SegmentSummaryStore cases: a dataset's verified-pass summary and its dirty segments. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { SegmentSummary } from "../../../src/state/state-store.js";
import type { StateStoreCase } from "./state-store-case.js";

const summary = (over: Partial<SegmentSummary> = {}): SegmentSummary => ({
  dataset: "users",
  keyColumns: [{ name: "id", type: "integer" }],
  bounds: [["100"], ["200"], ["300"]],
  verifiedAt: undefined,
  runId: undefined,
  invalid: "no verified whole pass yet",
  invalidAt: 10,
  sweepCursor: 0,
  ...over,
});

export function segmentSummaryStoreCases({ open }: StateStoreCase): void {
  describe("segment summaries", () => {
    it("round-trips a summary and keeps the first invalidating reason until a verified pass", async () => {
      const store = await open();
      expect(await store.getSegmentSummary("users")).toBeUndefined();
      await store.invalidateSegmentSummary("users", "gap", 5); // no summary: nothing happens
      expect(await store.getSegmentSummary("users")).toBeUndefined();
      await store.putSegmentSummary(summary({ bounds: [["a|b"], [null, "x"]] }));
      expect(await store.getSegmentSummary("users")).toEqual(summary({ bounds: [["a|b"], [null, "x"]] }));
      await store.invalidateSegmentSummary("users", "a later gap", 11);
      expect((await store.getSegmentSummary("users"))?.invalid).toBe("no verified whole pass yet");

      // A pass that began after the reason was set clears it; one that began before keeps it.
      await store.verifySegmentSummary("users", "run-early", 9);
      expect(await store.getSegmentSummary("users")).toMatchObject({
        verifiedAt: 9,
        runId: "run-early",
        invalid: "no verified whole pass yet",
        invalidAt: 10,
      });
      // A pass that began in the same millisecond the reason was recorded reads everything after it.
      await store.verifySegmentSummary("users", "run-2", 10);
      expect((await store.getSegmentSummary("users"))?.invalid).toBeUndefined();
      await store.verifySegmentSummary("users", "run-2", 20);
      const verified = await store.getSegmentSummary("users");
      expect(verified).toMatchObject({ verifiedAt: 20, runId: "run-2" });
      expect(verified?.invalid).toBeUndefined();
      expect(verified?.invalidAt).toBeUndefined();
      await store.invalidateSegmentSummary("users", "feed pg: slot released", 30);
      expect(await store.getSegmentSummary("users")).toMatchObject({
        invalid: "feed pg: slot released",
        invalidAt: 30,
      });
      await store.moveSweepCursor("users", 7);
      expect(await store.getSegmentSummary("users")).toMatchObject({ sweepCursor: 7, invalidAt: 30 });
      await store.deleteSegmentSummary("users");
      await store.deleteSegmentSummary("users");
      await store.moveSweepCursor("users", 1); // no summary: nothing happens
      expect(await store.getSegmentSummary("users")).toBeUndefined();
    });

    it("marks, lists and clears dirty segments by the time they were marked", async () => {
      const store = await open();
      await store.putSegmentSummary(summary());
      await store.markSegmentsDirty("users", [2, 0, 2], 100);
      await store.markSegmentsDirty("users", [0], 150);
      await store.markSegmentsDirty("users", [0], 120); // never moves a mark back
      await store.markSegmentsDirty("orders", [1], 100);
      expect(await store.listDirtySegments("users")).toEqual([
        { segment: 0, markedAt: 150 },
        { segment: 2, markedAt: 100 },
      ]);
      // A pass that began at 130 checked segments 0 and 2: the mark made at 150 (during it) stays.
      await store.clearDirtySegments("users", [0, 2], 130);
      expect(await store.listDirtySegments("users")).toEqual([{ segment: 0, markedAt: 150 }]);
      expect(await store.listDirtySegments("orders")).toEqual([{ segment: 1, markedAt: 100 }]);

      // A verified whole pass drops the marks made before it began.
      await store.markSegmentsDirty("users", [3], 200);
      await store.verifySegmentSummary("users", "run-3", 180);
      expect(await store.listDirtySegments("users")).toEqual([{ segment: 3, markedAt: 200 }]);

      // New bounds: the old segment numbers mean nothing any more.
      await store.putSegmentSummary(summary({ bounds: [["500"]] }));
      expect(await store.listDirtySegments("users")).toEqual([]);
      // The same bounds again keep the marks.
      await store.markSegmentsDirty("users", [1], 300);
      await store.putSegmentSummary(summary({ bounds: [["500"]], verifiedAt: 290, runId: "r" }));
      expect(await store.listDirtySegments("users")).toEqual([{ segment: 1, markedAt: 300 }]);
      await store.deleteSegmentSummary("users");
      expect(await store.listDirtySegments("users")).toEqual([]);
      expect(await store.listDirtySegments("orders")).toHaveLength(1);
    });
  });
}
