/**
 * A MariaDB/MySQL target whose storage engine has no transactions (MyISAM, Aria, MEMORY) is never written:
 * its conditional write could not lock, check and write atomically, nor roll back a batch that is refused
 * half-way. Before, a batch refused after its UPDATE (a generated column computing another value) stayed
 * written: the refused row was left half-repaired and reported `superseded`, the others reported `noop`
 * with no before image to roll back, though Concord had changed them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJson, runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

interface RepairJson {
  datasets: { repairs: { key: number[]; outcome: string; error?: string }[] }[];
}

/** A config over tables a (owner) and `target` of `url`, keyed by k, comparing a and g. */
function config(url: string, target: string): string {
  const path = join(tempDir(), "concord.yaml");
  writeFileSync(
    path,
    `state: "sqlite::memory:"
datasets:
  t:
    key: k
    columns: [a, g]
    replicas:
      a: { url: ${JSON.stringify(url)}, table: a }
      b: { url: ${JSON.stringify(url)}, table: ${target} }
    policy: { owner: a, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
  );
  return path;
}

describe.skipIf(!(await serviceAvailable(MYSQL)))("MariaDB/MySQL tables without transactions", () => {
  let db: MysqlTestDatabase;
  const engines = ["MyISAM", "MEMORY"];
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    if (db.mariadb) engines.push("Aria");
    await db.admin.query("CREATE TABLE a (k INT PRIMARY KEY, a INT, g INT) ENGINE=InnoDB");
    // Key 1 to update, key 2's g is not what the target computes (6 * 2 is 12), key 3 to insert.
    await db.admin.query("INSERT INTO a VALUES (1, 5, 10), (2, 6, 99), (3, 7, 14)");
    for (const engine of engines) {
      // MEMORY keeps no generated columns: g is a plain column there.
      const g = engine === "MEMORY" ? "g INT" : "g INT AS (a * 2) VIRTUAL";
      await db.admin.query(`CREATE TABLE b_${engine} (k INT PRIMARY KEY, a INT, ${g}) ENGINE=${engine}`);
      await db.admin.query(
        engine === "MEMORY"
          ? `INSERT INTO b_${engine} VALUES (1, 1, 2), (2, 2, 4)`
          : `INSERT INTO b_${engine} (k, a) VALUES (1, 1), (2, 2)`,
      );
    }
    // Views that write into the MyISAM table (directly, and through another view), and one over InnoDB.
    await db.admin.query("CREATE VIEW v_myisam AS SELECT x.k, x.a, x.g FROM b_MyISAM AS x");
    await db.admin.query("CREATE VIEW v_nested AS SELECT * FROM v_myisam");
    await db.admin.query("CREATE TABLE b_inno (k INT PRIMARY KEY, a INT, g INT) ENGINE=InnoDB");
    await db.admin.query("INSERT INTO b_inno VALUES (1, 1, 2)");
    await db.admin.query("CREATE VIEW v_inno AS SELECT k, a, g FROM b_inno");
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("refuses every write into such a table in one line naming its engine, and writes nothing", async () => {
    for (const engine of engines) {
      const cfg = config(db.url, `b_${engine}`);
      const r = await runConcord(["repair", "--json", "-c", cfg]);
      expect(r.code, `${engine}: ${r.stderr}`).toBe(1);
      const repairs = parseJson<RepairJson>(r).datasets[0]!.repairs;
      expect(repairs.map((x) => [x.key[0], x.outcome]).sort()).toEqual([
        [1, "failed"],
        [2, "failed"],
        [3, "failed"],
      ]);
      for (const x of repairs)
        expect(x.error).toBe(
          `t.b: conditional write refused: table b_${engine} uses the ${engine} engine, which has no transactions: ` +
            "a conditional write could not lock, check and write a batch at once, nor undo one refused half-way " +
            `(ALTER TABLE b_${engine} ENGINE=InnoDB to repair it)`,
        );
      const [rows] = await db.admin.query(`SELECT k, a, g FROM b_${engine} ORDER BY k`);
      expect(rows, engine).toEqual([
        { k: 1, a: 1, g: 2 },
        { k: 2, a: 2, g: 4 },
      ]);
      // Scans still compare it.
      expect((await runConcord(["scan", "-c", cfg])).code).toBe(1);
    }
  });

  it("refuses writes through a view into such a table, through other views too, naming the table behind it", async () => {
    for (const view of ["v_myisam", "v_nested"]) {
      const cfg = config(db.url, view);
      const r = await runConcord(["repair", "--json", "-c", cfg]);
      expect(r.code, `${view}: ${r.stderr}`).toBe(1);
      const repairs = parseJson<RepairJson>(r).datasets[0]!.repairs;
      expect(repairs.map((x) => x.outcome)).toEqual(["failed", "failed", "failed"]);
      for (const x of repairs)
        expect(x.error).toBe(
          `t.b: conditional write refused: view ${view} writes into table ${db.name}.b_MyISAM, which uses the MyISAM engine, which has no transactions: ` +
            "a conditional write could not lock, check and write a batch at once, nor undo one refused half-way " +
            `(ALTER TABLE ${db.name}.b_MyISAM ENGINE=InnoDB to repair it)`,
        );
    }
    const [rows] = await db.admin.query("SELECT k, a, g FROM b_MyISAM ORDER BY k");
    expect(rows).toEqual([
      { k: 1, a: 1, g: 2 },
      { k: 2, a: 2, g: 4 },
    ]);
    // A view over an InnoDB table is written as before.
    const inno = await runConcord(["repair", "--json", "-c", config(db.url, "v_inno")]);
    expect(inno.code, inno.stderr).toBe(0);
    const [written] = await db.admin.query("SELECT k, a, g FROM b_inno ORDER BY k");
    expect(written).toEqual([
      { k: 1, a: 5, g: 10 },
      { k: 2, a: 6, g: 99 },
      { k: 3, a: 7, g: 14 },
    ]);
  });
});
