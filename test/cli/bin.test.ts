/**
 * The executable itself, as a process: `bin/concord.js` runs the built CLI, writes to the process's own
 * streams, reads its environment and working directory, and exits with the command's code. Every other
 * CLI test calls `main()` in-process; this one keeps the bin entry (`run()`) honest.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  execConcord,
  expectOneLineError,
  itemsConfig,
  parseJson,
  REPO,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

describe.concurrent("bin/concord.js", () => {
  it("--version prints the package version and exits 0", async ({ expect }) => {
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    expect(await execConcord(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("scans with -c relative to its working directory and ${VAR} from its environment; exit 1 on divergence", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    writeConfig(dir, itemsConfig(SEEDED_POLICY).replace("sqlite:b.db", "sqlite:${CONCORD_TEST_REPLICA_B}"));
    const r = await execConcord(["scan", "--json", "-c", "concord.yaml"], {
      cwd: dir,
      env: { CONCORD_TEST_REPLICA_B: "b.db" },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(parseJson(r).datasets[0]!.counts).toMatchObject({ missing: 3, stale: 2, conflict: 1 });
  });

  it("exits 2 with one line on stderr for bad input", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const line = expectOneLineError(await execConcord(["scan"], { cwd: dir }), expect);
    expect(line).toMatch(/^concord: concord\.yaml: cannot read config file \(not found/);
  });
});
