/**
 * A repair rolled back, applied again under the same id (its target back at the state it was repaired from),
 * then rolled back again: the second rollback writes the before image again. Its inverse has the first
 * rollback's id, which the ledger shows rolled-back; taking that for this rollback carried out reported the
 * repair `noop`, marked it rolled-back and left the replica holding the repair's write (found by a chaos run:
 * the repair was then applied a third time with no rollback recorded in between).
 */
import { describe, expect, it } from "vitest";
import {
  itemsConfig,
  itemsSnapshot,
  makeItemsReplicas,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe("rollback of a repair applied again after an earlier rollback", () => {
  it("writes the before image again, records it, and verify passes", async () => {
    const dir = tempDir();
    const { a, b } = makeItemsReplicas(dir, {
      rows: 20,
      sqlA: "UPDATE items SET qty = qty + 100, version = version + 1 WHERE id <= 3;",
    });
    const config = writeConfig(dir, itemsConfig());
    const before = itemsSnapshot(b);
    const repair = async () => {
      const r = await runConcord(["repair", "--json", "-c", config]);
      expect(r.code, r.stderr).toBe(0);
      return parseJson<PlanJson>(r);
    };
    const first = await repair();
    const ids = first.datasets[0]!.repairs!.map((p) => p.id).sort();
    expect(ids).toHaveLength(3);
    const undo1 = await runConcord(["rollback", "--run", first.runId, "-c", config]);
    expect(undo1.code, undo1.stderr).toBe(0);
    expect(itemsSnapshot(b)).toEqual(before);

    // The same divergence again: the same repairs (same ids), applied by a second run.
    const second = await repair();
    expect(second.datasets[0]!.repairs!.map((p) => [p.id, p.outcome]).sort()).toEqual(
      ids.map((id) => [id, "applied"]),
    );
    expect(itemsSnapshot(b)).toEqual(itemsSnapshot(a));

    const undo2 = await runConcord(["rollback", "--run", second.runId, "--json", "-c", config]);
    expect(undo2.code, undo2.stderr).toBe(0);
    const { rollbacks } = JSON.parse(undo2.stdout) as { rollbacks: { repair: string; outcome: string }[] };
    expect(rollbacks.map((r) => [r.repair, r.outcome]).sort()).toEqual(ids.map((id) => [id, "rolled-back"]));
    expect(itemsSnapshot(b)).toEqual(before);
    // Each write of the inverses is in the log: twice each (one per rollback).
    const state = `${dir}/state.db`;
    const [row] = query<{ n: number }>(state, "SELECT count(*) AS n FROM audit WHERE type = 'rolled-back'");
    expect(row!.n).toBe(6);
    const verify = await runConcord(["audit", "verify", "-c", config]);
    expect(verify.code, verify.stdout).toBe(0);
  });
});
