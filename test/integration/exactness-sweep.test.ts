/**
 * Values an adversarial sweep across store pairs found compared or written wrongly, each scanned, repaired and
 * read back with the store's own client. PostgreSQL's NULL inet was read as '' (format('%s', NULL) is ''), so
 * it equalled an empty text elsewhere and a repair wrote '' for it. PostgreSQL's 1 BC is a leap year and
 * MariaDB's year 0000 is not: February 29 of it was sent and refused by the server without the key.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJson, runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

/** A config over replicas a (owner) and b of dataset t, keyed by k. */
function config(dir: string, a: object, b: object): string {
  const path = join(dir, "concord.yaml");
  writeFileSync(
    path,
    `state: "sqlite::memory:"
datasets:
  t:
    key: k
    replicas:
      a: ${JSON.stringify(a)}
      b: ${JSON.stringify(b)}
    policy: { owner: a, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
  );
  return path;
}

describe.skipIf(!(await serviceAvailable(POSTGRES)))("PostgreSQL inet beside SQLite text", () => {
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    schema = await createPostgresTestSchema();
    await schema.admin.query(`CREATE TABLE ${schema.table("a")} (k int PRIMARY KEY, ip inet)`);
    await schema.admin.query(
      `INSERT INTO ${schema.table("a")} VALUES (1, NULL), (2, '10.0.0.1'), (3, '10.0.0.0/8'), (4, NULL)`,
    );
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it("tells a NULL inet from an empty text, and a repair writes NULL", async () => {
    const dir = tempDir();
    const file = join(dir, "b.db");
    const db = new Database(file);
    db.exec("CREATE TABLE b (k INTEGER PRIMARY KEY, ip TEXT)");
    // Key 1: '' where the owner holds NULL; key 4 absent.
    db.exec("INSERT INTO b VALUES (1, ''), (2, '10.0.0.1'), (3, '10.0.0.0/8')");
    db.close();
    const cfg = config(
      dir,
      { url: POSTGRES.url, table: schema.table("a") },
      { url: `sqlite:${file}`, table: "b" },
    );
    const scan = parseJson(await runConcord(["scan", "--json", "-c", cfg]));
    expect(scan.datasets[0]!.divergences.map((d) => [d.key, d.class])).toEqual([
      [[1], "unversioned"],
      [[4], "missing"],
    ]);
    expect((await runConcord(["repair", "-c", cfg])).code).toBe(0);
    const back = new Database(file, { readonly: true });
    expect(back.prepare("SELECT k, ip FROM b ORDER BY k").all()).toEqual([
      { k: 1, ip: null },
      { k: 2, ip: "10.0.0.1" },
      { k: 3, ip: "10.0.0.0/8" },
      { k: 4, ip: null },
    ]);
    back.close();
    expect(parseJson(await runConcord(["scan", "--json", "-c", cfg])).datasets[0]!.divergences).toEqual([]);
  });
});

describe("a refused repair in the readable report", () => {
  it("names the key, the target and why, one line each", async () => {
    const dir = tempDir();
    const a = new Database(join(dir, "a.db"));
    // SQLite keeps 1e19 as a REAL in an INTEGER column: read as the integer it is, which no INTEGER can store.
    a.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, i INTEGER); INSERT INTO t VALUES (1, 1e19), (2, 2)");
    a.close();
    new Database(join(dir, "b.db")).exec("CREATE TABLE t (k INTEGER PRIMARY KEY, i INTEGER)").close();
    const cfg = config(
      dir,
      { url: `sqlite:${join(dir, "a.db")}`, table: "t" },
      { url: `sqlite:${join(dir, "b.db")}`, table: "t" },
    );
    const r = await runConcord(["repair", "-c", cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "\n  repair: applied 1 · failed 1\n    failed 1 on b: t.b: column i (INTEGER) cannot store 10000000000000000000: SQLite integers are 64-bit\n",
    );
  });
});

describe.skipIf(!(await serviceAvailable(POSTGRES)) || !(await serviceAvailable(MYSQL)))(
  "PostgreSQL 1 BC into MariaDB year 0000",
  () => {
    let schema: PostgresTestSchema;
    let db: MysqlTestDatabase;
    beforeAll(async () => {
      schema = await createPostgresTestSchema();
      db = await createMysqlTestDatabase();
      await schema.admin.query(
        `CREATE TABLE ${schema.table("a")} (k int PRIMARY KEY, ts timestamptz, d date)`,
      );
      await schema.admin.query(
        `INSERT INTO ${schema.table("a")} VALUES (1, '0001-02-29 12:00:00+00 BC', NULL), ` +
          "(2, NULL, '0001-02-29 BC'), (3, '0001-03-01 00:00:00+00 BC', '0001-12-31 BC')",
      );
      await db.admin.query("CREATE TABLE b (k INT PRIMARY KEY, ts DATETIME(6), d DATE)");
    });
    afterAll(async () => {
      await schema?.drop();
      await db?.drop();
    });

    it("refuses February 29 of year 0 naming column and value, and writes the other days", async () => {
      const cfg = config(
        tempDir(),
        { url: POSTGRES.url, table: schema.table("a") },
        { url: db.url, table: "b" },
      );
      const r = await runConcord(["repair", "-c", cfg]);
      expect(r.stdout).toContain(
        "\n    failed 1 on b: t.b: column ts (datetime(6)) cannot store 0000-02-29T12:00:00.000000Z: DATETIME counts year 0000 as a common year, without February 29\n" +
          "    failed 2 on b: t.b: column d (date) cannot store 0000-02-29T00:00:00.000000Z: DATE counts year 0000 as a common year, without February 29\n",
      );
      const [rows] = await db.admin.query("SELECT k, CAST(ts AS CHAR) AS ts, CAST(d AS CHAR) AS d FROM b");
      expect(rows).toEqual([{ k: 3, ts: "0000-03-01 00:00:00.000000", d: "0000-12-31" }]);
    });
  },
);
