/**
 * RepairLedger cases: a repair id is claimed by one run at a time, settled only by its claimer, and a write
 * that landed is recorded under the run that made it. Run against every state store by
 * state-store-conformance.test.ts.
 */
import { describe, expect, it } from "vitest";
import { verifyAuditChainAsync } from "../../../src/core/audit-chain.js";
import { inverseRepair } from "../../../src/execute/inverse-repair.js";
import { effectiveSettlements } from "../../../src/state/ledger-rules.js";
import type {
  LedgerEntry,
  RepairClaim,
  RepairSettlement,
  StateStore,
} from "../../../src/state/state-store.js";
import { event, range, refs, repair, type StateStoreCase } from "./state-store-case.js";

/** A settlement of `id` by `runId`. */
const settle = (
  id: string,
  runId: string,
  outcome: RepairSettlement["outcome"],
  over: Partial<RepairSettlement> = {},
) =>
  ({
    id,
    key: [id.slice(1)],
    runId,
    outcome,
    attempts: 1,
    updatedAt: 2000,
    ...over,
  }) satisfies RepairSettlement;

/** What a claim found, as [kind, run] per id. */
const found = (claims: Map<string, RepairClaim>) =>
  Object.fromEntries([...claims].map(([id, c]) => [id, [c.kind, c.entry.runId]]));

