/**
 * An output flag never replaces a file Concord itself reads for the config: `scan --output a.db` put a diff
 * file in place of a replica's SQLite database (its rows gone), `--output state.db` in place of the state
 * file (the audit log gone, `audit verify` then BROKEN), `--output concord.yaml` in place of the config. Each
 * is refused in one line naming what the file is, and the file is left as it was.
 */
import { linkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  expectOneLineError,
  itemsConfig,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  sha256,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("output files", () => {
  it("scan --output and diff --output refuse the config, state and replica files", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    const first = await runConcord(["repair", "-c", config], { cwd: dir });
    expect(first.code, first.stderr).toBe(1);
    linkSync(join(dir, "b.db"), join(dir, "b-link.db"));
    const files = ["a.db", "b.db", "state.db", "concord.yaml"];
    const before = files.map((f) => sha256(join(dir, f)));
    const cases: [string[], string][] = [
      [["scan", "--output", "a.db"], "--output a.db: is the database of replica items.a; write it elsewhere"],
      [
        ["scan", "--output", "b-link.db"],
        "--output b-link.db: is the database of replica items.b; write it elsewhere",
      ],
      [
        ["scan", "--output", "state.db"],
        "--output state.db: is the state file (runs, ledger, audit log); write it elsewhere",
      ],
      [["scan", "--output", "concord.yaml"], "--output concord.yaml: is the config file; write it elsewhere"],
    ];
    for (const [args, message] of cases) {
      const r = await runConcord([...args, "-c", config], { cwd: dir });
      expect(expectOneLineError(r, expect)).toBe(`concord: ${message}`);
    }
    const diff = await runConcord(
      ["diff", "sqlite:a.db", "items", "sqlite:b.db", "items", "-k", "id", "--output", "b.db"],
      { cwd: dir },
    );
    expect(expectOneLineError(diff, expect)).toBe(
      "concord: --output b.db: is the database of replica diff.right; write it elsewhere",
    );
    expect(files.map((f) => sha256(join(dir, f)))).toEqual(before);
    const verify = await runConcord(["audit", "verify", "-c", config], { cwd: dir });
    expect(verify.code, verify.stdout).toBe(0);
    // Anywhere else, the diff file is written as before.
    const elsewhere = await runConcord(["scan", "--output", "diff.jsonl", "-c", config], { cwd: dir });
    expect(elsewhere.code, elsewhere.stderr).toBe(1);
  });
});
