/**
 * A PostgreSQL schema copied into SQLite keeps its type names: `INTERVAL`, `POINT`, `INT4RANGE`, `INTEGER[]`,
 * `BOOLEAN[]`, `TIME WITH TIME ZONE`, `SERIAL`, `BYTEA`. SQLite's affinity rule reads "INT" in some of them,
 * Concord's own rules "BOOL" or "TIME" in others, and none of those says what they hold: they are compared as
 * the PostgreSQL columns' types are (before: "column iv has incompatible types: interval on a, interval on
 * b", left out of the comparison, and an SQLite INTERVAL holding '1 day' could not be read), scanned,
 * repaired and read back.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const pgAvailable = await serviceAvailable(POSTGRES);
const mysqlAvailable = await serviceAvailable(MYSQL);

describe.skipIf(!pgAvailable)("SQLite columns declared with PostgreSQL type names", () => {
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    schema = await createPostgresTestSchema();
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it("INTERVAL, POINT, INT4RANGE, arrays, TIME WITH TIME ZONE, SERIAL and BYTEA are compared as PostgreSQL's types", async () => {
    const dir = tempDir();
    await schema.admin.query(
      `CREATE TABLE ${schema.table("hd_pg")} (id serial PRIMARY KEY, iv interval, p point, r int4range, a int[],
         ba boolean[], tz timetz, by bytea);
       INSERT INTO ${schema.table("hd_pg")} VALUES
         (1, '1 day', '(1,2)', '[1,5)', '{1,NULL}', '{t,f}', '12:00:00+05:30', '\\x00ff'),
         (2, '00:00:05', '(0,0)', 'empty', '[0:1]={1,2}', '{}', '00:00:00+00', '\\x')`,
    );
    const file = new Database(join(dir, "b.db"));
    file.exec(`CREATE TABLE t (id SERIAL PRIMARY KEY, iv INTERVAL, p POINT, r INT4RANGE, a INTEGER[],
        ba BOOLEAN[], tz TIME WITH TIME ZONE, by BYTEA);
      INSERT INTO t VALUES (1, '1 day', '(1,2)', '[1,5)', '{1,NULL}', '{t,f}', '12:00:00+05:30', x'00ff'),
        (2, '5', '(0,1)', 'empty', '{1,2}', '{t}', '00:00:00+00', x'00')`);
    file.close();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "${POSTGRES.url}", table: "${schema.table("hd_pg")}" }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
`,
    );
    const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
    expect(scan.stderr).toBe("");
    const doc = JSON.parse(scan.stdout) as {
      datasets: { divergences: { key: unknown[]; columns?: string[] }[]; schema?: unknown[] }[];
    };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([[2]]);
    expect(scan.stdout).not.toContain("incompatible types");

    const repair = await runConcord(["repair", "-c", cfg], { cwd: dir });
    expect(repair.code).toBe(0);
    const rescan = await runConcord(["scan", "-c", cfg], { cwd: dir });
    expect(rescan.code).toBe(0);
    const read = new Database(join(dir, "b.db"), { readonly: true });
    try {
      const columns = "id, iv, p, r, a, ba, tz, typeof(by) || ':' || hex(by)";
      expect(read.prepare(`SELECT ${columns} FROM t ORDER BY id`).raw(true).all()).toEqual([
        [1, "1 day", "(1,2)", "[1,5)", "{1,NULL}", "{t,f}", "12:00:00+05:30", "blob:00FF"],
        [2, "00:00:05", "(0,0)", "empty", "[0:1]={1,2}", "{}", "00:00:00+00", "blob:"],
      ]);
    } finally {
      read.close();
    }
  });
});

describe.skipIf(!mysqlAvailable)("SQLite columns declared with MariaDB type names", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("BIT(n) and YEAR are compared as integers beside MariaDB's (before: incompatible types bit(8) and bit(8))", async () => {
    const dir = tempDir();
    await db.admin.query("CREATE TABLE hd_my (id int PRIMARY KEY, bt bit(8), y year)");
    await db.admin.query("INSERT INTO hd_my VALUES (1, b'10000001', 2024), (2, b'0', 0)");
    const file = new Database(join(dir, "b.db"));
    file.exec(
      "CREATE TABLE t (id INTEGER PRIMARY KEY, bt BIT(8), y YEAR); INSERT INTO t VALUES (1, 129, 2024)",
    );
    file.close();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: "${db.url}", table: hd_my }
      b: { url: "sqlite:b.db", table: t }
    policy: { owner: a, resolve: owner }
`,
    );
    const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
    expect(scan.stderr).toBe("");
    expect(scan.stdout).not.toContain("incompatible types");
    const doc = JSON.parse(scan.stdout) as { datasets: { divergences: { key: unknown[] }[] }[] };
    expect(doc.datasets[0]!.divergences.map((d) => d.key)).toEqual([[2]]);
    expect((await runConcord(["repair", "-c", cfg], { cwd: dir })).code).toBe(0);
    expect((await runConcord(["scan", "-c", cfg], { cwd: dir })).code).toBe(0);
    const read = new Database(join(dir, "b.db"), { readonly: true });
    try {
      expect(read.prepare("SELECT id, quote(bt), quote(y) FROM t ORDER BY id").raw(true).all()).toEqual([
        [1, "129", "2024"],
        [2, "0", "0"],
      ]);
    } finally {
      read.close();
    }
  });
});

describe.skipIf(!pgAvailable || !mysqlAvailable)("spatial columns in two forms", () => {
  let db: MysqlTestDatabase;
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    schema = await createPostgresTestSchema();
  });
  afterAll(async () => {
    await db?.drop();
    await schema?.drop();
  });

  it("a POINT kept as PostgreSQL's text (PostgreSQL, SQLite) beside MariaDB's bytes is not compared, and the schema issue says why in one line; the other columns are", async () => {
    const dir = tempDir();
    await db.admin.query("CREATE TABLE sp (id int PRIMARY KEY, p POINT, v int)");
    await db.admin.query("INSERT INTO sp VALUES (1, POINT(1, 2), 1), (2, POINT(3, 4), 2)");
    await schema.admin.query(
      `CREATE TABLE ${schema.table("sp")} (id int PRIMARY KEY, p point, v int);
       INSERT INTO ${schema.table("sp")} VALUES (1, '(1,2)', 1), (2, '(3,4)', 20)`,
    );
    const file = new Database(join(dir, "s.db"));
    file.exec(
      "CREATE TABLE sp (id INTEGER PRIMARY KEY, p POINT, v INT); INSERT INTO sp VALUES (1, '(1,2)', 1), (2, '(3,4)', 20)",
    );
    file.close();
    const wkb = "bytes (an SRID, then WKB, as MariaDB/MySQL keep it) on m";
    for (const [other, url, table] of [
      ["p", POSTGRES.url, schema.table("sp")],
      ["s", "sqlite:s.db", "sp"],
    ] as const) {
      const cfg = writeConfig(
        dir,
        `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      ${other}: { url: ${JSON.stringify(url)}, table: ${JSON.stringify(table)} }
      m: { url: ${JSON.stringify(db.url)}, table: sp }
    policy: { owner: m, resolve: owner }
`,
      );
      const scan = await runConcord(["scan", "--json", "-c", cfg], { cwd: dir });
      expect(scan.stderr).toBe("");
      const doc = JSON.parse(scan.stdout) as {
        datasets: { divergences: { key: unknown[]; class: string }[]; schema?: unknown }[];
      };
      expect(doc.datasets[0]!.divergences.filter((d) => d.class !== "schema").map((d) => d.key)).toEqual([
        [2],
      ]);
      const text = await runConcord(["scan", "-c", cfg], { cwd: dir });
      const line = text.stdout.split("\n").find((l) => l.includes("column p"))!;
      expect(line).toContain(
        `column p has incompatible types: ${other === "p" ? "point" : "POINT"} (text) on ${other}, point (bytes) on m (a shape is PostgreSQL's text ("(1,2)") on ${other}, ${wkb}; Concord converts no shape from one form to another, so the column is not compared)`,
      );
    }
  });
});
