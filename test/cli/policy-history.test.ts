/**
 * The policy registry from the command line: a repair run records its dataset's policy, a changed policy
 * writes a `policy-changed` audit entry with the diff before its first decision, and `concord policy
 * history|show|diff` read the versions back. The audit chain still verifies.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  execSql,
  expectOneLineError,
  itemsConfig,
  makeItemsReplicas,
  parseJson,
  runConcord,
  tempDir,
  writeConfig,
} from "./helpers.js";

interface HistoryJson {
  schemaVersion: number;
  datasets: {
    name: string;
    current: string | null;
    previous: string | null;
    versions: {
      version: string;
      current: boolean;
      firstUsedBy: string;
      firstRunId: string;
      source: string;
    }[];
  }[];
}

interface AuditJson {
  entries: { seq: number; type: string; runId: string; data: Record<string, unknown> }[];
}

describe.concurrent("policy history", () => {
  it("records each policy a repair ran under, audits the change with its diff first, and diffs versions", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 40, sqlB: "UPDATE items SET version = 0, name = 'old' WHERE id = 3" });
    const cfg = writeConfig(dir, itemsConfig("resolve: highest-version"));
    const env = { USER: "alice" };

    // Read-only commands record nothing.
    expect((await runConcord(["plan", "-c", cfg])).code).toBe(1);
    const none = parseJson<HistoryJson>(await runConcord(["policy", "history", "-c", cfg, "--json"]));
    expect(none).toEqual({ schemaVersion: 1, datasets: [] });

    const first = await runConcord(["repair", "-c", cfg, "--json"], { env });
    expect(first.code, first.stderr).toBe(0);
    const runOne = parseJson<{ runId: string }>(first).runId;
    const h1 = parseJson<HistoryJson>(await runConcord(["policy", "history", "-c", cfg, "--json"]));
    expect(h1.datasets).toHaveLength(1);
    const v1 = h1.datasets[0]!.versions[0]!;
    expect(h1.datasets[0]).toMatchObject({ name: "items", current: v1.version, previous: null });
    expect(v1).toMatchObject({ current: true, firstRunId: runOne, source: cfg });
    expect(v1.firstUsedBy).toMatch(/^cli:/);

    // The same policy again: no new version, no new entry.
    expect((await runConcord(["repair", "-c", cfg])).code).toBe(0);
    // A changed policy, and a divergence for it to decide.
    writeConfig(dir, itemsConfig("owner: b\nresolve: owner\nlimits: { maxRepairs: 50 }"));
    execSql(join(dir, "b.db"), "UPDATE items SET name = 'b wins' WHERE id = 9");
    const second = await runConcord(["repair", "-c", cfg, "--json"], { env });
    expect(second.code, second.stderr).toBe(0);
    const runTwo = parseJson<{ runId: string }>(second).runId;

    const h2 = parseJson<HistoryJson>(await runConcord(["policy", "history", "-c", cfg, "--json"]));
    const [old, next] = h2.datasets[0]!.versions;
    expect(h2.datasets[0]).toMatchObject({ current: next!.version, previous: old!.version });
    expect([old!.current, next!.current]).toEqual([false, true]);
    expect(next!.firstRunId).toBe(runTwo);

    const audit = parseJson<AuditJson>(await runConcord(["audit", "show", "-c", cfg, "--json"]));
    const changes = audit.entries.filter((e) => e.type === "policy-changed");
    expect(changes.map((e) => [e.runId, e.data.from, e.data.to])).toEqual([
      [runOne, null, old!.version],
      [runTwo, old!.version, next!.version],
    ]);
    expect(changes[1]!.data.diff).toEqual(
      expect.arrayContaining([
        "+   limits:",
        "+     maxRepairs: 50",
        "+   owner: b",
        "-   resolve: highest-version",
        "+   resolve: owner",
      ]),
    );
    // Before the first decision of the run that changed it.
    const firstDecision = audit.entries.find((e) => e.runId === runTwo && e.type === "decided")!;
    expect(changes[1]!.seq).toBeLessThan(firstDecision.seq);
    expect((firstDecision.data as { policyVersion?: string }).policyVersion ?? next!.version).toBe(
      next!.version,
    );
    expect((await runConcord(["audit", "verify", "-c", cfg])).code).toBe(0);

    // show and diff.
    const shown = await runConcord(["policy", "show", "-c", cfg]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`policy ${next!.version} (current)`);
    expect(shown.stdout).toContain("  owner: b\n");
    const oldText = await runConcord(["policy", "show", old!.version.slice(0, 6), "-c", cfg, "-d", "items"]);
    expect(oldText.stdout).toContain("  resolve: highest-version\n");
    const diff = await runConcord(["policy", "diff", "-c", cfg]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(
      new RegExp(`^--- items ${old!.version} .*\\n\\+\\+\\+ items ${next!.version} `),
    );
    expect(diff.stdout).toContain("\n-   resolve: highest-version\n+   owner: b\n+   resolve: owner\n");
    const same = await runConcord(["policy", "diff", old!.version, old!.version, "-c", cfg, "--json"]);
    expect(same.code).toBe(0);
    expect(parseJson<{ changed: boolean }>(same).changed).toBe(false);
  });

  it("show --block prints a version as a policy block that loads back to the same version (README: roll back)", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 10 });
    const written =
      "owner: a\nresolve: highest-version\nwindow: 90s\ntolerance: { price: 0.01, updated_at: 2s }\nlimits: { maxRepairs: 50 }";
    const cfg = writeConfig(dir, itemsConfig(written));
    expect((await runConcord(["repair", "-c", cfg])).code).toBe(0);
    const v1 = parseJson<HistoryJson>(await runConcord(["policy", "history", "-c", cfg, "--json"]))
      .datasets[0]!.versions[0]!.version;
    const block = await runConcord(["policy", "show", "--block", "-c", cfg]);
    expect(block.code, block.stderr).toBe(0);
    expect(block.stdout).not.toContain("windowMs");
    // Both: refused, rather than a YAML block where a script waits for JSON.
    expect(
      expectOneLineError(await runConcord(["policy", "show", "--block", "--json", "-c", cfg]), expect),
    ).toBe("concord: policy show: give --block or --json, not both");
    // Another policy runs, then the block is put back: the repair runs under the first version again.
    writeConfig(dir, itemsConfig("owner: b\nresolve: owner"));
    expect((await runConcord(["repair", "-c", cfg])).code).toBe(0);
    writeFileSync(join(dir, "old.yaml"), block.stdout);
    const sandbox = await runConcord(["plan", "--candidate", "old.yaml", "-c", cfg, "--json"], { cwd: dir });
    expect(sandbox.code, sandbox.stderr).toBe(0);
    writeConfig(dir, itemsConfig(block.stdout.trimEnd()));
    const back = await runConcord(["repair", "-c", cfg]);
    expect(back.code, back.stderr).toBe(0);
    const h = parseJson<HistoryJson>(await runConcord(["policy", "history", "-c", cfg, "--json"]))
      .datasets[0]!;
    expect(h.current).toBe(v1);
    expect(h.versions).toHaveLength(2);
  });

  it("names unknown datasets and versions on one line", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 5 });
    const cfg = writeConfig(dir, itemsConfig("resolve: highest-version"));
    const unknown = await runConcord(["policy", "history", "-c", cfg, "-d", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^concord: -d nope: no dataset named "nope"/);
    expect((await runConcord(["repair", "-c", cfg])).code).toBe(0);
    const bad = await runConcord(["policy", "show", "feedbeef", "-c", cfg]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      "concord: policy version feedbeef: items never ran under it (see concord policy history -d items)\n",
    );
    const one = await runConcord(["policy", "diff", "-c", cfg]);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/has run under one policy only/);
  });
});
