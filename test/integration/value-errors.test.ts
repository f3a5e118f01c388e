/**
 * A stored value its column's logical type cannot read fails the scan in one line naming the dataset's
 * replica, the column and the row's key, on every path (checksums in the store, rows read by the engine).
 * Before, PostgreSQL's said `bad data from a store: column v: "x" is not an integer`: no replica, no key.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

/** A config comparing tables a and b at `url` (PostgreSQL: schema-qualified), v declared an integer. */
function config(a: object, b: object, inStore: boolean): string {
  const dir = tempDir();
  const path = join(dir, "concord.yaml");
  writeFileSync(
    path,
    `state: "sqlite::memory:"
datasets:
  t:
    key: id
    types: { v: integer }
${inStore ? "" : "    detect: { inStore: false }\n"}    replicas:
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
