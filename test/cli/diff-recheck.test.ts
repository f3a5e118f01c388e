/**
 * The peer tools' habits: `concord diff` compares two tables without a config file (reladiff's
 * `URL1 TABLE1 URL2 TABLE2 -k id`, rows as -/+ with values), and `concord recheck --run ID` reads again only
 * the keys an earlier run found diverging (pgEdge ACE's re-run), optionally repairing just those.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import {
  execSql,
  expectOneLineError,
  itemsConfig,
  makeSqliteTable,
  type PlanJson,
  parseJson,
  query,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

const DDL = "id INTEGER PRIMARY KEY, name TEXT, qty INTEGER";

describe.concurrent("concord diff", () => {
  it("groups the digits of its counts like the row counts", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    const rows = Array.from({ length: 1500 }, (_, i) => [i + 1, `n${i + 1}`, i + 1]);
    makeSqliteTable(join(dir, "a.db"), "t", DDL, rows);
    makeSqliteTable(join(dir, "b.db"), "u", DDL, rows.slice(1200));
    const r = await runConcord(["diff", "sqlite:a.db", "t", "sqlite:b.db", "u", "-k", "id", "--limit", "1"], {
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout.split("\n").slice(1)).toEqual([
      "… 1,199 more (--limit N, or --json for all)",
      "1,200 rows differ: 1,200 only in left (-), 0 only in right (+), 0 with other values (left 1,500 rows, right 300 rows).",
      "",
    ]);
  });

  it("lists differing rows as - and + with their values, and writes nothing anywhere", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    const rows = Array.from({ length: 50 }, (_, i) => [i + 1, `n${i + 1}`, i + 1]);
    makeSqliteTable(join(dir, "a.db"), "t", DDL, rows);
    makeSqliteTable(join(dir, "b.db"), "u", DDL, rows, {
      sql: "DELETE FROM u WHERE id = 7; UPDATE u SET name = 'x, y' WHERE id = 9; INSERT INTO u VALUES (99, '', NULL);",
    });
    const r = await runConcord(["diff", "sqlite:a.db", "t", "sqlite:b.db", "u", "-k", "id"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        "- 7  name=n7, qty=7",
        "- 9  name=n9, qty=9",
        '+ 9  name="x, y", qty=9',
        '+ 99  name="", qty=NULL',
        "3 rows differ: 1 only in left (-), 1 only in right (+), 1 with other values (left 50 rows, right 50 rows).",
        "",
      ].join("\n"),
    );
    expect(readdirSync(dir).sort()).toEqual(["a.db", "b.db"]);
    const twice = await runConcord(["diff", "sqlite:a.db", "t", "sqlite:a.db", "t", "-k", "id"], {
      cwd: dir,
    });
    expect(expectOneLineError(twice, expect)).toContain("same store and table as replica left");

    const named = await runConcord(
      [
        "diff",
        "sqlite:a.db",
        "t",
        "sqlite:b.db",
        "u",
        "-k",
        "id",
        "--columns",
        "qty",
        "--names",
        "pg,cache",
        "--limit",
        "1",
      ],
      { cwd: dir },
    );
    expect(named.stdout).toBe(
      "- 7  qty=7\n… 1 more (--limit N, or --json for all)\n2 rows differ: 1 only in pg (-), 1 only in cache (+), 0 with other values (pg 50 rows, cache 50 rows).\n",
    );
    const json = parseJson(
      await runConcord(["diff", "sqlite:a.db", "t", "sqlite:b.db", "u", "-k", "id", "--json"], { cwd: dir }),
    );
    expect(json.datasets[0]!.divergences.map((d) => d.key)).toEqual([[7], [9], [99]]);
    expect(json.datasets[0]!.divergences[1]!.replicas).toMatchObject({
      left: { values: { name: "n9" } },
      right: { values: { name: "x, y" } },
    });

    makeSqliteTable(join(dir, "c.db"), "t", DDL, rows);
    const same = await runConcord(["diff", "sqlite:a.db", "t", "sqlite:c.db", "t", "-k", "id"], { cwd: dir });
    expect([same.code, same.stdout]).toEqual([0, "No differences (left 50 rows, right 50 rows).\n"]);
    expect(
      expectOneLineError(
        await runConcord(["diff", "sqlite:a.db", "t", "sqlite:b.db", "nope", "-k", "id"], { cwd: dir }),
        expect,
      ),
    ).toContain('table "nope" does not exist');
    expect(
      expectOneLineError(
        await runConcord(["diff", "sqlite:a.db", "t", "sqlite:b.db", "u"], { cwd: dir }),
        expect,
      ),
    ).toContain("required option '-k, --key <columns>'");
    expect(
      expectOneLineError(
        await runConcord(["diff", "sqlite:a.db", "t", "sqlite:b.db", "u", "-k", "id", "--names", "x"], {
          cwd: dir,
        }),
        expect,
      ),
    ).toContain("--names x: expected two different names");
    expect(existsSync(join(dir, ".concord"))).toBe(false);
  });
});

describe.concurrent("concord recheck", () => {
  it("reads again only the keys the run found diverging; --repair writes only those", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir); // missing 10 20 301, stale 30 70, conflict 40, tolerated 50, in-flight 60
    const config = writeConfig(dir, itemsConfig(`owner: a\nresolve: owner\n${SEEDED_POLICY}`));
    const scan = await runConcord(["scan", "--json", "-c", config]);
    const first = parseJson(scan);
    expect(first.datasets[0]!.divergences.length).toBe(8);
    // Meanwhile: 30 and 40 are fixed by hand, and a new difference appears at 100.
    execSql(
      join(dir, "b.db"),
      `UPDATE items SET name = 'renamed', version = version + 1 WHERE id = 30;
       UPDATE items SET note = NULL WHERE id = 40;
       UPDATE items SET qty = qty + 5 WHERE id = 100;`,
    );
    const again = await runConcord(["recheck", "--run", first.runId, "--json", "-c", config]);
    expect(again.code, again.stderr).toBe(1);
    const doc = parseJson(again);
    const keys = doc.datasets[0]!.divergences.map((d) => d.key[0]).sort((x, y) => Number(x) - Number(y));
    expect(keys).toEqual([10, 20, 50, 60, 70, 301]);
    // Only those keys were read: a handful of rows, not the table.
    expect(doc.datasets[0]!.stats.rowsRead as number).toBeLessThanOrEqual(16);
    const runs = query<{ command: string }>(
      join(dir, "state.db"),
      "SELECT command FROM runs WHERE id = ?",
      doc.runId,
    );
    expect(runs).toEqual([{ command: "recheck" }]);

    const repair = await runConcord(["recheck", "--run", first.runId, "--repair", "--json", "-c", config]);
    const repaired = parseJson<PlanJson>(repair)
      .datasets[0]!.repairs!.map((r) => r.key[0])
      .sort((x, y) => Number(x) - Number(y));
    expect(repaired).toEqual([10, 20, 70, 301]);
    // 100 was not among the run's divergences: left for a full scan.
    const a100 = query(join(dir, "a.db"), "SELECT qty FROM items WHERE id = 100")[0];
    const b100 = query(join(dir, "b.db"), "SELECT qty FROM items WHERE id = 100")[0];
    expect(b100).not.toEqual(a100);

    const text = await runConcord(["recheck", "--run", first.runId, "-c", config]);
    expect(text.stdout).toMatch(/^items: 2 divergences/);
    const none = await runConcord(["recheck", "--run", "20200101T000000Z-000000", "-c", config]);
    expect(expectOneLineError(none, expect)).toContain(
      "--run 20200101T000000Z-000000: no run with this id in",
    );
    const both = await runConcord(["recheck", "--run", first.runId, "--plan", "--repair", "-c", config]);
    expect(expectOneLineError(both, expect)).toBe("concord: recheck: give --plan or --repair, not both");
  });

  it("leaves datasets where the run found nothing alone, and says so", async ({ expect, onTestFinished }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const ddl = "code TEXT PRIMARY KEY, label TEXT";
    makeSqliteTable(join(dir, "a.db"), "plain", ddl, [["k1", "x"]]);
    makeSqliteTable(join(dir, "b.db"), "plain", ddl, [["k1", "x"]]);
    const config = writeConfig(
      dir,
      itemsConfig(
        SEEDED_POLICY,
        `  plain:
    key: code
    replicas:
      a: { url: "sqlite:a.db", table: plain }
      b: { url: "sqlite:b.db", table: plain }
`,
      ),
    );
    const first = parseJson(await runConcord(["scan", "--json", "-c", config]));
    const again = await runConcord(["recheck", "--run", first.runId, "-c", config]);
    expect(again.stdout).toContain(`plain: run ${first.runId} found no divergent keys there; not re-checked`);
  });
});
