/**
 * A repair between two replicas of the same store and column types writes each value as the source holds it,
 * not the canonical text Concord compares (PostgreSQL numeric 1.50, float -0, a json text byte for byte with a
 * repeated member, jsonb's and numeric[]'s scales; MariaDB's JSON text; SQLite's values with their storage
 * class), for a row the target lacks and a row it holds otherwise; and a rollback puts the target's row back
 * as it was stored, byte for byte. Each store's own client reads the stored text (`row::text`, HEX, quote()
 * and typeof()).
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

/** A config over replicas a (the owner) and b of dataset `items`, state beside it. */
function config(dir: string, a: string, b: string, extra = ""): string {
  return writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  items:
    key: id
${extra}    replicas:
      a: ${a}
      b: ${b}
    policy: { owner: a, resolve: owner }
`,
  );
}

/**
 * Prints the repair, then repairs b from a (a row b lacks, a row b holds otherwise), checks that b then stores what a stores, byte for
 * byte as `read` shows it, rolls the run back and checks that b stores what it stored before, byte for byte.
 */
async function repairThenRollback(
  dir: string,
  cfg: string,
  read: (side: "a" | "b") => Promise<string[]>,
  /** What `repair --print` shows of the source's spelling (the statements are those the write runs). */
  printed: string,
): Promise<void> {
  const before = await read("b");
  const print = await runConcord(["repair", "--print", "-c", cfg], { cwd: dir });
  expect(print.stdout).toContain(printed);
  const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
  expect(repair.stderr).toBe("");
  expect(repair.code).toBe(0);
  const doc = JSON.parse(repair.stdout) as { runId: string; datasets: { repairs: { outcome: string }[] }[] };
  expect(doc.datasets[0]!.repairs.map((r) => r.outcome)).toEqual(["applied", "applied"]);
  expect(await read("b")).toEqual(await read("a"));

  const rollback = await runConcord(["rollback", "--run", doc.runId, "--json", "-c", cfg], { cwd: dir });
  expect(rollback.stderr).toBe("");
  expect(rollback.code).toBe(0);
  expect(await read("b")).toEqual(before);
}

/** SQLite files a.db and b.db in `dir`, each table t made by `ddl` and holding its rows. */
function seedSqlite(
  dir: string,
  ddl: string,
  rows: { readonly a: readonly (readonly unknown[])[]; readonly b: readonly (readonly unknown[])[] },
): void {
  for (const side of ["a", "b"] as const) {
    const file = new Database(join(dir, `${side}.db`));
    file.exec(ddl);
    for (const row of rows[side])
      file.prepare(`INSERT INTO t VALUES (${row.map(() => "?").join(", ")})`).run(...row);
    file.close();
  }
}

/** A config over the SQLite files a.db and b.db, compared in SQLite or (inStore false) by the engine. */
function sqliteConfig(dir: string, inStore: boolean): string {
  return config(
    dir,
    '{ url: "sqlite:a.db", table: t }',
    '{ url: "sqlite:b.db", table: t }',
    inStore ? "" : "    detect: { inStore: false }\n",
  );
}

/** Reads t of a.db or b.db, a line a row: the id, then each column's storage class and quote()d value. */
function sqliteClasses(dir: string, columns: readonly string[], extra = "") {
  return async (side: "a" | "b"): Promise<string[]> => {
    const file = new Database(join(dir, `${side}.db`), { readonly: true });
    try {
      const shown = columns.map((c) => `typeof(${c}) || ':' || quote(${c})`).join(", ");
      return (
        file.prepare(`SELECT id, ${shown}${extra} FROM t ORDER BY id`).raw(true).all() as unknown[][]
      ).map((r) => r.join(" "));
    } finally {
      file.close();
    }
  };
}

describe.skipIf(!pgAvailable)("exact repair values: PostgreSQL → PostgreSQL", () => {
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    schema = await createPostgresTestSchema();
  });
  afterAll(async () => {
    await schema?.drop();
  });

  describe.each([true, false])("compared in PostgreSQL: %s", (inStore) => {
    it("writes numeric, float, json, jsonb and array texts as a holds them, and a rollback restores b's", async () => {
      const dir = tempDir();
      const a = `hx_pg_a_${inStore}`;
      const b = `hx_pg_b_${inStore}`;
      await schema.admin.query(
        `CREATE TABLE ${schema.table(a)} (id int PRIMARY KEY, n numeric, n3 numeric(10,3), f float8, r real,
           j json, jd json, jb jsonb, na numeric[], fa float8[]);
         CREATE TABLE ${schema.table(b)} (LIKE ${schema.table(a)} INCLUDING ALL);
         INSERT INTO ${schema.table(a)} VALUES
           (1, 1.50, 2.5, '-0', '-0', '{"b": 1,  "a": [1.0, 2]}', '{"a":1,"a":2}', '{"x": 1.50}', '{1.50,2.0}', '{-0,1.50}'),
           (2, 2.50, 0.125, '-0', '-0', '[1.0,  1E3]', '{"k":"v","k":"w"}', '{"y": [2.0, 1e2]}', '{0.10,NULL}', '{-0}');
         INSERT INTO ${schema.table(b)} VALUES
           (2, 9.00, 1, '-0', '1', '{"z":  1.0}', '{"q":1,"q":1}', '{"y": 2.50}', '{3.00}', '{-0,2}');`,
      );
      const url = JSON.stringify(POSTGRES.url);
      const cfg = config(
        dir,
        `{ url: ${url}, table: "${schema.table(a)}" }`,
        `{ url: ${url}, table: "${schema.table(b)}" }`,
        inStore ? "" : "    detect: { inStore: false }\n",
      );
      const read = async (side: "a" | "b") => {
        const { rows } = await schema.admin.query<{ text: string }>(
          `SELECT t::text || ' ' || md5(t::text) AS text FROM ${schema.table(side === "a" ? a : b)} t ORDER BY id`,
        );
        return rows.map((r) => r.text);
      };
      // What the test is about: a stores the non-canonical spellings (md5 after the text).
      const first = (await read("a"))[0]!;
      expect(first.slice(0, first.lastIndexOf(" "))).toBe(
        `(1,1.50,2.500,-0,-0,"{""b"": 1,  ""a"": [1.0, 2]}","{""a"":1,""a"":2}","{""x"": 1.50}","{1.50,2.0}","{-0,1.5}")`,
      );
      await repairThenRollback(dir, cfg, read, `'{1.50,2.0}'`);
    });
  });

  it("writes a's texts where a person resolves an escalation by picking a", async () => {
    const dir = tempDir();
    const [a, b] = ["hx_pg_pick_a", "hx_pg_pick_b"];
    await schema.admin.query(
      `CREATE TABLE ${schema.table(a)} (id int PRIMARY KEY, n numeric, f float8, j json, jb jsonb);
       CREATE TABLE ${schema.table(b)} (LIKE ${schema.table(a)} INCLUDING ALL);
       INSERT INTO ${schema.table(a)} VALUES (1, 1.50, '-0', '{"b": 1,  "a": [1.0, 2]}', '{"x": 1.50}');
       INSERT INTO ${schema.table(b)} VALUES (1, 2.50, '-0', '{"b": 1,  "a": [1.0, 2]}', '{"x": 1.50}');`,
    );
    const url = JSON.stringify(POSTGRES.url);
    // No owner: values that differ with nothing to order them are escalated.
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: ${url}, table: "${schema.table(a)}" }
      b: { url: ${url}, table: "${schema.table(b)}" }
`,
    );
    const read = async (side: "a" | "b") => {
      const { rows } = await schema.admin.query<{ text: string }>(
        `SELECT t::text AS text FROM ${schema.table(side === "a" ? a : b)} t ORDER BY id`,
      );
      return rows.map((r) => r.text);
    };
    const repair = await runConcord(["repair", "-c", cfg], { cwd: dir });
    expect(repair.stdout).toContain("escalated 1");
    const pick = await runConcord(
      ["escalations", "resolve", "--all-matching", "--dataset", "items", "--pick", "a", "--yes", "-c", cfg],
      { cwd: dir },
    );
    expect(pick.code, pick.stderr).toBe(0);
    expect(await read("b")).toEqual([`(1,1.50,-0,"{""b"": 1,  ""a"": [1.0, 2]}","{""x"": 1.50}")`]);
    expect(await read("b")).toEqual(await read("a"));
  });
  it("writes, column by column, the texts of the replica a merge took each value from", async () => {
    const dir = tempDir();
    const [a, b] = ["hfx_pg_merge_a", "hfx_pg_merge_b"];
    // n: max takes b's 2.50; q: min takes a's 1.250; j and f hold the same values everywhere: a's texts.
    await schema.admin.query(
      `CREATE TABLE ${schema.table(a)} (id int PRIMARY KEY, n numeric, q numeric, f float8, j json);
       CREATE TABLE ${schema.table(b)} (LIKE ${schema.table(a)} INCLUDING ALL);
       INSERT INTO ${schema.table(a)} VALUES (1, 1.50, 1.250, '-0', '{"b": 1,  "a": [1.0, 2]}');
       INSERT INTO ${schema.table(b)} VALUES (1, 2.50, 3.0, '-0', '{"b": 1,  "a": [1.0, 2]}');`,
    );
    const url = JSON.stringify(POSTGRES.url);
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      a: { url: ${url}, table: "${schema.table(a)}" }
      b: { url: ${url}, table: "${schema.table(b)}" }
    policy: { merge: { n: max, q: min } }
`,
    );
    const read = async (side: "a" | "b") => {
      const { rows } = await schema.admin.query<{ text: string }>(
        `SELECT t::text AS text FROM ${schema.table(side === "a" ? a : b)} t ORDER BY id`,
      );
      return rows.map((r) => r.text);
    };
    const repair = await runConcord(["repair", "--json", "-c", cfg], { cwd: dir });
    expect(repair.code, repair.stderr).toBe(0);
    const doc = JSON.parse(repair.stdout) as { datasets: { repairs: { outcome: string }[] }[] };
    expect(doc.datasets[0]!.repairs.map((r) => r.outcome)).toEqual(["applied", "applied"]);
    const merged = `(1,2.50,1.250,-0,"{""b"": 1,  ""a"": [1.0, 2]}")`;
    expect(await read("a")).toEqual([merged]);
    expect(await read("b")).toEqual([merged]);
  });
});

describe.skipIf(!mysqlAvailable)("exact repair values: MariaDB → MariaDB", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  // With FLOAT/DOUBLE columns the replicas are compared by checksums and the records fetched; without them,
  // in MariaDB (a keyed join that reads both rows).
  it.each([true, false])(
    "writes JSON texts as a holds them (spacing, 1.50, a repeated member), and a rollback restores b's, a repeated member too (floats: %s)",
    async (floats) => {
      const dir = tempDir();
      const [a, b] = [`hx_my_a_${floats}`, `hx_my_b_${floats}`];
      const cols = floats ? ["d", "f", "n", "j", "jl"] : ["n", "j", "jl"];
      const row = (values: Record<string, string>) => cols.map((c) => values[c]).join(", ");
      for (const sql of [
        `CREATE TABLE ${a} (id INT PRIMARY KEY, ${floats ? "d DOUBLE, f FLOAT, " : ""}n DECIMAL(10,2), j JSON, jl LONGTEXT)`,
        `CREATE TABLE ${b} LIKE ${a}`,
        `INSERT INTO ${a} VALUES
           (1, ${row({ d: "1e300", f: "1.5", n: "1.50", j: `'{"b": 1,  "a": [1.0, 2]}'`, jl: `'{"x": 1.50}'` })}),
           (2, ${row({ d: "-2.5e-7", f: "0.1", n: "2.50", j: `'{"a":1,"a":2}'`, jl: "'[1E3,  -0.0]'" })})`,
        `INSERT INTO ${b} VALUES (2, ${row({ d: "1", f: "1", n: "1.00", j: `'{"z":  1.0, "z": 2}'`, jl: "'[2.50]'" })})`,
      ])
        await db.admin.query(sql);
      const url = JSON.stringify(db.url);
      const cfg = config(
        dir,
        `{ url: ${url}, table: ${a} }`,
        `{ url: ${url}, table: ${b} }`,
        "    types: { jl: json }\n",
      );
      const read = async (side: "a" | "b") => {
        const [rows] = await db.admin.query({
          sql: `SELECT id, ${cols.map((c) => `HEX(CAST(${c} AS CHAR))`).join(", ")} FROM ${side === "a" ? a : b} ORDER BY id`,
          rowsAsArray: true,
        });
        return (rows as unknown[][]).map((r) => r.join(" "));
      };
      await repairThenRollback(dir, cfg, read, String.raw`'{\"b\": 1,  \"a\": [1.0, 2]}', '{\"x\": 1.50}'`);
    },
  );
});

describe("exact repair values: SQLite → SQLite", () => {
  it.each([true, false])(
    "writes values with their storage class and JSON texts as a holds them, and a rollback restores b's (in store: %s)",
    async (inStore) => {
      const dir = tempDir();
      seedSqlite(
        dir,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL, j JSON, u, d DECIMAL(10,2), s TEXT, z)",
        {
          a: [
            [1, 1.5, '{"b": 1,  "a": [1.0, 2]}', 1.0, 1.5, "1.50", -0],
            [2, 1e300, '{"a":1,"a":2}', 7n, 2.5, "x", 0.5],
          ],
          b: [[2, 3, '{"z":  1.0}', "7", 1, "y", -0]],
        },
      );
      const cfg = sqliteConfig(dir, inStore);
      // z: atan2(z, -1) is -π for -0 and π for 0, which quote() shows alike (0.0).
      const read = sqliteClasses(dir, ["r", "j", "u", "d", "s", "z"], ", atan2(z, -1) < 0");
      expect(await read("a")).toEqual([
        `1 real:1.5 text:'{"b": 1,  "a": [1.0, 2]}' real:1.0 real:1.5 text:'1.50' real:0.0 1`,
        `2 real:1.0e+300 text:'{"a":1,"a":2}' integer:7 real:2.5 text:'x' real:0.5 0`,
      ]);
      await repairThenRollback(dir, cfg, read, `'{"b": 1,  "a": [1.0, 2]}', 1.5, '1.50', 1.0, -0.0)`);
    },
  );

  it.each([true, false])(
    "writes a BLOB held in a TEXT, JSON or untyped column as a BLOB, a TEXT in a BLOB column as a TEXT, and a rollback restores b's (in store: %s)",
    async (inStore) => {
      const dir = tempDir();
      const bytes = (text: string) => Buffer.from(text, "utf8");
      // Compared as text (a BLOB as its UTF-8 text), so X'31' and '1' are one value: row 2 differs in u. The
      // BLOB column compares a TEXT as its bytes ('cafe' is 63616665).
      seedSqlite(dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, u, j JSON, b BLOB)", {
        a: [
          [1, bytes("é"), bytes("1"), bytes("{}"), "cafe"],
          [2, bytes("x"), bytes(""), "[1]", "é"],
        ],
        b: [[2, "x", bytes("2"), bytes("[1]"), bytes("é")]],
      });
      const cfg = sqliteConfig(dir, inStore);
      const read = sqliteClasses(dir, ["s", "u", "j", "b"]);
      expect(await read("a")).toEqual([
        "1 blob:X'C3A9' blob:X'31' blob:X'7B7D' text:'cafe'",
        "2 blob:X'78' blob:X'' text:'[1]' text:'é'",
      ]);
      await repairThenRollback(dir, cfg, read, "VALUES (1, 'cafe', X'7B7D', X'C3A9', X'31')");
    },
  );

  it.each([true, false])(
    "keeps those storage classes once reads are exact (a text held U+FFFD) where the bytes cannot be a text read as bytes (in store: %s)",
    async (inStore) => {
      const dir = tempDir();
      const bytes = (text: string) => Buffer.from(text, "utf8");
      // U+FFFD may be a lossy decode: the shape switches to exact reads, where a non-ASCII text comes as bytes.
      seedSqlite(dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, u, b BLOB)", {
        a: [
          [1, "a\ufffd", bytes("1"), "cafe"],
          [2, "x", bytes(""), "ok"],
        ],
        b: [[2, "y", "", bytes("ok")]],
      });
      const cfg = sqliteConfig(dir, inStore);
      const read = sqliteClasses(dir, ["s", "u", "b"]);
      expect(await read("a")).toEqual([
        "1 text:'a\ufffd' blob:X'31' text:'cafe'",
        "2 text:'x' blob:X'' text:'ok'",
      ]);
      await repairThenRollback(dir, cfg, read, "VALUES (1, 'cafe', 'a\ufffd', X'31')");
    },
  );
});
