/**
 * A stored value its column's logical type cannot read fails the scan in one line naming the dataset's
 * replica, the column and the row's key, on every path (checksums in the store, rows read by the engine).
 * Before, PostgreSQL's said `bad data from a store: column v: "x" is not an integer`: no replica, no key.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

/** A config comparing tables a and b at `url` (PostgreSQL: schema-qualified), v declared an integer. */
function config(a: object, b: object, inStore: boolean, extra = ""): string {
  const dir = tempDir();
  const path = join(dir, "concord.yaml");
  writeFileSync(
    path,
    `state: "sqlite::memory:"
datasets:
  t:
    key: id
    types: { v: integer }
${extra}${inStore ? "" : "    detect: { inStore: false }\n"}    replicas:
      a: ${JSON.stringify(a)}
      b: ${JSON.stringify(b)}
`,
  );
  return path;
}

const LINE =
  /^concord: (bad data from a store: )?t\.a: (.*: )?column v at key \["2"\]: "x" is not an integer\n$/;

describe.skipIf(!(await serviceAvailable(POSTGRES)))("PostgreSQL value errors", () => {
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    schema = await createPostgresTestSchema();
    for (const t of ["a", "b"])
      await schema.admin.query(`CREATE TABLE ${schema.table(t)} (id int PRIMARY KEY, v text)`);
    await schema.admin.query(`INSERT INTO ${schema.table("a")} VALUES (1, '1'), (2, 'x')`);
    await schema.admin.query(`INSERT INTO ${schema.table("b")} VALUES (1, '1'), (2, '2')`);
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it.each([true, false])("name replica, column and key (in store: %s)", async (inStore) => {
    const r = await runConcord([
      "scan",
      "-c",
      config(
        { url: POSTGRES.url, table: schema.table("a") },
        { url: POSTGRES.url, table: schema.table("b") },
        inStore,
      ),
    ]);
    expect(r.stderr).toMatch(LINE);
    expect(r.code).toBe(2);
  });
});

describe.skipIf(!(await serviceAvailable(MYSQL)))("MariaDB value errors", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    for (const t of ["a", "b"]) await db.admin.query(`CREATE TABLE ${t} (id INT PRIMARY KEY, v VARCHAR(10))`);
    await db.admin.query("INSERT INTO a VALUES (1, '1'), (2, 'x')");
    await db.admin.query("INSERT INTO b VALUES (1, '1'), (2, '2')");
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("names replica, column and key", async () => {
    const r = await runConcord([
      "scan",
      "-c",
      config({ url: db.url, table: "a" }, { url: db.url, table: "b" }, true),
    ]);
    expect(r.stderr).toMatch(LINE);
    expect(r.code).toBe(2);
  });
});

// SQLite's and Redis's value errors named no replica (`column v at key ["2"]: …`) where their rows were read
// for checksums beside another kind of store: which copy held it?
describe.skipIf(!(await serviceAvailable(REDIS)))("SQLite and Redis value errors", () => {
  let t: RedisTestPrefix;
  let dir: string;
  beforeAll(async () => {
    t = createRedisTestPrefix("value-errors");
    dir = tempDir(afterAll);
    for (const [name, v] of [
      ["a", "x"],
      ["b", "2"],
    ] as const) {
      await t.admin.hset(`${t.prefix}${name}:1`, "v", "1");
      await t.admin.hset(`${t.prefix}${name}:2`, "v", v);
      const db = new Database(join(dir, `${name}.db`));
      db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, '1'), (2, '${v}')`);
      db.close();
    }
  });
  afterAll(async () => {
    await t?.drop();
  });

  const sqlite = (name: string) => ({ url: `sqlite:${join(dir, `${name}.db`)}`, table: "t" });
  const redis = (name: string) => ({ url: REDIS.url, prefix: `${t.prefix}${name}:`, format: "hash" });
  it.each([
    ["SQLite", "Redis"],
    ["Redis", "SQLite"],
  ])("name replica, column and key (a: %s, b: %s)", async (a) => {
    const r = await runConcord([
      "scan",
      "-c",
      a === "SQLite" ? config(sqlite("a"), redis("b"), true) : config(redis("a"), sqlite("b"), true),
    ]);
    expect(r.stderr).toMatch(LINE);
    expect(r.stderr).not.toMatch(/t\.a: .*t\.a: /);
    expect(r.code).toBe(2);
  });
});
