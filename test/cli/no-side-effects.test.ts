/** A command that fails before its work leaves nothing behind: no state file, no run recorded. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, it } from "vitest";
import { openStateStore } from "../../src/state/open-state-store.js";
import { makeSqliteTable, runConcord, tempDir, writeConfig } from "./helpers.js";

function config(dir: string): string {
  return writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  t:
    key: id
    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: missing_table }
`,
  );
}

describe.concurrent("no side effects before the work", () => {
  it("scan and repair failing at table inspection create no state file", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeSqliteTable(join(dir, "a.db"), "t", "id INTEGER PRIMARY KEY, v TEXT", [[1, "x"]]);
    makeSqliteTable(join(dir, "b.db"), "t", "id INTEGER PRIMARY KEY, v TEXT", [[1, "y"]]);
    const cfg = config(dir);
    for (const command of ["scan", "plan", "repair"]) {
      const r = await runConcord([command, "-c", cfg]);
      expect(r.code, command).toBe(2);
      expect(r.stderr, command).toMatch(/missing_table/);
      expect(existsSync(join(dir, "state.db")), command).toBe(false);
    }
  });

  it("a repair failing at table inspection records no run in an existing state", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    makeSqliteTable(join(dir, "a.db"), "t", "id INTEGER PRIMARY KEY, v TEXT", [[1, "x"]]);
    makeSqliteTable(join(dir, "b.db"), "t", "id INTEGER PRIMARY KEY, v TEXT", [[1, "y"]]);
    const cfg = config(dir);
    // A state file that exists already (an earlier, healthy run's).
    await (await openStateStore(`sqlite:${join(dir, "state.db")}`)).close();
    const r = await runConcord(["repair", "-c", cfg]);
    expect(r.code).toBe(2);
    expect(existsSync(join(dir, "state.db"))).toBe(true);
    const db = new Database(join(dir, "state.db"), { readonly: true });
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM runs").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});
