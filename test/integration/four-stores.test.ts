/**
 * One dataset held in PostgreSQL, MariaDB, SQLite and Redis, each in its native types, through the CLI as
 * a user runs it: equal copies scan clean; a change to any one column in any one store is found (and
 * nothing else); `repair` brings every store back to the owner's state, and a second scan is clean.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runConcord, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const available =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

interface Row {
  id: number;
  name: string;
  balance: string;
  active: boolean;
  updatedAt: string;
  tags: unknown;
  version: number;
}

const ROWS: Row[] = Array.from({ length: 40 }, (_, i) => ({
  id: i + 1,
  name: i === 3 ? "Zoë ünïcode" : `customer ${i + 1}`,
  balance: (((i * 7919) % 100000) / 100).toFixed(2),
  active: i % 3 !== 0,
  updatedAt: new Date(Date.UTC(2026, 0, 1, 12, 0, i, 250) + i * 1000).toISOString().replace("Z", "123Z"),
  tags: { tier: i % 2 ? "gold" : "basic", n: i },
  version: 1 + (i % 4),
}));

/** Microsecond ISO timestamp without the trailing Z (for DATETIME(6) / SQLite text). */
const micros = (iso: string) => iso.replace("T", " ").replace("Z", "");

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
let rd: RedisTestPrefix;
let dir: string;
let config: string;

async function load(): Promise<void> {
  const t = pg.table("customers");
  await pg.admin.query(`DROP TABLE IF EXISTS ${t}`);
  await pg.admin.query(
    `CREATE TABLE ${t} (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2) NOT NULL,
       active boolean NOT NULL, updated_at timestamptz NOT NULL, tags jsonb NOT NULL, version int NOT NULL)`,
  );
  for (const r of ROWS)
    await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      r.id,
      r.name,
      r.balance,
      r.active,
      r.updatedAt,
      JSON.stringify(r.tags),
      r.version,
    ]);

  await my.admin.query("DROP TABLE IF EXISTS customers");
  await my.admin.query(
    `CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, balance DECIMAL(12,2) NOT NULL,
       active TINYINT(1) NOT NULL, updated_at DATETIME(6) NOT NULL, tags JSON NOT NULL, version INT NOT NULL)`,
  );
  for (const r of ROWS)
    await my.admin.query("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", [
      r.id,
      r.name,
      r.balance,
      r.active ? 1 : 0,
      micros(r.updatedAt),
      JSON.stringify(r.tags),
      r.version,
    ]);

  const lite = new Database(join(dir, "local.db"));
  lite.exec(`DROP TABLE IF EXISTS customers;
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance DECIMAL(12,2) NOT NULL,
      active BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL, tags JSON NOT NULL, version INTEGER NOT NULL)`);
  const insert = lite.prepare("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)");
  for (const r of ROWS)
    insert.run(
      r.id,
      r.name,
      r.balance,
      r.active ? 1 : 0,
      micros(r.updatedAt),
      JSON.stringify(r.tags),
      r.version,
    );
  lite.close();

  const old = await rd.admin.keys(`${rd.prefix}*`);
  if (old.length) await rd.admin.del(...old);
  const multi = rd.admin.multi();
  for (const r of ROWS)
    multi.hset(`${rd.prefix}${r.id}`, {
      name: r.name,
      balance: r.balance,
      active: r.active ? "true" : "false",
      updated_at: r.updatedAt,
      tags: JSON.stringify(r.tags),
      version: String(r.version),
    });
  await multi.exec();
}

interface ScanJson {
  datasets: { divergences: { key: unknown[]; class: string; columns?: string[] }[]; schema?: unknown }[];
}

async function scan(): Promise<{ code: number; divergences: ScanJson["datasets"][number]["divergences"] }> {
  const r = await runConcord(["scan", "--json", "-c", config]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  return { code: r.code, divergences: (JSON.parse(r.stdout) as ScanJson).datasets[0]!.divergences };
}

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  rd = createRedisTestPrefix("four-stores");
  dir = mkdtempSync(join(tmpdir(), "concord-four-"));
  config = writeConfig(
    dir,
    `state: sqlite:state.db
datasets:
  customers:
    key: id
    versions: { counter: version }
    replicas:
      pg:    { url: "${POSTGRES.url}", table: ${pg.table("customers")} }
      maria: { url: "${my.url}", table: customers }
      local: { url: "sqlite:local.db", table: customers }
      cache: { url: "${REDIS.url}", prefix: "${rd.prefix}", format: hash }
    policy: { owner: pg, resolve: owner }
`,
  );
});

afterAll(async () => {
  if (!available) return;
  await pg.drop();
  await my.drop();
  await rd.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!available)("one dataset in PostgreSQL, MariaDB, SQLite and Redis", () => {
  beforeEach(async () => {
    await load();
  });

  it("scans equal copies in their native types with zero divergence", async () => {
    expect(await scan()).toEqual({ code: 0, divergences: [] });
  });

  it.each([
    ["maria", "name", "UPDATE customers SET name = 'CUSTOMER 5' WHERE id = 5"],
    ["maria", "balance", "UPDATE customers SET balance = balance + 0.01 WHERE id = 5"],
    ["pg", "active", "UPDATE {t} SET active = NOT active WHERE id = 5"],
    ["pg", "updated_at", "UPDATE {t} SET updated_at = updated_at + interval '1 microsecond' WHERE id = 5"],
    ["pg", "tags", `UPDATE {t} SET tags = '{"tier":"basic","n":5}' WHERE id = 5`],
    ["local", "version", "UPDATE customers SET version = version + 1 WHERE id = 5"],
    ["cache", "tags", "HSET tags"],
  ])("finds one changed column (%s.%s) and nothing else", async (store, column, change) => {
    if (store === "pg") await pg.admin.query(change.replace("{t}", pg.table("customers")));
    else if (store === "maria") await my.admin.query(change);
    else if (store === "local") {
      const lite = new Database(join(dir, "local.db"));
      lite.exec(change);
      lite.close();
    } else await rd.admin.hset(`${rd.prefix}5`, "tags", '{"n":4,"tier":"gold"}');
    const { code, divergences } = await scan();
    expect(code).toBe(1);
    expect(divergences.map((d) => [d.key, d.columns])).toEqual([[[5], [column]]]);
  });

  it("repairs every store to the owner's state, then scans clean", async () => {
    await my.admin.query("UPDATE customers SET balance = 0 WHERE id = 7");
    await rd.admin.del(`${rd.prefix}9`);
    const lite = new Database(join(dir, "local.db"));
    lite.exec(
      "DELETE FROM customers WHERE id = 11; INSERT INTO customers VALUES (99, 'extra', 1, 1, '2026-01-01 00:00:00', '[]', 1)",
    );
    lite.close();
    expect((await scan()).divergences.map((d) => d.key).sort()).toEqual([[11], [7], [9], [99]]);
    const repair = await runConcord(["repair", "--json", "-c", config]);
    expect(repair.stderr).toBe("");
    expect(repair.code).toBe(0);
    expect(await scan()).toEqual({ code: 0, divergences: [] });
  });
});
