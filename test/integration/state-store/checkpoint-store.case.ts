/** CheckpointStore cases: one checkpoint per dataset, read back exactly. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { checkpoint, type StateStoreCase } from "./state-store-case.js";

export function checkpointStoreCases({ open }: StateStoreCase): void {
  describe("checkpoints", () => {
    it("round-trips composite keys and text that needs escaping, replaces, and deletes per dataset", async () => {
      const store = await open();
      expect(await store.getCheckpoint("users")).toBeUndefined();
      const users = checkpoint("users", {
        bounds: [
          ["1", "a"],
          ['quo"te', "back\\slash", "it's"],
          ["new\nline\ttab", "nul\u0000", "pipe|\\N", ""],
          ["é✓😀", "lone\uD800"],
        ],
        done: 3,
        totals: { byClass: { missing: 2, conflict: 0 }, outcomes: [1, null, "x"] },
        startedAt: 1_700_000_000_000.25,
        updatedAt: 1_700_000_000_123.5,
      });
      await store.putCheckpoint(users);
      await store.putCheckpoint(checkpoint("orders", { bounds: [], done: 0, totals: null }));
      expect(await store.getCheckpoint("users")).toEqual(users);
      expect(await store.getCheckpoint("orders")).toEqual(
        checkpoint("orders", { bounds: [], done: 0, totals: null }),
      );

      const replaced = checkpoint("users", {
        runId: "run-2",
        mode: "repair",
        bounds: [["z"]],
        done: 1,
        totals: {},
        startedAt: 5,
        updatedAt: 6,
      });
      await store.putCheckpoint(replaced);
      // Another process sees what was written.
      const other = await open();
      expect(await other.getCheckpoint("users")).toEqual(replaced);

      await store.deleteCheckpoint("users");
      expect(await other.getCheckpoint("users")).toBeUndefined();
      expect(await other.getCheckpoint("orders")).toEqual(
        checkpoint("orders", { bounds: [], done: 0, totals: null }),
      );
      await store.deleteCheckpoint("users");
      await store.deleteCheckpoint("never");
      expect(await store.getCheckpoint("never")).toBeUndefined();
    });
  });
}
