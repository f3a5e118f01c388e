/** EscalationStore cases: opened once, closed once. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { EscalationNotOpenError } from "../../../src/state/state-store.js";
import { escalation, range, type StateStoreCase } from "./state-store-case.js";

export function escalationStoreCases({ open }: StateStoreCase): void {
  describe("escalations", () => {
    it("opens each id once, so running again inserts nothing", async () => {
      const store = await open();
      expect(
        await store.openEscalations([escalation("e1"), escalation("e2", { dataset: "orders" })]),
      ).toEqual(["e1", "e2"]);
      expect(
        await store.openEscalations([
          escalation("e1", { reason: "again" }),
          escalation("e3"),
          escalation("e3"),
        ]),
      ).toEqual(["e3"]);
      expect(await store.getEscalation("e1")).toEqual(escalation("e1"));
      expect(await store.getEscalation("nope")).toBeUndefined();
      expect((await store.listEscalations()).map((e) => e.id)).toEqual(["e1", "e2", "e3"]);
      expect((await store.listEscalations({ dataset: "orders" })).map((e) => e.id)).toEqual(["e2"]);
      expect(await store.openEscalations([])).toEqual([]);
    });

    it("lists oldest first, then in the order opened", async () => {
      const store = await open();
      await store.openEscalations([
        escalation("late", { createdAt: 300 }),
        escalation("b", { createdAt: 100 }),
        escalation("a", { createdAt: 100 }),
      ]);
      expect((await store.listEscalations()).map((e) => e.id)).toEqual(["b", "a", "late"]);
    });

    it("closes an open escalation once; a closed one is not reopened", async () => {
      const store = await open();
      await store.openEscalations([escalation("e1"), escalation("e2")]);
      await store.closeEscalation("e1", "resolved", { chose: "take:b", by: "ops" }, 500);
      await store.closeEscalation("e2", "rejected", null, 600);

      expect(await store.getEscalation("e1")).toEqual(
        escalation("e1", {
          status: "resolved",
          resolvedAt: 500,
          resolution: { chose: "take:b", by: "ops" },
        }),
      );
      expect(await store.getEscalation("e2")).toMatchObject({
        status: "rejected",
        resolvedAt: 600,
        resolution: null,
      });
      expect((await store.listEscalations({ status: "open" })).map((e) => e.id)).toEqual([]);
      expect(
        (await store.listEscalations({ status: "resolved", dataset: "users" })).map((e) => e.id),
      ).toEqual(["e1"]);

      await expect(store.closeEscalation("e1", "rejected", null, 700)).rejects.toThrow(
        new EscalationNotOpenError("e1", "resolved"),
      );
      await expect(store.closeEscalation("zz", "resolved", null, 700)).rejects.toThrow(
        "escalation zz does not exist",
      );
      expect(await store.openEscalations([escalation("e1")])).toEqual([]);
      expect(await store.getEscalation("e1")).toMatchObject({ status: "resolved", resolvedAt: 500 });
    });

    it("lets exactly one of two stores closing the same escalation at once win", async () => {
      const [a, b] = [await open(), await open()];
      const ids = range(1, 20).map((n) => `e${n}`);
      await a.openEscalations(ids.map((id) => escalation(id)));
      for (const id of ids) {
        const outcomes = await Promise.allSettled([
          a.closeEscalation(id, "resolved", { by: "a" }, 1),
          b.closeEscalation(id, "rejected", { by: "b" }, 2),
        ]);
        const won = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [i] : []));
        expect(won).toHaveLength(1);
        const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
        expect(lost.reason).toBeInstanceOf(EscalationNotOpenError);
        const winner = won[0] === 0 ? { status: "resolved", by: "a" } : { status: "rejected", by: "b" };
        expect(lost.reason).toMatchObject({ id, status: winner.status });
        expect(await b.getEscalation(id)).toMatchObject({
          status: winner.status,
          resolution: { by: winner.by },
        });
      }
    });
  });
}
