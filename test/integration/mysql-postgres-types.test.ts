/**
 * MariaDB FLOAT beside PostgreSQL real, MariaDB TIME(6) beside PostgreSQL time(6), through the CLI: equal
 * values scan clean whatever digits each server prints, a one-ulp difference is found, and a repair leaves
 * MariaDB holding the float32 PostgreSQL holds (FLT_MAX included, which MariaDB refuses as 3.4028235e+38).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runConcord, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));

/** id, float32 (as PostgreSQL and MariaDB are given it), time. */
const ROWS: readonly (readonly [number, string | null, string | null])[] = [
  [1, "0.33333334", "10:00:00"],
  [2, "1.0000012", "23:59:59.999999"],
  [3, "16777216", "00:00:00.5"],
  [4, "3.4028234663852886e38", null],
  [5, null, "12:34:56.000001"],
  [6, "-1e-45", "00:00:00"],
];

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
let dir: string;
let config: string;

async function load(): Promise<void> {
  const t = pg.table("m");
  await pg.admin.query(`DROP TABLE IF EXISTS ${t}`);
  await pg.admin.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, r real, t time(6))`);
  for (const [id, r, tm] of ROWS) await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [id, r, tm]);
  await my.admin.query("DROP TABLE IF EXISTS m");
  await my.admin.query("CREATE TABLE m (id BIGINT PRIMARY KEY, r FLOAT, t TIME(6))");
  for (const [id, r, tm] of ROWS) await my.admin.query("INSERT INTO m VALUES (?, ?, ?)", [id, r, tm]);
}

interface Divergence {
  key: unknown[];
  class: string;
  columns?: string[];
}

async function scan(): Promise<{ code: number; divergences: Divergence[]; stderr: string }> {
  const r = await runConcord(["scan", "--json", "-c", config]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { datasets: { divergences: Divergence[] }[] };
  return { code: r.code, divergences: out.datasets[0]!.divergences, stderr: r.stderr };
}

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "concord-my-pg-"));
  config = writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  m:
    key: id
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("m")} }
      maria: { url: "${my.url}", table: m }
    policy: { owner: pg, resolve: owner }
`,
  );
});

afterAll(async () => {
  if (!available) return;
  await pg.drop();
  await my.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!available)("MariaDB FLOAT and TIME beside PostgreSQL real and time", () => {
  beforeEach(load);

  it("scans equal float32 and time values as equal", async () => {
    expect(await scan()).toMatchObject({ code: 0, divergences: [] });
  });

  it.each([
    ["r", "UPDATE m SET r = 16777218 WHERE id = 3"],
    ["r", "UPDATE m SET r = 0.3333333 WHERE id = 1"],
    ["t", "UPDATE m SET t = '10:00:00.000001' WHERE id = 1"],
    ["t", "UPDATE m SET t = '-00:00:00.5' WHERE id = 3"],
  ])("finds %s changed by %s", async (column, sql) => {
    await my.admin.query(sql);
    const { code, divergences } = await scan();
    expect(code).toBe(1);
    expect(divergences.map((d) => d.columns)).toEqual([[column]]);
  });

  it("repairs MariaDB to PostgreSQL's float32s and times, FLT_MAX included, then scans clean", async () => {
    await my.admin.query("UPDATE m SET r = 0, t = '-838:59:59' WHERE id = 4");
    await my.admin.query("DELETE FROM m WHERE id IN (1, 2)");
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.stderr).toBe("");
    expect(repair.code).toBe(0);
    const [rows] = await my.admin.query({
      sql: "SELECT id, CAST(r AS DOUBLE), CAST(t AS CHAR) FROM m WHERE id IN (1, 2, 4) ORDER BY id",
      rowsAsArray: true,
    });
    expect(rows).toEqual([
      [1, 0.3333333432674408, "10:00:00.000000"],
      [2, 1.0000011920928955, "23:59:59.999999"],
      [4, 3.4028234663852886e38, null],
    ]);
    expect(await scan()).toMatchObject({ code: 0, divergences: [] });
  });
});
