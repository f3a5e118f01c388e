/**
 * Inferred ownership by recent activity and by latency through the one run pipeline, on real SQLite replicas
 * and on SQLite and PostgreSQL state: a first repair run records who held each stale record's newest version
 * (the evidence aggregates), and the next run decides conflicts by it — per key range for recent activity,
 * over the dataset for latency — with the evidence in each `decided` audit entry; a range without confident
 * evidence escalates.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import type { StateStore } from "../../src/state/state-store.js";
import {
  postgresFactory,
  type StateStoreFixture,
  sqliteFactory,
} from "../integration/state-store-factories.js";
import { itemsConfig, makeItemsReplicas } from "../support/sqlite-items.js";

const HOUR = 3_600_000;
/** The hour the first run records its evidence in (the runs' clock starts at 1_750_000_000_000). */
const HOUR0 = Math.floor(1_750_000_000_000 / HOUR) * HOUR;
/** Keys b took writes on (key range 0 of four 100-row ranges), and keys a took writes on (range 2). */
const B_WRITES = [11, 14, 17, 21, 24, 27, 31, 34, 37, 41];
const A_WRITES = [211, 214, 217, 221, 224, 227, 231, 234, 237, 241];
/** Conflicts (equal versions, different names) in ranges 0, 2 and 3. */
const CONFLICTS = [60, 260, 360];

