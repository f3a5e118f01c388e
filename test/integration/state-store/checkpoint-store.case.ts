/** CheckpointStore cases: one checkpoint per dataset, read back exactly. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { checkpoint, type StateStoreCase } from "./state-store-case.js";

export function checkpointStoreCases({ open, sql }: StateStoreCase): void {
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

      expect(await store.deleteCheckpoint("users")).toBe("run-2");
      expect(await other.getCheckpoint("users")).toBeUndefined();
      expect(await other.getCheckpoint("orders")).toEqual(
        checkpoint("orders", { bounds: [], done: 0, totals: null }),
      );
      expect(await store.deleteCheckpoint("users")).toBeUndefined();
      expect(await store.deleteCheckpoint("never")).toBeUndefined();
      expect(await store.getCheckpoint("never")).toBeUndefined();
    });

    it.each<[string, string, string]>([
      ["bounds that are not JSON", "bounds = '[[\"a\"'", "has bounds that are not JSON"],
      ["bounds that are not keys", "bounds = '{\"a\": 1}'", "has bounds that are not a list of keys"],
      ["done past its segments", "done = 99", "counts 99 segments done of 3"],
      ["done below zero", "done = -1", "counts -1 segments done of 3"],
      ["totals that are not JSON", "totals = 'oops'", "has totals that are not JSON"],
    ])("an edited row (%s) is refused with one line naming the dataset", async (_, edit, what) => {
      const store = await open();
      await store.putCheckpoint(checkpoint("users", { runId: "run-9", bounds: [["b"], ["m"]], done: 1 }));
      await sql(`UPDATE checkpoints SET ${edit} WHERE dataset = 'users'`);
      const err = await store.getCheckpoint("users").then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.name).toBe("StateStoreError");
      expect(err?.message).toBe(
        `the state store's checkpoint of dataset users (run run-9) ${what}: it was edited or damaged; \`concord checkpoint drop users\` starts the pass afresh`,
      );
      // The damaged row is dropped all the same, naming the run it held.
      expect(await store.deleteCheckpoint("users")).toBe("run-9");
      expect(await store.getCheckpoint("users")).toBeUndefined();
    });
  });
}
