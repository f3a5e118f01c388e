/**
 * Two `concord repair` processes on the same replicas and one SQLite state file, at once: no repair is
 * written twice, the ledger records each applied repair under the run (process) whose write landed, and
 * `rollback --run` of either finds every repair that run applied.
 */
import { join } from "node:path";
import { describe, type ExpectStatic, expect, it } from "vitest";
import {
  itemsConfig,
  itemsSnapshot,
  makeItemsReplicas,
  type PlanJson,
  query,
  type RunResult,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

const ROWS = 6000;

function applied(r: RunResult, ex: ExpectStatic): { runId: string; ids: string[] } {
  ex(r.stderr).toBe("");
  const doc = JSON.parse(r.stdout) as PlanJson;
  const repairs = doc.datasets[0]!.repairs!;
  for (const p of repairs.filter((x) => x.outcome === "superseded"))
    ex(p.error).toMatch(/^held by run \S+, which has this repair pending/);
  return { runId: doc.runId, ids: repairs.filter((p) => p.outcome === "applied").map((p) => p.id) };
}

describe("two concord repair processes at once on one state file", () => {
  it("write each repair once and record it under the process whose write landed", async () => {
    const dir = tempDir();
    // b is newer on every other row: 3,000 repairs of a.
    const { a, b } = makeItemsReplicas(dir, {
      rows: ROWS,
      sqlB: "UPDATE items SET qty = qty + 1, version = version + 1 WHERE id % 2 = 0;",
      wal: true,
    });
    const config = writeConfig(dir, itemsConfig("limits: { maxDivergentFraction: 1, maxRepairs: 100000 }"));
    const before = itemsSnapshot(a);
    const [first, second] = await Promise.all([
      runConcord(["repair", "--json", "-c", config]),
      runConcord(["repair", "--json", "-c", config]),
    ]);
    const x = applied(first, expect);
    const y = applied(second, expect);
    expect(x.runId).not.toBe(y.runId);
    expect(itemsSnapshot(a)).toEqual(itemsSnapshot(b));
    // Written once each: by one process or the other.
    expect(x.ids.length + y.ids.length).toBe(ROWS / 2);
    expect(new Set([...x.ids, ...y.ids]).size).toBe(ROWS / 2);

    const state = join(dir, "state.db");
    const ledger = query<{ id: string; run_id: string; outcome: string }>(
      state,
      "SELECT id, run_id, outcome FROM ledger",
    );
    expect(ledger.length).toBe(ROWS / 2);
    const landed = new Map<string, string>([
      ...x.ids.map((id) => [id, x.runId] as const),
      ...y.ids.map((id) => [id, y.runId] as const),
    ]);
    for (const e of ledger) expect([e.id, e.outcome, e.run_id]).toEqual([e.id, "applied", landed.get(e.id)]);
    for (const run of [x, y]) {
      const [audited] = query<{ n: number }>(
        state,
        "SELECT count(*) AS n FROM audit WHERE type = 'applied' AND run_id = ?",
        run.runId,
      );
      expect(audited!.n).toBe(run.ids.length);
    }

    // Rolling back each process's run finds every repair it applied (a process that found everything done
    // by the other has none).
    for (const run of [x, y].filter((r) => r.ids.length > 0)) {
      const undo = await runConcord(["rollback", "--run", run.runId, "--json", "-c", config]);
      expect(undo.stderr).toBe("");
      const { rollbacks } = JSON.parse(undo.stdout) as { rollbacks: { repair: string; outcome: string }[] };
      expect(rollbacks.map((r) => r.repair).sort()).toEqual([...run.ids].sort());
      expect(rollbacks.every((r) => r.outcome === "rolled-back")).toBe(true);
      expect(undo.code).toBe(0);
    }
    expect(itemsSnapshot(a)).toEqual(before);
  });
});
