/** RolloutStore cases: one record per (dataset, kind), read back as written, replaced and deleted. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { RolloutState } from "../../../src/state/state-store.js";
import type { StateStoreCase } from "./state-store-case.js";

export function rolloutStoreCases({ open }: StateStoreCase): void {
  describe("rollouts", () => {
    it("round-trips, replaces and deletes per (dataset, kind), seen by another process", async () => {
      const store = await open();
      expect(await store.getRollout("users", "canary")).toBeUndefined();
      const canary: RolloutState = {
        dataset: "users",
        kind: "canary",
        subject: "sha256:abc",
        state: { step: 1, approvals: ["token:lead1"], last: null, rate: 0.25, note: 'it\'s "q"\n✓' },
        updatedAt: 1_700_000_000_000.5,
      };
      const approval: RolloutState = {
        dataset: "users",
        kind: "approval",
        subject: "v2",
        state: [],
        updatedAt: 7,
      };
      const other: RolloutState = { ...canary, dataset: "orders", state: { step: 0 } };
      await store.putRollout(canary);
      await store.putRollout(approval);
      await store.putRollout(other);
      const second = await open();
      expect(await second.getRollout("users", "canary")).toEqual(canary);
      expect(await second.getRollout("users", "approval")).toEqual(approval);
      expect(await second.getRollout("orders", "canary")).toEqual(other);

      const moved = { ...canary, subject: "sha256:def", state: { step: 2 }, updatedAt: 9 };
      await store.putRollout(moved);
      expect(await second.getRollout("users", "canary")).toEqual(moved);
      await store.deleteRollout("users", "canary");
      await store.deleteRollout("users", "canary");
      expect(await second.getRollout("users", "canary")).toBeUndefined();
      expect(await second.getRollout("users", "approval")).toEqual(approval);
    });
  });
}
