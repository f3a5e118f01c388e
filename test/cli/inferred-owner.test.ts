/**
 * `owner: { inferred: reliability }` through the CLI on real SQLite replicas and the SQLite state store: a
 * first repair under a static owner leaves evidence (b held the losing value of every stale key), then the
 * inferred owner decides new conflicts by it — `plan --json` shows the evidence, `repair` writes a's values —
 * and a minConfidence the evidence cannot reach escalates instead.
 */
import { describe, expect, it } from "vitest";
import { makeItemsReplicas, writeItemsConfig } from "../support/sqlite-items.js";
import { execSql, type PlanJson, parseJson, runConcord, tempDir } from "./helpers.js";

const STALE = Array.from({ length: 30 }, (_, i) => i + 1);
const CONFLICTS = [50, 60];

/** A repaired dataset with evidence, then two conflicts (b changed at the same version). */
async function withEvidence(): Promise<string> {
  const dir = tempDir();
  makeItemsReplicas(dir, { rows: 100, stale: STALE });
  writeItemsConfig(dir);
  expect((await runConcord(["repair"], { cwd: dir })).code).toBe(0);
  execSql(`${dir}/b.db`, `UPDATE items SET name = 'b ' || id WHERE id IN (${CONFLICTS.join(", ")})`);
  return dir;
}

describe("owner: { inferred: reliability } in the CLI", () => {
  it("plans by the replica the evidence trusts, with the evidence in each decision, and repairs", async () => {
    const dir = await withEvidence();
    writeItemsConfig(dir, {
      policy: "owner: { inferred: reliability, minConfidence: 0.85 }, resolve: highest-version",
    });
    const plan = parseJson<PlanJson>(await runConcord(["plan", "--json"], { cwd: dir }));
    const decisions = plan.datasets[0]!.decisions as (PlanJson["datasets"][number]["decisions"][number] & {
      evidence: Record<string, unknown>;
    })[];
    expect(decisions.map((d) => [d.key, d.class, d.action, d.source])).toEqual([
      [[50], "conflict", "propagate", "a"],
      [[60], "conflict", "propagate", "a"],
    ]);
    // a settled 30 decisions and lost none: Wilson lower bound 30 / 33.84 = 0.887.
    expect(decisions[0]!.evidence).toMatchObject({
      basis: "reliability",
      best: "a",
      owner: "a",
      settled: 30,
      lost: 0,
      confident: true,
      minConfidence: 0.85,
    });
    expect(decisions[0]!.evidence.low).toBeCloseTo(0.8865, 3);
    expect(decisions[0]!.reason).toContain(
      "owner inferred by reliability of a 1.000 (95% interval 0.886–1.000",
    );
    const repaired = await runConcord(["repair"], { cwd: dir });
    expect(repaired.code).toBe(0);
    expect((await runConcord(["scan"], { cwd: dir })).code).toBe(0);
  });

  it("escalates when the evidence does not reach minConfidence", async () => {
    const dir = await withEvidence();
    writeItemsConfig(dir, {
      policy: "owner: { inferred: reliability, minConfidence: 0.95 }, resolve: highest-version",
    });
    const r = await runConcord(["repair", "--json"], { cwd: dir });
    expect(r.code).toBe(1);
    const decisions = parseJson<PlanJson>(r).datasets[0]!.decisions;
    expect(decisions.map((d) => d.action)).toEqual(["escalate", "escalate"]);
    expect(decisions[0]!.reason).toContain("lower bound is below minConfidence 0.95");
  });
});
