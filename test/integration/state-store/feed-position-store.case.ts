/** FeedPositionStore cases: one resume position per (dataset, replica), read back exactly. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import type { StateStoreCase } from "./state-store-case.js";

export function feedPositionStoreCases({ open }: StateStoreCase): void {
  describe("feed positions", () => {
    it("round-trips, replaces and deletes per (dataset, replica), and lists in order", async () => {
      const store = await open();
      expect(await store.getFeedPosition("users", "pg")).toBeUndefined();
      expect(await store.listFeedPositions()).toEqual([]);
      const pg = { dataset: "users", replica: "pg", position: "0/16B3748", updatedAt: 1_700_000_000_000.5 };
      const my = {
        dataset: "users",
        replica: "maria",
        position: '{"file":"mysql-bin.000001","pos":4}',
        updatedAt: 7,
      };
      const other = { dataset: "orders", replica: "pg", position: 'it\'s "quoted"\n✓', updatedAt: 8 };
      await store.putFeedPosition(pg);
      await store.putFeedPosition(my);
      await store.putFeedPosition(other);
      expect(await store.getFeedPosition("users", "pg")).toEqual(pg);
      expect(await store.getFeedPosition("orders", "pg")).toEqual(other);
      expect(await store.listFeedPositions("users")).toEqual([my, pg]);
      expect(await store.listFeedPositions()).toEqual([other, my, pg]);

      const moved = { ...pg, position: "0/16B3800", updatedAt: 9 };
      await store.putFeedPosition(moved);
      // Another process sees what was written.
      const second = await open();
      expect(await second.getFeedPosition("users", "pg")).toEqual(moved);

      await store.deleteFeedPosition("users", "pg");
      await store.deleteFeedPosition("users", "pg");
      await store.deleteFeedPosition("never", "x");
      expect(await second.getFeedPosition("users", "pg")).toBeUndefined();
      expect(await second.listFeedPositions()).toEqual([other, my]);
    });
  });
}
