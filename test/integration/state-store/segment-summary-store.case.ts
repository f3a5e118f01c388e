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

    it("keeps a segment's changed keys up to the cap, then marks it whole, and clears checked keys by time", async () => {
      const store = await open();
      await store.putSegmentSummary(summary());
      await store.markKeysDirty("users", [{ segment: 1, keys: [["150"], ["120"]] }], 100, 3);
      await store.markKeysDirty(
        "users",
        [
          { segment: 1, keys: [["150"], ["150"]] }, // again, later (twice in one batch): its mark moves forward
          { segment: 2, keys: [["250"], ["260"], ["270"], ["280"]] }, // more than the cap at once
        ],
        110,
        3,
      );
      expect(await store.listDirtySegments("users")).toEqual([
        { segment: 1, markedAt: 110, keys: 2 },
        { segment: 2, markedAt: 110 },
      ]);
      expect(await store.listDirtyKeys("users", [1, 2])).toEqual([
        { segment: 1, key: ["120"], markedAt: 100 },
        { segment: 1, key: ["150"], markedAt: 110 },
      ]);
      // Past the cap over several batches: the segment is marked whole and its keys dropped.
      await store.markKeysDirty("users", [{ segment: 3, keys: [["301"], ["302"]] }], 120, 3);
      await store.markKeysDirty("users", [{ segment: 3, keys: [["303"], ["304"]] }], 130, 3);
      expect((await store.listDirtySegments("users")).find((d) => d.segment === 3)).toEqual({
        segment: 3,
        markedAt: 130,
      });
      expect(await store.listDirtyKeys("users", [3])).toEqual([]);
      // A segment marked whole stays whole: keys marked later move its mark only.
      await store.markKeysDirty("users", [{ segment: 3, keys: [["305"]] }], 140, 3);
      expect(await store.listDirtyKeys("users", [3])).toEqual([]);
      await store.markSegmentsDirty("users", [1], 90); // whole, and an older mark: its time stays
      expect((await store.listDirtySegments("users")).find((d) => d.segment === 1)).toEqual({
        segment: 1,
        markedAt: 110,
      });
      expect(await store.listDirtyKeys("users", [1])).toEqual([]);

      // A pass that began at 205 checked segment 0's keys 5 and 6; key 7 was marked during the check.
      await store.markKeysDirty("users", [{ segment: 0, keys: [["5"], ["6"]] }], 200, 3);
      await store.markKeysDirty("users", [{ segment: 0, keys: [["7"]] }], 210, 3);
      const checked = [
        { segment: 0, key: ["5"] },
        { segment: 0, key: ["6"] },
      ];
      await store.clearDirtyKeys("users", checked, 205);
      expect(await store.listDirtyKeys("users", [0])).toEqual([{ segment: 0, key: ["7"], markedAt: 210 }]);
      expect((await store.listDirtySegments("users")).find((d) => d.segment === 0)).toEqual({
        segment: 0,
        markedAt: 210,
        keys: 1,
      });
      // Key 7 checked by the next pass: the segment's mark goes with its last key.
      await store.clearDirtyKeys("users", [{ segment: 0, key: ["7"] }], 220);
      expect((await store.listDirtySegments("users")).map((d) => d.segment)).toEqual([1, 2, 3]);
      // Clearing a whole segment drops the keys marked before it too; a verified pass drops older keys.
      await store.markKeysDirty("users", [{ segment: 0, keys: [["8"]] }], 230, 3);
      await store.verifySegmentSummary("users", "run-4", 225);
      expect((await store.listDirtySegments("users")).map((d) => d.segment)).toEqual([0]);
      await store.clearDirtySegments("users", [0], 240);
      expect(await store.listDirtySegments("users")).toEqual([]);
      expect(await store.listDirtyKeys("users", [0])).toEqual([]);
      await store.markKeysDirty("users", [{ segment: 0, keys: [["9"]] }], 250, 3);
      await store.deleteSegmentSummary("users");
      expect(await store.listDirtyKeys("users", [0])).toEqual([]);
    });
  });
}
