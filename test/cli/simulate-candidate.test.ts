/**
 * `concord simulate --policy LIVE --candidate FILE`: every seed run under both policies over the same world
 * (workload and faults), invariants and counts side by side; the candidate's figures are exactly those of a
 * plain run under it.
 */
import { describe, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "./helpers.js";

interface Figures {
  ok: boolean;
  failedInvariants: string[];
  repairs: Record<string, number>;
  escalations: number;
}

describe("simulate --candidate", () => {
  it("runs each seed under both policies and compares them", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    writeConfig(dir, "owner: r0\nresolve: owner\n", "live.yaml");
    writeConfig(dir, "resolve: highest-version\n", "candidate.yaml");
    const small = ["--keys", "30", "--writes", "150", "--faults", "none"];
    const r = await runConcord(
      [
        "simulate",
        "--seeds",
        "1..2",
        ...small,
        "--policy",
        "live.yaml",
        "--candidate",
        "candidate.yaml",
        "--json",
      ],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      schemaVersion: number;
      seeds: { seed: number; live: Figures; candidate: Figures }[];
      summary: { live: { seeds: number; passed: number }; candidate: { seeds: number; passed: number } };
    };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.seeds.map((s) => [s.seed, s.live.ok, s.candidate.ok])).toEqual([
      [1, true, true],
      [2, true, true],
    ]);
    expect(doc.summary.live).toMatchObject({ seeds: 2, passed: 2 });
    expect(doc.summary.candidate).toMatchObject({ seeds: 2, passed: 2 });
    // The candidate's side is what a plain run under the candidate gives for that seed.
    const alone = await runConcord(
      ["simulate", "--seed", "1", ...small, "--policy", "candidate.yaml", "--json"],
      {
        cwd: dir,
      },
    );
    const plain = JSON.parse(alone.stdout) as { repairs: Record<string, number>; escalations: number };
    expect({
      repairs: doc.seeds[0]!.candidate.repairs,
      escalations: doc.seeds[0]!.candidate.escalations,
    }).toEqual({
      repairs: plain.repairs,
      escalations: plain.escalations,
    });

    const text = await runConcord(
      ["simulate", "--seed", "3", ...small, "--policy", "live.yaml", "--candidate", "candidate.yaml"],
      { cwd: dir },
    );
    expect(text.stdout).toMatch(/^seed 3\n {2}live: {6}ok .*\n {2}candidate: ok /);
    expect(text.stdout).toMatch(/\nlive: 1 of 1 seeds passed; .*\ncandidate: 1 of 1 seeds passed; /);
    const bad = await runConcord(["simulate", "--candidate", "missing.yaml"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^concord: --candidate missing\.yaml: /);
  });
});