for (const factory of [sqliteFactory, postgresFactory]) {
  describe.skipIf(!(await factory.available()))(`inferred owner by activity on ${factory.name} state`, () => {
    let dir: string;
    let fixture: StateStoreFixture;
    let clock: number;
    const cleanup: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), "concord-activity-"));
      makeItemsReplicas(dir, { rows: 400 });
      fixture = await factory.create();
      clock = 1_750_000_000_000;
    });

    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
      await fixture.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Sets `name` (and `version`) of `ids` on one replica: a write only that replica has taken. */
    function write(replica: string, ids: readonly number[], name: (id: number) => string, version: number) {
      const db = new Database(join(dir, `${replica}.db`));
      const st = db.prepare("UPDATE items SET name = ?, version = ? WHERE id = ?");
      db.transaction(() => {
        for (const id of ids) st.run(name(id), version, id);
      })();
      db.close();
    }

    function nameOn(replica: string, id: number): string {
      const db = new Database(join(dir, `${replica}.db`), { readonly: true });
      try {
        return (db.prepare("SELECT name FROM items WHERE id = ?").get(id) as { name: string }).name;
      } finally {
        db.close();
      }
    }

    async function open(owner: string): Promise<{
      state: StateStore;
      replicas: OpenReplica[];
      run: (id: string) => ReturnType<typeof runDataset>;
    }> {
      const cfg = itemsConfig(dir, {
        policy: `owner: ${owner}, resolve: highest-version`,
        extra: "    checkpointRows: 100\n",
      });
      const ds = cfg.datasets[0]!;
      const state = await fixture.open();
      const replicas: OpenReplica[] = [];
      for (const r of ds.replicas)
        replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
      cleanup.push(async () => {
        for (const r of replicas) await r.connector.close();
      });
      const run = (runId: string) =>
        runDataset(
          ds,
          replicas,
          { state, now: () => clock },
          { runId, command: "repair", mode: "repair", groupSegments: false },
        );
      return { state, replicas, run };
    }

    async function decided(state: StateStore, runId: string) {
      const entries = (await state.readAudit({ runId })).filter((e) => e.type === "decided");
      return new Map(
        entries.map((e) => [
          Number(e.key ? JSON.parse(e.key)[0] : -1),
          e.data as { action: string; source?: string; reason: string; evidence?: Record<string, unknown> },
        ]),
      );
    }

    it("recent-activity: each range's conflicts go to the replica taking that range's writes", async () => {
      const { state, run } = await open("{ inferred: recent-activity, minConfidence: 0.6 }");
      write("b", B_WRITES, (id) => `b wrote ${id}`, 3);
      write("a", A_WRITES, (id) => `a wrote ${id}`, 3);
      const first = await run("run-1");
      // Stale records are decided by their versions; they are the evidence of who writes where.
      expect(first.totals.repairs).toEqual({ applied: 20 });
      expect(await state.activityEvidence("items", 0)).toEqual([
        { replica: "a", segment: 0, bucket: HOUR0, ahead: 0, observed: 10, behind: 10, probed: 0, lagMs: 0 },
        { replica: "a", segment: 2, bucket: HOUR0, ahead: 10, observed: 10, behind: 0, probed: 0, lagMs: 0 },
        { replica: "b", segment: 0, bucket: HOUR0, ahead: 10, observed: 10, behind: 0, probed: 0, lagMs: 0 },
        { replica: "b", segment: 2, bucket: HOUR0, ahead: 0, observed: 10, behind: 10, probed: 0, lagMs: 0 },
      ]);

      clock += HOUR;
      write("a", CONFLICTS, (id) => `a ${id}`, 5);
      write("b", CONFLICTS, (id) => `b ${id}`, 5);
      const second = await run("run-2");
      expect(second.totals.repairs).toEqual({ applied: 2 });
      expect(second.totals.escalated).toBe(1);
      expect(nameOn("a", 60)).toBe("b 60");
      expect(nameOn("b", 260)).toBe("a 260");
      expect(nameOn("a", 360)).toBe("a 360");
      expect(nameOn("b", 360)).toBe("b 360");

      const entries = await decided(state, "run-2");
      expect(entries.get(60)).toMatchObject({
        action: "propagate",
        source: "b",
        evidence: {
          basis: "recent-activity",
          best: "b",
          owner: "b",
          segment: 0,
          settled: 10,
          lost: 0,
          windowMs: 24 * HOUR,
          sinceMs: HOUR0,
          confident: true,
          minConfidence: 0.6,
        },
      });
      expect(entries.get(60)!.reason).toContain(
        "owner inferred by recent-activity of b 1.000 (95% interval 0.722–1.000: first to hold 10 of 10 changes seen since 2025-06-15T15:00Z, in key range 0)",
      );
      expect(entries.get(260)).toMatchObject({ source: "a", evidence: { best: "a", segment: 2 } });
      // Range 3 has no evidence: the dataset's, where each replica held half the changes first.
      expect(entries.get(360)).toMatchObject({
        action: "escalate",
        evidence: { basis: "recent-activity", settled: 20, lost: 10, confident: false },
      });
      expect(entries.get(360)!.evidence).not.toHaveProperty("segment");
      expect(entries.get(360)!.reason).toContain("lower bound is below minConfidence 0.6");
    });

    it("recent-activity: evidence older than the window no longer counts, so the fallback owns the conflicts", async () => {
      const { state, run } = await open("{ inferred: recent-activity, minConfidence: 0.6, fallback: a }");
      write("b", B_WRITES, (id) => `b wrote ${id}`, 3);
      await run("run-1");
      clock += 25 * HOUR;
      write("a", [60], (id) => `a ${id}`, 5);
      write("b", [60], (id) => `b ${id}`, 5);
      await run("run-2");
      expect(nameOn("b", 60)).toBe("a 60");
      const entry = (await decided(state, "run-2")).get(60)!;
      expect(entry.reason).toContain("fallback owner, since recent-activity of a");
      expect(entry.evidence).toMatchObject({ settled: 0, confident: false, owner: "a" });
    });

    it("latency: conflicts go to the replica least often behind, its evidence in the audit", async () => {
      const { state, run } = await open("{ inferred: latency, minConfidence: 0.7 }");
      // a took every write and b lagged behind on each of them.
      write("a", [...B_WRITES, ...A_WRITES.slice(0, 2)], (id) => `a wrote ${id}`, 3);
      await run("run-1");
      clock += HOUR;
      write("a", CONFLICTS, (id) => `a ${id}`, 5);
      write("b", CONFLICTS, (id) => `b ${id}`, 5);
      const second = await run("run-2");
      expect(second.totals.repairs).toEqual({ applied: 3 });
      for (const id of CONFLICTS) expect(nameOn("b", id)).toBe(`a ${id}`);
      const entries = await decided(state, "run-2");
      for (const id of CONFLICTS) {
        expect(entries.get(id)).toMatchObject({
          source: "a",
          evidence: { basis: "latency", best: "a", owner: "a", settled: 12, lost: 0, confident: true },
        });
        expect(entries.get(id)!.reason).toContain(
          "owner inferred by latency of a 1.000 (95% interval 0.758–1.000: behind in 0 of 12 observations in the last 24 h)",
        );
      }
    });
  });
}
