/**
 * pgEdge ACE's insert-only and upsert-only repairs: `repair --mode` (or `repairMode:` in the config) makes
 * only inserts of records a target lacks, or inserts and updates but no deletes; the writes it holds back
 * are neither claimed nor written, their divergence remains, and the summary counts them.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, it } from "vitest";
import { expectOneLineError, makeSqliteTable, runConcord, tempDir, writeConfig } from "../cli/helpers.js";

const DDL = "id INTEGER PRIMARY KEY, name TEXT";
const ROWS = Array.from({ length: 10 }, (_, i) => [i + 1, `n${i + 1}`]);

/** b lacks 2, holds another name for 3, and an extra 11; a is the owner. */
function replicas(dir: string, mode = ""): void {
  makeSqliteTable(join(dir, "a.db"), "t", DDL, ROWS);
  makeSqliteTable(join(dir, "b.db"), "t", DDL, ROWS, {
    sql: "DELETE FROM t WHERE id = 2; UPDATE t SET name = 'x' WHERE id = 3; INSERT INTO t VALUES (11, 'extra');",
  });
  writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  items:
    key: id
${mode}    replicas:
      a: { url: "sqlite:a.db", table: t }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
`,
  );
}

function rowsOfB(dir: string): unknown[] {
  const db = new Database(join(dir, "b.db"), { readonly: true });
  try {
    return db.prepare("SELECT id, name FROM t WHERE id IN (2, 3, 11) ORDER BY id").all();
  } finally {
    db.close();
  }
}

interface RepairJson {
  datasets: { repairs: { key: number[]; outcome: string }[]; summary: Record<string, number> }[];
}

describe.concurrent("repair --mode", () => {
  it("insert-only writes only the records a target lacks", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    replicas(dir);
    const r = await runConcord(["repair", "--mode", "insert-only", "--json"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1); // the update and the delete remain
    const doc = JSON.parse(r.stdout) as RepairJson;
    expect(doc.datasets[0]!.repairs.map((x) => [x.key, x.outcome])).toEqual([[[2], "applied"]]);
    expect(doc.datasets[0]!.summary).toMatchObject({ applied: 1, heldBack: 2 });
    expect(rowsOfB(dir)).toEqual([
      { id: 2, name: "n2" },
      { id: 3, name: "x" },
      { id: 11, name: "extra" },
    ]);
    const text = await runConcord(["repair", "--mode", "insert-only"], { cwd: dir });
    expect(text.stdout).toContain("repair: held back by insert-only 2");
    // The full repair does the rest.
    expect((await runConcord(["repair"], { cwd: dir })).code).toBe(0);
    expect(rowsOfB(dir)).toEqual([
      { id: 2, name: "n2" },
      { id: 3, name: "n3" },
    ]);
  });

  it("upsert-only (from the config) inserts and updates but deletes nothing; --print shows only those", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    replicas(dir, "    repairMode: upsert-only\n");
    const printed = await runConcord(["repair", "--print"], { cwd: dir });
    expect(printed.stdout).toContain("-- key 2: propagate");
    expect(printed.stdout).toContain("-- key 3: propagate");
    expect(printed.stdout).not.toContain("DELETE");
    expect(printed.stdout).toContain("-- items: 2 conditional writes printed, none executed");
    const r = await runConcord(["repair"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("repair: applied 2 · held back by upsert-only 1");
    expect(rowsOfB(dir)).toEqual([
      { id: 2, name: "n2" },
      { id: 3, name: "n3" },
      { id: 11, name: "extra" },
    ]);
    // --mode all on the command line overrides the config.
    expect((await runConcord(["repair", "--mode", "all"], { cwd: dir })).code).toBe(0);
    expect(rowsOfB(dir)).toEqual([
      { id: 2, name: "n2" },
      { id: 3, name: "n3" },
    ]);
  });

  it("refuses an unknown mode with one line", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    replicas(dir);
    expect(
      expectOneLineError(await runConcord(["repair", "--mode", "inserts"], { cwd: dir }), expect),
    ).toContain("argument 'inserts' is invalid. Allowed choices are all, insert-only, upsert-only.");
    const other = tempDir(onTestFinished);
    replicas(other, "    repairMode: delete-only\n");
    expect(expectOneLineError(await runConcord(["repair"], { cwd: other }), expect)).toContain(
      "datasets.items.repairMode",
    );
  });
});
