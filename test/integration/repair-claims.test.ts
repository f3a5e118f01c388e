/**
 * Two runs repairing the same divergences at once, each with its own state store instance on one SQLite file
 * or one PostgreSQL schema (as two processes would): no repair is written twice, every applied repair is
 * recorded under the run whose write landed, and rolling back a run finds all of its repairs, including
 * when a run is suspended while another recovers its claims.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { keyId } from "../../src/core/model.js";
import {
  type ExecuteContext,
  executeRepairs,
  type RepairResult,
  type RepairTask,
} from "../../src/execute/execute-repairs.js";
import { WriteGuard } from "../../src/execute/write-guard.js";
import type { StateStore } from "../../src/state/state-store.js";
import {
  makeReplicas,
  openReplica,
  type ReplicaPair,
  repairTasks,
  rollbackTasks,
  rowsOf,
  SHAPE,
} from "./repair-replicas.js";
import { type StateStoreFixture, stateStoreFactories } from "./state-store-factories.js";

const ROWS = 4000;

function context(runId: string, state: StateStore, b: Connector, now = () => 100_000): ExecuteContext {
  return {
    runId,
    shape: SHAPE,
    replicas: new Map([["b", b]]),
    state,
    guard: new WriteGuard({ maxAttempts: 1 }),
    now,
    batchSize: 250,
  };
}

const ids = (results: readonly RepairResult[], outcome: RepairResult["outcome"]) =>
  results.filter((r) => r.outcome === outcome).map((r) => r.id);

/** A connector whose writes wait at a gate: `entered` resolves when a write arrives, `open()` lets them through. */
function gated(connector: Connector) {
  let enter!: () => void;
  let open!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const opened = new Promise<void>((r) => (open = r));
  const wrapped = new Proxy(connector, {
    get(target, prop, receiver) {
      if (prop === "applyWrites")
        return async (...args: Parameters<Connector["applyWrites"]>) => {
          enter();
          await opened;
          return target.applyWrites(...args);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { connector: wrapped, entered, open };
}

for (const factory of stateStoreFactories) {
  const available = await factory.available();

  describe.skipIf(!available)(`two runs repairing at once, ${factory.name} state`, () => {
    let dir: string;
    let fx: StateStoreFixture;
    let pair: ReplicaPair;
    const connectors: Connector[] = [];
    const replica = (path: string, label: string) => {
      const c = openReplica(path, label);
      connectors.push(c);
      return c;
    };

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), "concord-claims-"));
      fx = await factory.create();
    });

    afterEach(async () => {
      for (const c of connectors.splice(0)) await c.close();
      await fx.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it("writes every repair once and records it under the run whose write landed", async () => {
      pair = makeReplicas(dir, ROWS);
      const tasks = await repairTasks(replica(pair.a, "a"), replica(pair.b, "b"), ROWS);
      expect(tasks.length).toBe(ROWS);
      const [stateA, stateB] = [await fx.open(), await fx.open()];
      // The same order in batches of different sizes, so the runs keep claiming overlapping ids at once.
      const [resultsA, resultsB] = await Promise.all([
        executeRepairs("items", tasks, context("run-a", stateA, replica(pair.b, "b"))),
        executeRepairs("items", tasks, { ...context("run-b", stateB, replica(pair.b, "b")), batchSize: 170 }),
      ]);
      const appliedA = ids(resultsA, "applied");
      const appliedB = ids(resultsB, "applied");
      // Each repair written once: by one run or the other, never both.
      expect(appliedA.length + appliedB.length).toBe(ROWS);
      expect(new Set([...appliedA, ...appliedB]).size).toBe(ROWS);
      expect(appliedA.length).toBeGreaterThan(0);
      expect(appliedB.length).toBeGreaterThan(0);
      // What the other run held is reported superseded, naming the holder, and was not written by it.
      const held = [...resultsA, ...resultsB].filter((r) => r.outcome === "superseded");
      expect(held.length).toBeGreaterThan(0);
      for (const r of held) expect(r.error).toMatch(/^held by run run-[ab], which has this repair pending/);
      expect(rowsOf(pair.b)).toEqual(rowsOf(pair.a));

      const ledger = await stateA.listRepairs({ dataset: "items" });
      expect(ledger.length).toBe(ROWS);
      const landed = new Map<string, string>([
        ...appliedA.map((id) => [id, "run-a"] as const),
        ...appliedB.map((id) => [id, "run-b"] as const),
      ]);
      for (const e of ledger) expect([e.id, e.outcome, e.runId]).toEqual([e.id, "applied", landed.get(e.id)]);
      for (const [runId, applied] of [
        ["run-a", appliedA],
        ["run-b", appliedB],
      ] as const) {
        const audited = (await stateB.readAudit({ runId })).filter((e) => e.type === "applied");
        expect(audited.map((e) => (e.data as { repair: string }).repair).sort()).toEqual([...applied].sort());
        expect((await stateB.listRepairs({ runId, outcome: "applied" })).length).toBe(applied.length);
      }

      // Rolling back run A finds every repair it applied, and only those.
      const mine = await stateA.listRepairs({ runId: "run-a", outcome: "applied" });
      expect(mine.map((e) => e.id).sort()).toEqual([...appliedA].sort());
      const undone = await executeRepairs("items", rollbackTasks(mine), {
        ...context("run-undo", stateA, replica(pair.b, "b")),
        appliedEvent: "rolled-back",
      });
      expect(ids(undone, "rolled-back").length).toBe(appliedA.length);
      const restored = new Set(mine.map((e) => Number(e.key[0])));
      for (const [id, name] of rowsOf(pair.b))
        expect(name).toBe(restored.has(id) ? `stale-${id}` : `item-${id}`);
    });

    for (const first of ["suspended", "recovering"] as const)
      it(`records a write under its run when the ${first} run's write lands first after recovery took its claim`, async () => {
        pair = makeReplicas(dir, 60);
        const tasks: RepairTask[] = await repairTasks(replica(pair.a, "a"), replica(pair.b, "b"), 60);
        const [stateA, stateB] = [await fx.open(), await fx.open()];
        await stateA.beginRun({ id: "run-a", dataset: "items", command: "repair", startedAt: 1000 });
        await stateB.beginRun({ id: "run-b", dataset: "items", command: "repair", startedAt: 1000 });
        // Run A claims and stops at its write (SIGSTOP): its heartbeat goes stale.
        const a = gated(replica(pair.b, "b"));
        const runA = executeRepairs(
          "items",
          tasks,
          context("run-a", stateA, a.connector, () => 2000),
        );
        await a.entered;
        // Run B's recovery finds A's claims abandoned, reads the target (not written) and settles them
        // failed in A's name; then B claims them again and reaches its own write.
        await stateB.heartbeatRun("run-b", 100_000);
        const abandoned = await stateB.listAbandonedRepairs("items", { staleBefore: 40_000 });
        expect(abandoned.map((e) => e.runId)).toEqual(tasks.map(() => "run-a"));
        await stateB.settleRepairs(
          abandoned.map((e) => ({
            ...e,
            outcome: "failed" as const,
            error: "interrupted",
            updatedAt: 100_000,
          })),
          abandoned.map((e) => ({
            ts: 100_000,
            runId: "run-b",
            type: "failed" as const,
            dataset: "items",
            key: keyId(e.key),
            data: { repair: e.id, recovered: true, interruptedRun: e.runId },
          })),
        );
        const b = gated(replica(pair.b, "b"));
        const runB = executeRepairs("items", tasks, context("run-b", stateB, b.connector));
        await b.entered;

        const [winner, loser] =
          first === "suspended" ? (["run-a", "run-b"] as const) : (["run-b", "run-a"] as const);
        const gates = { "run-a": a, "run-b": b };
        const runs = { "run-a": runA, "run-b": runB };
        gates[winner].open();
        const winnerResults = await runs[winner];
        gates[loser].open();
        const loserResults = await runs[loser];

        expect(ids(winnerResults, "applied").length).toBe(tasks.length);
        expect(ids(loserResults, "noop").length).toBe(tasks.length);
        const ledger = await stateA.listRepairs({ dataset: "items" });
        expect(ledger.map((e) => `${e.outcome} ${e.runId}`)).toEqual(tasks.map(() => `applied ${winner}`));
        const winnerAudit = (await stateA.readAudit({ runId: winner })).filter((e) => e.type !== "failed");
        expect(winnerAudit.map((e) => e.type)).toEqual(tasks.map(() => "applied"));
        // The loser's noops were not its claims any more: not recorded, not audited under it.
        expect((await stateA.readAudit({ runId: loser })).filter((e) => e.type !== "failed")).toEqual([]);
        expect((await stateA.listRepairs({ runId: winner, outcome: "applied" })).length).toBe(tasks.length);
        expect(await stateA.listRepairs({ runId: loser, outcome: "applied" })).toEqual([]);
      });
  });
}
