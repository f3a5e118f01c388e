/**
 * A target table with generated columns (and PostgreSQL's GENERATED ALWAYS identity key) is repaired: writes
 * leave the generated columns to the server and check what it computed, so a row whose owner holds what the
 * target computes is written, and one holding anything else is refused in one line naming the column, key and
 * both values, with nothing of it written. Before, every insert and update into such a table failed with the
 * server's message ("cannot insert a non-DEFAULT value into column", "The value specified for generated
 * column 'g' … has been ignored").
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJson, runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

/** A config over replicas a (owner) and b of dataset t, keyed by k. */
function config(a: object, b: object, extra = ""): string {
  const path = join(tempDir(), "concord.yaml");
  writeFileSync(
    path,
    `state: "sqlite::memory:"
datasets:
  t:
    key: k
${extra}    replicas:
      a: ${JSON.stringify(a)}
      b: ${JSON.stringify(b)}
    policy: { owner: a, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
  );
  return path;
}

interface RepairJson {
  datasets: { repairs: { key: string[]; outcome: string; error?: string }[] }[];
}

/** The owner's rows: key 2 holds a g its target computes otherwise (6 * 2 is 12, not 99). */
const OWNER_ROWS = "(1, 5, 10), (2, 6, 99), (3, 7, 14), (4, NULL, NULL)";

/** Repairs b from a, then checks the outcomes and that a scan finds only key 2 still divergent. */
async function repairAndRescan(cfg: string, line: RegExp) {
  const r = await runConcord(["repair", "--json", "-c", cfg]);
  const repairs = parseJson<RepairJson>(r).datasets[0]!.repairs;
  const byKey = Object.fromEntries(repairs.map((x) => [x.key[0], x]));
  expect(byKey["1"]?.outcome).toBe("applied");
  expect(byKey["3"]?.outcome).toBe("applied");
  expect(byKey["4"]?.outcome).toBe("applied");
  expect(byKey["2"]?.outcome).toBe("failed");
  expect(byKey["2"]?.error).toMatch(line);
  const again = parseJson(await runConcord(["scan", "--json", "-c", cfg]));
  expect(again.datasets[0]!.divergences.map((d) => d.key)).toEqual([[2]]);
}

describe.skipIf(!(await serviceAvailable(POSTGRES)))("PostgreSQL generated and identity columns", () => {
  let schema: PostgresTestSchema;
  beforeAll(async () => {
    schema = await createPostgresTestSchema();
    await schema.admin.query(`CREATE TABLE ${schema.table("a")} (k int PRIMARY KEY, a int, g int)`);
    await schema.admin.query(`INSERT INTO ${schema.table("a")} VALUES ${OWNER_ROWS}`);
    await schema.admin.query(
      `CREATE TABLE ${schema.table("b")} (k int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a int, ` +
        "g int GENERATED ALWAYS AS (a * 2) STORED)",
    );
    // Key 1 to update (a 4 → 5), key 2 (a 6, g 12) to leave alone; 3 and 4 to insert.
    await schema.admin.query(`INSERT INTO ${schema.table("b")} (a) VALUES (4), (6)`);
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it("writes the other columns, keeps the identity key, refuses a value the column does not compute", async () => {
    const cfg = config(
      { url: POSTGRES.url, table: schema.table("a") },
      { url: POSTGRES.url, table: schema.table("b") },
    );
    await repairAndRescan(
      cfg,
      /^t\.b: conditional write refused: column g \(integer\) cannot store 99 at key \["2"\]: it is a generated column, which computed 12$/,
    );
    const { rows } = await schema.admin.query(`SELECT k, a, g FROM ${schema.table("b")} ORDER BY k`);
    expect(rows).toEqual([
      { k: 1, a: 5, g: 10 },
      { k: 2, a: 6, g: 12 },
      { k: 3, a: 7, g: 14 },
      { k: 4, a: null, g: null },
    ]);
  });
});

describe.skipIf(!(await serviceAvailable(MYSQL)))("MariaDB generated columns", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE a (k INT PRIMARY KEY, a INT, g INT)");
    await db.admin.query(`INSERT INTO a VALUES ${OWNER_ROWS}`);
    await db.admin.query(
      "CREATE TABLE b (k INT PRIMARY KEY, a INT, g INT AS (a * 2) STORED, v INT AS (a + 1) VIRTUAL)",
    );
    await db.admin.query("INSERT INTO b (k, a) VALUES (1, 4), (2, 6)");
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("writes the other columns and refuses a value the column does not compute", async () => {
    // v is compared only where both replicas have it: the owner has no v, so the dataset names its columns.
    const cfg = config({ url: db.url, table: "a" }, { url: db.url, table: "b" }, "    columns: [a, g]\n");
    await repairAndRescan(
      cfg,
      /^t\.b: column g \(int(\(11\))?\) cannot store 99 at key \["2"\]: it is a generated column, which computed 12$/,
    );
    const [rows] = await db.admin.query("SELECT k, a, g, v FROM b ORDER BY k");
    expect(rows).toEqual([
      { k: 1, a: 5, g: 10, v: 6 },
      { k: 2, a: 6, g: 12, v: 7 },
      { k: 3, a: 7, g: 14, v: 8 },
      { k: 4, a: null, g: null, v: null },
    ]);
  });
});
