/** LeaseStore cases: one owner at a time, renewals, expiry, releases. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { range, type StateStoreCase } from "./state-store-case.js";

export function leaseStoreCases({ open }: StateStoreCase): void {
  describe("leases", () => {
    it("gives a free lease to one owner until it expires, and renews it for that owner only", async () => {
      const store = await open();
      expect(await store.getLease("pass:users")).toBeUndefined();
      expect(await store.acquireLease("pass:users", "host-a:1", 1000, 500)).toBe(true);
      expect(await store.getLease("pass:users")).toEqual({
        name: "pass:users",
        owner: "host-a:1",
        acquiredAt: 1000,
        expiresAt: 1500,
      });
      expect(await store.acquireLease("pass:users", "host-b:2", 1499, 500)).toBe(false);
      // Renewal: the owner keeps it, from when it first acquired it; a renewal never shortens it.
      expect(await store.acquireLease("pass:users", "host-a:1", 1400, 500)).toBe(true);
      expect(await store.acquireLease("pass:users", "host-a:1", 1401, 10)).toBe(true);
      expect(await store.getLease("pass:users")).toMatchObject({ acquiredAt: 1000, expiresAt: 1900 });
      // Other names are other leases.
      expect(await store.acquireLease("pass:orders", "host-b:2", 1401, 500)).toBe(true);
      // Expired at expiresAt: another owner may take it, from then on.
      expect(await store.acquireLease("pass:users", "host-b:2", 1900.5, 250.25)).toBe(true);
      expect(await store.getLease("pass:users")).toEqual({
        name: "pass:users",
        owner: "host-b:2",
        acquiredAt: 1900.5,
        expiresAt: 2150.75,
      });
      expect(await store.acquireLease("pass:users", "host-a:1", 2000, 500)).toBe(false);
    });

    it("is released only by its owner, and then free for anyone", async () => {
      const store = await open();
      await store.acquireLease("leader", "a", 1000, 500);
      expect(await store.releaseLease("leader", "b")).toBe(false);
      expect(await store.getLease("leader")).toMatchObject({ owner: "a" });
      expect(await store.releaseLease("leader", "a")).toBe(true);
      expect(await store.releaseLease("leader", "a")).toBe(false);
      expect(await store.getLease("leader")).toBeUndefined();
      expect(await store.acquireLease("leader", "b", 1001, 500)).toBe(true);
      // A former owner's late release does not free its successor's lease.
      expect(await store.releaseLease("leader", "a")).toBe(false);
      expect(await store.getLease("leader")).toMatchObject({ owner: "b" });
    });

    it("gives a free or expired lease to exactly one of several stores acquiring at once", async () => {
      const stores = await Promise.all(range(1, 5).map(() => open()));
      for (const [round, now] of [1000, 2000, 3000].entries()) {
        // Each round starts after the last one's lease expired (ttl 900).
        const won = await Promise.all(
          stores.map((s, i) => s.acquireLease("pass:users", `owner-${i}`, now, 900)),
        );
        expect(won.filter(Boolean), `round ${round}`).toHaveLength(1);
        const winner = `owner-${won.indexOf(true)}`;
        expect(await stores[0]!.getLease("pass:users")).toMatchObject({
          owner: winner,
          expiresAt: now + 900,
        });
      }
    });
  });
}
