/**
 * `concord insights` with `owner: { inferred: latency }`: after a repair run records who was behind, the
 * report shows the per-replica figures the owner is chosen by (JSON and text). SQLite state; the evidence
 * store's PostgreSQL side is covered by the conformance suite and test/engine/inferred-owner-activity.test.ts.
 */
import { describe, expect, it } from "vitest";
import { makeItemsReplicas, parseJson, runConcord, tempDir, writeConfig } from "./helpers.js";

const BEHIND = [3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47];

describe("concord insights with an inferred owner", () => {
  it("shows the figures of the owner's basis, best lower bound first", async () => {
    const dir = tempDir();
    makeItemsReplicas(dir, {
      rows: 60,
      sqlB: `UPDATE items SET name = 'old ' || id, version = 0 WHERE id IN (${BEHIND.join(", ")})`,
    });
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "sqlite:b.db", table: items }
    policy: { owner: { inferred: latency, minConfidence: 0.7 }, resolve: highest-version }
`,
    );
    expect((await runConcord(["repair", "-c", cfg])).code).toBe(0);
    const doc = parseJson<{
      datasets: { owner: { basis: string; minConfidence: number; windowMs: number; replicas: object[] } }[];
    }>(await runConcord(["insights", "-c", cfg, "--json"]));
    const owner = doc.datasets[0]!.owner;
    expect(owner).toMatchObject({ basis: "latency", minConfidence: 0.7, windowMs: 86_400_000 });
    expect(owner.replicas).toMatchObject([
      { name: "a", settled: 12, lost: 0, score: 1 },
      { name: "b", settled: 12, lost: 12, score: 0 },
    ]);
    const text = await runConcord(["insights", "-c", cfg]);
    expect(text.stdout).toContain("  inferred owner by latency (minConfidence 0.7, last 24 h), best first:");
    expect(text.stdout).toMatch(/ {4}replica +score +95% interval +observations +behind +mean probe lag/);
    expect(text.stdout).toMatch(/ {4}a +100\.0% +75\.8%–100\.0% +12 +0 +- +confident/);
  });
});