export function repairClaimCases({ open, sql }: StateStoreCase): void {
  describe("ledger claims", () => {
    it("claims a new id, claims its own pending one again, and leaves another run's pending one held", async () => {
      const store = await open();
      const first = await store.claimRepairs([repair("r1", { attempts: 7 })]);
      expect(first.get("r1")).toEqual({ kind: "claimed", entry: repair("r1", { attempts: 1 }) });
      const again = await store.claimRepairs([repair("r1", { updatedAt: 1500 })]);
      expect(again.get("r1")).toEqual({
        kind: "claimed",
        entry: repair("r1", { attempts: 2, updatedAt: 1500 }),
      });

      const other = await store.claimRepairs([repair("r1", { runId: "run-2", after: ["other"] })]);
      expect(other.get("r1")).toEqual({
        kind: "held",
        entry: repair("r1", { attempts: 2, updatedAt: 1500 }),
      });
      expect(await store.listRepairs({})).toEqual([repair("r1", { attempts: 2, updatedAt: 1500 })]);
      expect(await store.claimRepairs([])).toEqual(new Map());
    });

    it("returns an applied entry as is and claims a noop, superseded, failed or rolled-back one again", async () => {
      const store = await open();
      const earlier = (id: string, outcome: LedgerEntry["outcome"]) =>
        repair(id, {
          runId: "run-0",
          outcome,
          attempts: 3,
          error: "earlier",
          before: ["old"],
          updatedAt: 10,
        });
      const outcomes = ["applied", "noop", "superseded", "failed", "rolled-back"] as const;
      await store.recordRepairs(outcomes.map((o, i) => earlier(`r${i}`, o)));

      const claims = await store.claimRepairs(outcomes.map((_, i) => repair(`r${i}`, { runId: "run-2" })));
      expect(found(claims)).toEqual({
        r0: ["applied", "run-0"],
        r1: ["claimed", "run-2"],
        r2: ["claimed", "run-2"],
        r3: ["claimed", "run-2"],
        r4: ["claimed", "run-2"],
      });
      expect(claims.get("r0")!.entry).toEqual(earlier("r0", "applied"));
      const stored = await store.listRepairs({});
      expect(stored[0]).toEqual(earlier("r0", "applied"));
      // Claimed again: the images given, pending under the claimer, the attempt counted, no error.
      for (const e of stored.slice(1)) expect(e).toEqual(repair(e.id, { runId: "run-2", attempts: 4 }));
    });

    it("claims an id given twice once, with its last word, and refuses entries that are not pending", async () => {
      const store = await open();
      const claims = await store.claimRepairs([
        repair("r1"),
        repair("r2"),
        repair("r1", { after: ["last"] }),
      ]);
      expect([...claims.keys()]).toEqual(["r1", "r2"]);
      expect((await store.listRepairs({})).map((e) => [e.id, e.after, e.attempts])).toEqual([
        ["r1", ["last"], 1],
        ["r2", ["alicia", "x"], 1],
      ]);
      await expect(store.claimRepairs([repair("r3"), repair("r4", { outcome: "applied" })])).rejects.toThrow(
        new TypeError("claimRepairs: entry r4 is applied; only pending entries are claimed"),
      );
      expect((await store.getRepairs(refs("r3", "r4"))).size).toBe(0);
    });

    it("gives each id to exactly one of several stores claiming at once, in any order", async () => {
      const stores = await Promise.all(range(1, 4).map(() => open()));
      const ids = range(1, 3000).map((n) => `r${n}`);
      const claims = await Promise.all(
        stores.map((store, s) => {
          const order = s % 2 ? [...ids].reverse() : ids.slice(s * 400).concat(ids.slice(0, s * 400));
          const batches = [];
          for (let i = 0; i < order.length; i += 500)
            batches.push(
              store.claimRepairs(order.slice(i, i + 500).map((id) => repair(id, { runId: `run-${s}` }))),
            );
          return Promise.all(batches);
        }),
      );
      const owner = new Map<string, string>();
      for (const [s, batches] of claims.entries())
        for (const batch of batches)
          for (const [id, c] of batch)
            if (c.kind === "claimed") {
              expect(owner.has(id), `${id} claimed twice`).toBe(false);
              owner.set(id, `run-${s}`);
            } else expect(c.kind).toBe("held");
      expect(owner.size).toBe(ids.length);
      for (const e of await stores[0]!.listRepairs({})) expect(e.runId).toBe(owner.get(e.id));
    });
  });

  describe("ledger settlements", () => {
    it("settles only entries pending under the settling run, and audits only those", async () => {
      const store = await open();
      await store.recordRepairs([
        repair("p1", { error: "earlier" }),
        repair("p2", { runId: "run-2" }),
        repair("f1", { outcome: "failed", error: "boom" }),
      ]);
      const audited = await store.settleRepairs(
        [
          settle("p1", "run-1", "noop", { attempts: 2 }),
          settle("p2", "run-1", "noop"),
          settle("f1", "run-1", "superseded"),
          settle("unknown", "run-1", "noop"),
        ],
        [event(1), event(2), event(3), event(4)],
      );
      expect(audited.map((e) => [e.seq, e.data])).toEqual([[1, event(1).data]]);
      expect(await store.listRepairs({})).toEqual([
        // Only the outcome and its fields change; the images stay.
        repair("p1", { outcome: "noop", attempts: 2, updatedAt: 2000 }),
        repair("p2", { runId: "run-2" }),
        repair("f1", { outcome: "failed", error: "boom" }),
      ]);
      expect(await store.readAudit()).toEqual(audited);
      expect(await store.settleRepairs([], [])).toEqual([]);
    });

    it("records a landed write over any outcome but another landed write", async () => {
      const store = await open();
      const before = {
        pendingOther: repair("x1", { runId: "run-2" }),
        failed: repair("x2", { outcome: "failed", error: "interrupted" }),
        noop: repair("x3", { runId: "run-3", outcome: "noop" }),
        superseded: repair("x4", { runId: "run-3", outcome: "superseded" }),
        applied: repair("x5", { runId: "run-3", outcome: "applied" }),
        rolledBack: repair("x6", { runId: "run-3", outcome: "rolled-back" }),
      };
      await store.recordRepairs(Object.values(before));
      const ids = Object.values(before).map((e) => e.id);
      const audited = await store.settleRepairs(
        ids.map((id) => settle(id, "run-1", "applied")),
        ids.map((_, i) => event(i + 1)),
      );
      expect(audited.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      const landed = (e: LedgerEntry) => ({
        ...e,
        runId: "run-1",
        outcome: "applied",
        error: undefined,
        updatedAt: 2000,
      });
      expect(await store.listRepairs({})).toEqual([
        landed(before.pendingOther),
        landed(before.failed),
        landed(before.noop),
        landed(before.superseded),
        before.applied,
        before.rolledBack,
      ]);
    });

    it("settles in the order given, as if one at a time", async () => {
      const store = await open();
      await store.recordRepairs([repair("r1"), repair("r2")]);
      const audited = await store.settleRepairs(
        [
          settle("r1", "run-1", "failed", { error: "timeout" }),
          settle("r1", "run-1", "applied", { attempts: 2 }),
          settle("r2", "run-1", "noop"),
          settle("r2", "run-1", "superseded"),
        ],
        [event(1), event(2), event(3), event(4)],
      );
      expect(audited.map((e) => e.ts)).toEqual([event(1).ts, event(2).ts, event(3).ts]);
      expect((await store.listRepairs({})).map((e) => [e.id, e.outcome, e.attempts, e.error])).toEqual([
        ["r1", "applied", 2, undefined],
        ["r2", "noop", 1, undefined],
      ]);
    });

    it("settles ids named up to three times among more than one statement's rows, in the order given", async () => {
      const store = await open();
      // 150 ids; r0–r9 settled three times (a failure, a noop that comes too late, then a landed write), r10–r19
      // twice by another run (the second landed over the first's refusal), interleaved with the rest.
      const ids = Array.from({ length: 150 }, (_, i) => `r${i}`);
      await store.recordRepairs(ids.map((id) => repair(id)));
      const given: RepairSettlement[] = [];
      for (const [i, id] of ids.entries()) {
        given.push(settle(id, "run-1", i < 10 ? "failed" : "noop", i < 10 ? { error: "timeout" } : {}));
        if (i >= 10 && i < 20) given.push(settle(ids[i - 10]!, "run-1", "noop"));
        if (i >= 20 && i < 30) given.push(settle(ids[i - 20]!, "run-1", "applied", { attempts: 3 }));
        if (i >= 100 && i < 110) given.push(settle(ids[i - 90]!, "run-2", "applied", { attempts: 2 }));
      }
      const audited = await store.settleRepairs(
        given,
        given.map((_, i) => event(i + 1)),
      );
      // The rule applied one settlement at a time: the ones that take effect, in the order given.
      const expected = effectiveSettlements(
        new Map(ids.map((id) => [id, { runId: "run-1", outcome: "pending" as const }])),
        given,
      );
      expect(audited.map((e) => e.ts)).toEqual(expected.taken.map((i) => event(i + 1).ts));
      expect(audited.map((e) => e.seq)).toEqual(expected.taken.map((_, n) => n + 1));
      const rows = new Map((await store.listRepairs({})).map((e) => [e.id, e]));
      expect(rows.size).toBe(150);
      for (const [id, s] of expected.final)
        expect([id, rows.get(id)?.runId, rows.get(id)?.outcome, rows.get(id)?.attempts], id).toEqual([
          id,
          s.runId,
          s.outcome,
          s.attempts,
        ]);
      expect([...rows.values()].filter((e) => e.outcome === "applied").map((e) => e.id)).toEqual(
        ids.slice(0, 20),
      );
      expect(rows.get("r0")?.error).toBeUndefined();
    });

    it("settles nothing when an audit event has no JSON form or the audit does not pair", async () => {
      const store = await open();
      await store.recordRepairs([repair("r1")]);
      await expect(
        store.settleRepairs([settle("r1", "run-1", "applied")], [event(1, { data: { n: 1n } })]),
      ).rejects.toThrow(TypeError);
      await expect(
        store.settleRepairs([settle("r1", "run-1", "applied")], [event(1), event(2)]),
      ).rejects.toThrow(
        new RangeError("settleRepairs: 2 audit entries for 1 settlements; give one per settlement or none"),
      );
      expect(await store.listRepairs({})).toEqual([repair("r1")]);
      expect(await store.readAudit()).toEqual([]);
      // No audit at all is allowed.
      expect(await store.settleRepairs([settle("r1", "run-1", "applied")], [])).toEqual([]);
      expect((await store.listRepairs({}))[0]!.outcome).toBe("applied");
    });

    it("keeps one chain when stores settle and append at once", async () => {
      const stores = await Promise.all(range(1, 3).map(() => open()));
      await stores[0]!.recordRepairs(range(1, 60).map((n) => repair(`r${n}`, { runId: "run-2" })));
      await Promise.all(
        range(1, 60).map((n) =>
          n % 2
            ? stores[n % 3]!.settleRepairs(
                [settle(`r${n}`, "run-2", "applied", { updatedAt: n })],
                [event(n)],
              )
            : stores[n % 3]!.appendAudit([event(n)]),
        ),
      );
      expect(await verifyAuditChainAsync(stores[0]!.iterateAudit())).toEqual({ ok: true, count: 60 });
      expect((await stores[0]!.listRepairs({ outcome: "applied" })).length).toBe(30);
    });

    it("records each write under the run that landed it when two runs claim, write and settle at once", async () => {
      const [a, b] = [await open(), await open()];
      const ids = range(1, 2000).map((n) => `r${n}`);
      // The target: a repair's conditional write lands once; a second finds it done (noop).
      const landedBy = new Map<string, string>();
      const run = async (store: StateStore, runId: string, order: readonly string[]) => {
        for (let i = 0; i < order.length; i += 250) {
          const claims = await store.claimRepairs(order.slice(i, i + 250).map((id) => repair(id, { runId })));
          const mine = [...claims.values()].filter((c) => c.kind === "claimed").map((c) => c.entry);
          await new Promise((r) => setImmediate(r));
          const outcomes = mine.map((e) => {
            if (landedBy.has(e.id)) return "noop" as const;
            landedBy.set(e.id, runId);
            return "applied" as const;
          });
          await store.settleRepairs(
            mine.map((e, j) => settle(e.id, runId, outcomes[j]!, { attempts: e.attempts })),
            mine.map((e, j) => event(j, { runId, type: outcomes[j]!, data: { repair: e.id } })),
          );
        }
      };
      await Promise.all([run(a, "run-a", ids), run(b, "run-b", [...ids].reverse())]);
      const ledger = await a.listRepairs({});
      expect(ledger.length).toBe(ids.length);
      for (const e of ledger)
        expect([e.id, e.outcome, e.runId]).toEqual([e.id, "applied", landedBy.get(e.id)]);
      for (const runId of ["run-a", "run-b"]) {
        const appliedAudit = (await a.readAudit({ runId })).filter((e) => e.type === "applied");
        expect(appliedAudit.length).toBe((await a.listRepairs({ runId, outcome: "applied" })).length);
      }
    });

    it("settling a rollback's inverse rolled-back or noop marks the repair it undoes rolled-back in the same call; a failed one, or one whose undoes does not hold, leaves it applied", async () => {
      const store = await open();
      const originals = ["r1", "r2", "r3", "r4"].map((id) => repair(id, { outcome: "applied" }));
      await store.recordRepairs(originals);
      const inverse = (e: LedgerEntry, undoes = e.id): LedgerEntry => {
        const t = inverseRepair(e);
        return {
          ...repair(t.id),
          runId: "run-rb",
          key: t.key,
          expected: t.expected,
          nextFingerprint: t.nextFingerprint,
          before: t.before,
          after: t.next,
          undoes,
        };
      };
      // r4's inverse names r3 (an edited row): it is not r3's rollback, so neither is marked.
      const [i1, i2, i3, i4] = [
        inverse(originals[0]!),
        inverse(originals[1]!),
        inverse(originals[2]!),
        inverse(originals[3]!, "r3"),
      ];
      await store.claimRepairs([i1!, i2!, i3!, i4!]);
      await store.settleRepairs(
        [
          settle(i1!.id, "run-rb", "rolled-back", { key: i1!.key, updatedAt: 3000 }),
          settle(i2!.id, "run-rb", "noop", { key: i2!.key, updatedAt: 3001 }),
          settle(i3!.id, "run-rb", "failed", { key: i3!.key, error: "boom" }),
          settle(i4!.id, "run-rb", "rolled-back", { key: i4!.key }),
        ],
        [],
      );
      const got = await store.getRepairs(refs("r1", "r2", "r3", "r4"));
      expect([...got.values()].map((e) => [e.id, e.outcome, e.runId, e.updatedAt])).toEqual([
        ["r1", "rolled-back", "run-1", 3000],
        ["r2", "rolled-back", "run-1", 3001],
        ["r3", "applied", "run-1", 1000],
        ["r4", "applied", "run-1", 1000],
      ]);
      // The images are kept: only outcome and time change.
      expect(got.get("r1")).toEqual({ ...originals[0], outcome: "rolled-back", updatedAt: 3000 });
      // A repair claimed again since (not applied as the inverse expected) is left alone.
      await store.recordRepairs([repair("r5", { outcome: "applied", nextFingerprint: "fedcba9876543210" })]);
      const i5 = inverse(repair("r5", { outcome: "applied" }));
      await store.claimRepairs([i5]);
      await store.settleRepairs([settle(i5.id, "run-rb", "rolled-back", { key: i5.key })], []);
      expect((await store.getRepairs(refs("r5"))).get("r5")?.outcome).toBe("applied");
    });
  });

  describe("abandoned claims", () => {
    it("lists pending entries of runs that are not live: finished, stale, or unknown and old", async () => {
      const store = await open();
      const begin = (id: string, at: number) =>
        store.beginRun({ id, dataset: "users", command: "repair", startedAt: at });
      await begin("live", 100);
      await store.heartbeatRun("live", 5000);
      await begin("stale", 100);
      await store.heartbeatRun("stale", 3999);
      await begin("finished", 4500);
      await store.finishRun("finished", "users", {
        finishedAt: 4600,
        status: "failed",
        counts: {},
        stats: {},
      });
      await begin("legacy", 4200);
      await sql("UPDATE runs SET heartbeat_at = NULL WHERE id = 'legacy'");
      await begin("legacy-old", 100);
      await sql("UPDATE runs SET heartbeat_at = NULL WHERE id = 'legacy-old'");
      await store.recordRepairs([
        repair("a1", { runId: "live" }),
        repair("s1", { runId: "stale" }),
        repair("f1", { runId: "finished" }),
        repair("s2", { runId: "stale", outcome: "applied" }),
        repair("l1", { runId: "legacy" }),
        repair("l2", { runId: "legacy-old" }),
        repair("u1", { runId: "unknown", updatedAt: 3000 }),
        repair("u2", { runId: "unknown", updatedAt: 4000 }),
        repair("o1", { runId: "stale", dataset: "orders" }),
      ]);
      const abandoned = async (options: { staleBefore: number; limit?: number }) =>
        (await store.listAbandonedRepairs("users", options)).map((e) => e.id);
      expect(await abandoned({ staleBefore: 4000 })).toEqual(["s1", "f1", "l2", "u1"]);
      expect(await abandoned({ staleBefore: 4000, limit: 2 })).toEqual(["s1", "f1"]);
      expect(await abandoned({ staleBefore: 10_000 })).toEqual(["a1", "s1", "f1", "l1", "l2", "u1", "u2"]);
      expect(await abandoned({ staleBefore: 0 })).toEqual(["f1"]);
      expect((await store.listAbandonedRepairs("orders", { staleBefore: 4000 }))[0]).toEqual(
        repair("o1", { runId: "stale", dataset: "orders" }),
      );
    });

    it("records a suspended run's write under it when it lands after its claim was recovered", async () => {
      const [suspended, other] = [await open(), await open()];
      await suspended.beginRun({ id: "run-a", dataset: "users", command: "repair", startedAt: 1000 });
      await other.beginRun({ id: "run-b", dataset: "users", command: "repair", startedAt: 1000 });
      await suspended.claimRepairs([repair("r1", { runId: "run-a" })]);
      // run-a stops beating (SIGSTOP); run-b's recovery finds its claim and, its target not yet written,
      // settles it failed in run-a's name; then run-b claims the repair itself.
      await other.heartbeatRun("run-b", 90_000);
      const [abandoned] = await other.listAbandonedRepairs("users", { staleBefore: 60_000 });
      expect(abandoned!.runId).toBe("run-a");
      await other.settleRepairs(
        [settle("r1", "run-a", "failed", { error: "interrupted" })],
        [event(1, { runId: "run-b", type: "failed" })],
      );
      expect((await other.claimRepairs([repair("r1", { runId: "run-b" })])).get("r1")!.kind).toBe("claimed");
      // run-a resumes: its write lands and it settles applied; run-b's write then finds it done.
      await suspended.settleRepairs([settle("r1", "run-a", "applied")], [event(2, { runId: "run-a" })]);
      await other.settleRepairs(
        [settle("r1", "run-b", "noop")],
        [event(3, { runId: "run-b", type: "noop" })],
      );
      expect(await other.listRepairs({})).toEqual([
        repair("r1", { runId: "run-a", outcome: "applied", attempts: 1, updatedAt: 2000 }),
      ]);
      expect((await other.readAudit()).map((e) => [e.seq, e.runId, e.type])).toEqual([
        [1, "run-b", "failed"],
        [2, "run-a", "applied"],
      ]);
    });
  });
}
