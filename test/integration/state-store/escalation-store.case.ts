/** EscalationStore cases: opened once, closed once. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { escalationPattern } from "../../../src/state/escalation-store.js";
import { type Escalation, EscalationNotOpenError } from "../../../src/state/state-store.js";
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

    it("opens a long list whole, in the order given, across the statements a store splits it into", async () => {
      const store = await open();
      await store.openEscalations([escalation("r1"), escalation("x5")]);
      await store.closeEscalation("r1", "resolved", { by: "test" }, 2_000);
      // 150 ids (the SQLite store upserts 64 a statement), one repeated across statements, one resolved
      // (reopened), one still open (left), in an order no sort would give.
      const ids = Array.from({ length: 150 }, (_, i) => `n${(i * 37) % 150}`);
      const list = [...ids.slice(0, 100), "n7", "r1", ...ids.slice(100), "x5", "n140"].map((id) =>
        escalation(id, { createdAt: 3_000 }),
      );
      expect(await store.openEscalations(list)).toEqual([...ids.slice(0, 100), "r1", ...ids.slice(100)]);
      expect(await store.countEscalations({ status: "open" })).toBe(152);
      expect((await store.getEscalation("r1"))?.status).toBe("open");
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

    it("closes an open escalation once; a rejected one is not reopened, a resolved one recurs", async () => {
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
      // The same escalation again (its id is its dataset, key, class and observed state): a rejected one
      // stays rejected; a resolved one is that divergence recurring and is opened again, as given.
      expect(await store.openEscalations([escalation("e2"), escalation("e1", { runId: "r9" })])).toEqual([
        "e1",
      ]);
      expect(await store.getEscalation("e2")).toMatchObject({ status: "rejected", resolvedAt: 600 });
      expect(await store.getEscalation("e1")).toEqual(escalation("e1", { runId: "r9" }));
      expect(await store.openEscalations([escalation("e1")])).toEqual([]);
      expect(await store.getEscalation("e1")).toEqual(escalation("e1", { runId: "r9" }));
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

    describe("the queue at scale: filters, paging, groups", () => {
      // 3 replicas a, b, c. Patterns: missing on c (6, in two datasets), conflict in note (3), conflict in
      // name+note (2), and one escalation opened before facets were recorded (no columns, absent, involved).
      const queue = (): Escalation[] => {
        const list: Escalation[] = [];
        for (let i = 1; i <= 6; i++)
          list.push(
            escalation(`m${i}`, {
              dataset: i <= 4 ? "users" : "orders",
              key: [String(i)],
              class: "missing",
              createdAt: 100 + i,
              columns: [],
              absent: ["c"],
              involved: ["c"],
            }),
          );
        for (let i = 1; i <= 3; i++)
          list.push(
            escalation(`n${i}`, {
              key: [String(10 + i)],
              class: "conflict",
              createdAt: 200 + i,
              columns: ["note"],
              absent: [],
              involved: i === 3 ? ["a", "b", "c"] : ["a", "b"],
            }),
          );
        for (let i = 1; i <= 2; i++)
          list.push(
            escalation(`nn${i}`, {
              key: [String(20 + i)],
              class: "conflict",
              createdAt: 300 + i,
              columns: ["name", "note"],
              absent: [],
              involved: ["b", "c"],
            }),
          );
        list.push(escalation("legacy", { key: ["99"], class: "conflict", createdAt: 50 }));
        return list;
      };
      const ids = (list: readonly Escalation[]) => list.map((e) => e.id);

      it("keeps each escalation's columns, absent and involved replicas as given", async () => {
        const store = await open();
        await store.openEscalations(queue());
        expect(await store.getEscalation("nn1")).toEqual(queue().find((e) => e.id === "nn1"));
        expect(await store.getEscalation("m1")).toEqual(queue().find((e) => e.id === "m1"));
        // One opened without them reads back without them.
        expect(await store.getEscalation("legacy")).toEqual(
          escalation("legacy", { key: ["99"], class: "conflict", createdAt: 50 }),
        );
      });

      it("filters by dataset, class, column, replica and pattern, and counts what it would list", async () => {
        const store = await open();
        await store.openEscalations(queue());
        const cases: [Parameters<typeof store.countEscalations>[0], string[]][] = [
          [{}, ["legacy", "m1", "m2", "m3", "m4", "m5", "m6", "n1", "n2", "n3", "nn1", "nn2"]],
          [{ dataset: "orders" }, ["m5", "m6"]],
          [{ class: "conflict" }, ["legacy", "n1", "n2", "n3", "nn1", "nn2"]],
          [{ column: "note" }, ["n1", "n2", "n3", "nn1", "nn2"]],
          [{ column: "name" }, ["nn1", "nn2"]],
          [{ column: "nam" }, []],
          [{ replica: "c" }, ["m1", "m2", "m3", "m4", "m5", "m6", "n3", "nn1", "nn2"]],
          [{ replica: "a" }, ["n1", "n2", "n3"]],
          [{ replica: "a", column: "note", class: "conflict", dataset: "users" }, ["n1", "n2", "n3"]],
          [
            { pattern: escalationPattern({ class: "conflict", columns: ["note"], absent: [] }) },
            ["n1", "n2", "n3"],
          ],
          [{ pattern: JSON.stringify(["conflict"]) }, ["legacy"]],
          [
            {
              pattern: escalationPattern({ class: "missing", columns: [], absent: ["c"] }),
              dataset: "users",
            },
            ["m1", "m2", "m3", "m4"],
          ],
        ];
        for (const [filter, want] of cases) {
          expect(ids(await store.listEscalations(filter)), JSON.stringify(filter)).toEqual(want);
          expect(await store.countEscalations(filter), JSON.stringify(filter)).toBe(want.length);
        }
        await store.closeEscalation("n2", "resolved", { by: "cli:ops", pick: "a" }, 900);
        expect(ids(await store.listEscalations({ status: "open", column: "note" }))).toEqual([
          "n1",
          "n3",
          "nn1",
          "nn2",
        ]);
        expect(await store.countEscalations({ status: "resolved" })).toBe(1);
      });

      it("pages by offset and limit, and after an id (stable while earlier ones are closed)", async () => {
        const store = await open();
        await store.openEscalations(queue());
        expect(ids(await store.listEscalations({ limit: 3 }))).toEqual(["legacy", "m1", "m2"]);
        expect(ids(await store.listEscalations({ limit: 3, offset: 3 }))).toEqual(["m3", "m4", "m5"]);
        expect(ids(await store.listEscalations({ offset: 10 }))).toEqual(["nn1", "nn2"]);
        expect(ids(await store.listEscalations({ limit: 5, offset: 20 }))).toEqual([]);
        expect(ids(await store.listEscalations({ limit: 0 }))).toEqual([]);
        expect(ids(await store.listEscalations({ class: "conflict", after: "n1", limit: 2 }))).toEqual([
          "n2",
          "n3",
        ]);
        expect(ids(await store.listEscalations({ after: "n3", offset: 1 }))).toEqual(["nn2"]);
        expect(ids(await store.listEscalations({ after: "nope" }))).toEqual([]);
        // Walking the open queue page by page while closing what each page holds visits every one once.
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listEscalations({ status: "open", replica: "c", after, limit: 4 });
          if (!page.length) break;
          for (const e of page) {
            seen.push(e.id);
            if (e.id !== "m2") await store.closeEscalation(e.id, "resolved", { by: "test" }, 1000);
          }
          after = page.at(-1)!.id;
        }
        expect(seen).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "n3", "nn1", "nn2"]);
        expect(ids(await store.listEscalations({ status: "open", replica: "c" }))).toEqual(["m2"]);
      });

      it("groups by dataset and pattern, largest first, each with its first, oldest and newest", async () => {
        const store = await open();
        await store.openEscalations(queue());
        const missing = escalationPattern({ class: "missing", columns: [], absent: ["c"] });
        const note = escalationPattern({ class: "conflict", columns: ["note"], absent: [] });
        const nameNote = escalationPattern({ class: "conflict", columns: ["name", "note"], absent: [] });
        expect(await store.groupEscalations({ status: "open" })).toEqual([
          {
            dataset: "users",
            class: "missing",
            pattern: missing,
            columns: [],
            absent: ["c"],
            count: 4,
            first: "m1",
            oldestAt: 101,
            newestAt: 104,
          },
          {
            dataset: "users",
            class: "conflict",
            pattern: note,
            columns: ["note"],
            absent: [],
            count: 3,
            first: "n1",
            oldestAt: 201,
            newestAt: 203,
          },
          {
            dataset: "orders",
            class: "missing",
            pattern: missing,
            columns: [],
            absent: ["c"],
            count: 2,
            first: "m5",
            oldestAt: 105,
            newestAt: 106,
          },
          {
            dataset: "users",
            class: "conflict",
            pattern: nameNote,
            columns: ["name", "note"],
            absent: [],
            count: 2,
            first: "nn1",
            oldestAt: 301,
            newestAt: 302,
          },
          {
            dataset: "users",
            class: "conflict",
            pattern: JSON.stringify(["conflict"]),
            count: 1,
            first: "legacy",
            oldestAt: 50,
            newestAt: 50,
          },
        ]);
        // The filter applies before grouping: the first of a group is the first that matches.
        await store.closeEscalation("n1", "rejected", { by: "test" }, 1000);
        expect(await store.groupEscalations({ status: "open", column: "note" })).toEqual([
          {
            dataset: "users",
            class: "conflict",
            pattern: note,
            columns: ["note"],
            absent: [],
            count: 2,
            first: "n2",
            oldestAt: 202,
            newestAt: 203,
          },
          {
            dataset: "users",
            class: "conflict",
            pattern: nameNote,
            columns: ["name", "note"],
            absent: [],
            count: 2,
            first: "nn1",
            oldestAt: 301,
            newestAt: 302,
          },
        ]);
        expect(await store.groupEscalations({ dataset: "none" })).toEqual([]);
      });
    });
  });
}
