/** StageWriter cases: a stage has its separate calls' effects, all or none, and an empty one writes nothing. Run against every state store by state-store-conformance.test.ts. */
import { describe, expect, it } from "vitest";
import { keyId } from "../../../src/core/model.js";
import type { StageWrites, StateStore } from "../../../src/state/state-store.js";
import { event, type StateStoreCase } from "./state-store-case.js";

const T = 20_000 * 86_400_000;

/** A stage with every part, and what each part holds. */
function fullStage(runId: string): StageWrites {
  return {
    versions: [
      { dataset: "users", observed: [{ key: ["1"], replica: "a", version: { counter: "5" } }] },
      // A later call of the same stage: the higher version seen stays, as across two calls.
      {
        dataset: "users",
        observed: [
          { key: ["1"], replica: "a", version: { counter: "3" } },
          { key: ["2"], replica: "b", version: { counter: "9" } },
        ],
      },
    ],
    divergences: [
      { runId, dataset: "users", key: ["1"], class: "stale", detail: { n: 1 } },
      { runId, dataset: "users", key: ["2"], class: "missing", detail: null },
    ],
    audit: [event(1, { runId }), event(2, { runId, type: "detected" })],
    evidence: [
      {
        dataset: "users",
        replica: "b",
        column: "",
        segment: 0,
        class: "stale",
        facet: "",
        at: T,
        counts: { settled: 1, lost: 1 },
      },
    ],
    divergent: {
      dataset: "users",
      mark: [keyId(["1"]), keyId(["2"])],
      take: [keyId(["2"]), keyId(["3"])],
      at: 100,
    },
  };
}

/** What a store holds of `fullStage(runId)`'s tables. */
async function held(store: StateStore, runId: string) {
  return {
    versions: [...(await store.lastSeenVersions("users", [["1"], ["2"]]))],
    divergences: await store.listDivergences(runId),
    audit: (await store.readAudit({ runId })).map((e) => [e.seq, e.type, e.key]),
    evidence: await store.replicaEvidence("users"),
    divergent: await store.countDivergent("users"),
  };
}

export function stageWriterCases({ open, sql }: StateStoreCase): void {
  describe("stages", () => {
    it("has the effects of its separate calls, in order, and returns theirs", async () => {
      const store = await open();
      await store.appendAudit([event(0, { runId: "before" })]);
      const result = await store.recordStage(fullStage("run-1"));
      expect(result.audit.map((e) => [e.seq, e.prevHash === undefined])).toEqual([
        [2, false],
        [3, false],
      ]);
      expect([...result.taken]).toEqual([[keyId(["2"]), 100]]);
      expect(await held(store, "run-1")).toEqual({
        versions: [
          [keyId(["1"]), { a: { counter: "5" } }],
          [keyId(["2"]), { b: { counter: "9" } }],
        ],
        divergences: [
          { runId: "run-1", dataset: "users", key: ["1"], class: "stale", detail: { n: 1 } },
          { runId: "run-1", dataset: "users", key: ["2"], class: "missing", detail: null },
        ],
        audit: [
          [2, "applied", JSON.stringify(["1"])],
          [3, "detected", JSON.stringify(["2"])],
        ],
        evidence: [{ replica: "b", column: undefined, settled: 1, lost: 1 }],
        divergent: 1,
      });
      // The chain runs on from the entry appended before.
      const [first, second] = await store.readAudit({});
      expect(result.audit[0]!.prevHash).toBe(first!.hash);
      expect(second!.hash).toBe(result.audit[0]!.hash);
    });

    it("writes nothing for a stage with nothing in it", async () => {
      const store = await open();
      const empty = await store.recordStage({
        versions: [{ dataset: "users", observed: [] }],
        divergences: [],
        audit: [],
        evidence: [],
        divergent: { dataset: "users", mark: [], take: [], at: 1 },
      });
      expect(empty).toEqual({ audit: [], taken: new Map() });
      expect(await store.recordStage({})).toEqual({ audit: [], taken: new Map() });
      expect(await store.readAudit({})).toEqual([]);
    });

    it("writes all of a stage or none of it", async () => {
      const store = await open();
      // A part that fails in the middle of the stage (a key the divergent-keys table refuses).
      const sqlite = await sql("SELECT sqlite_version() AS v").then(
        () => true,
        () => false,
      );
      if (sqlite)
        await sql(
          "CREATE TRIGGER refuse BEFORE INSERT ON divergent_keys WHEN NEW.key = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        );
      else {
        await sql(
          "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        );
        await sql(
          "CREATE TRIGGER refuse BEFORE INSERT ON divergent_keys FOR EACH ROW WHEN (NEW.key = 'refused') EXECUTE FUNCTION refuse()",
        );
      }
      const stage = fullStage("run-2");
      await expect(
        store.recordStage({ ...stage, divergent: { dataset: "users", mark: ["refused"], at: 1 } }),
      ).rejects.toThrow(/refused/);
      expect(await held(store, "run-2")).toEqual({
        versions: [],
        divergences: [],
        audit: [],
        evidence: [],
        divergent: 0,
      });
      // The same stage without the refused key is written whole.
      await store.recordStage(stage);
      expect((await held(store, "run-2")).audit).toHaveLength(2);
    });
  });
}
