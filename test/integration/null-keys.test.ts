/**
 * Keys whose nullable unique key columns hold NULL, across PostgreSQL, MariaDB and SQLite, through the CLI:
 * equal rows scan clean; different values, rows missing on the target and rows only the target holds are
 * found (keys shown with JSON null), repaired (the target read back with its own client holds exactly the
 * owner's rows: NULL, not '' or 'NULL'), and scan clean again, over many small segments whose boundaries
 * fall on NULL parts; a repair run rolls back; the audit finds a key by its NULL part; a NULL key several
 * rows hold stops the scan with one line naming it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runConcord, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const redisAvailable = available && (await serviceAvailable(REDIS));

/** A row: tenant (text or NULL), n (integer text or NULL), v. */
type Row = readonly [string | null, string | null, string | null];

const TENANTS = [null, "", "NULL", "a", "b"] as const;
const NS = [null, "-2", "0", "1", "2", "3", "10", "11"] as const;

/** The owner's rows: every (tenant, n) pair, NULLs included. */
const OWNER: readonly Row[] = TENANTS.flatMap((t, i) => NS.map((n, j): Row => [t, n, `v${i}.${j}`]));

const same = (a: Row, t: string | null, n: string | null) => a[0] === t && a[1] === n;

/** The target: the owner's rows with three values changed, three rows missing, and three of its own. */
const CHANGED: readonly [string | null, string | null][] = [
  [null, "3"],
  ["a", null],
  [null, null],
];
const MISSING: readonly [string | null, string | null][] = [
  ["NULL", null],
  ["b", "0"],
  [null, "-2"],
];
const EXTRA: readonly Row[] = [
  ["c", null, "only here"],
  [null, "99", "only here"],
  ["", "5", null],
];
const TARGET: readonly Row[] = [
  ...OWNER.filter((r) => !MISSING.some(([t, n]) => same(r, t, n))).map(
    (r): Row => (CHANGED.some(([t, n]) => same(r, t, n)) ? [r[0], r[1], "changed"] : r),
  ),
  ...EXTRA,
];

/** A key as the JSON output shows it: NULL as null, integers as numbers. */
const keyJson = (t: string | null, n: string | null) => [t, n === null ? null : Number(n)];
const DIVERGENT = [...CHANGED, ...MISSING, ...EXTRA.map((r) => [r[0], r[1]] as const)].map(([t, n]) =>
  keyJson(t, n),
);

/** Rows in a fixed order for comparing sets of them. */
function sorted(rows: readonly Row[]): string[] {
  return rows.map((r) => JSON.stringify(r)).sort();
}

/** One store's side of a pair: a table created and filled natively, its replica config, its rows read back natively. */
interface Side {
  readonly name: string;
  create(table: string, rows: readonly Row[]): Promise<void>;
  replica(table: string): string;
  read(table: string): Promise<Row[]>;
}

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
/** Configs and state; the SQLite replica lives apart, since this file holds it open (see runConcord). */
let dir: string;
let dataDir: string;
let sqlitePath: string;
let sqlite: Database.Database;

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

const SIDES: Record<string, () => Side> = {
  postgres: () => ({
    name: "postgres",
    async create(table, rows) {
      const t = pg.table(table);
      await pg.admin.query(`DROP TABLE IF EXISTS ${t}`);
      await pg.admin.query(
        `CREATE TABLE ${t} (tenant text COLLATE "C", n bigint, v text, UNIQUE (tenant, n))`,
      );
      for (const r of rows) await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [...r]);
    },
    replica: (table) => `{ url: "${POSTGRES.url}", table: ${pg.table(table)} }`,
    async read(table) {
      const { rows } = await pg.admin.query({
        text: `SELECT tenant, n::text, v FROM ${pg.table(table)}`,
        rowMode: "array",
      });
      return (rows as unknown[][]).map((r): Row => [text(r[0]), text(r[1]), text(r[2])]);
    },
  }),
  mariadb: () => ({
    name: "mariadb",
    async create(table, rows) {
      const collation = my.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
      await my.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await my.admin.query(
        `CREATE TABLE ${table} (tenant VARCHAR(20) COLLATE ${collation} NULL, n BIGINT NULL, v TEXT, UNIQUE KEY (tenant, n))`,
      );
      for (const r of rows) await my.admin.query(`INSERT INTO ${table} VALUES (?, ?, ?)`, [...r]);
    },
    replica: (table) => `{ url: "${my.url}", table: ${table} }`,
    async read(table) {
      const [rows] = await my.admin.query({
        sql: `SELECT tenant, CAST(n AS CHAR), v FROM ${table}`,
        rowsAsArray: true,
      });
      return (rows as unknown[][]).map((r): Row => [text(r[0]), text(r[1]), text(r[2])]);
    },
  }),
  sqlite: () => ({
    name: "sqlite",
    async create(table, rows) {
      sqlite.exec(`DROP TABLE IF EXISTS "${table}"`);
      sqlite.exec(`CREATE TABLE "${table}" (tenant TEXT, n INTEGER, v TEXT, UNIQUE (tenant, n))`);
      const insert = sqlite.prepare(`INSERT INTO "${table}" VALUES (?, ?, ?)`);
      for (const r of rows) insert.run(r[0], r[1] === null ? null : BigInt(r[1]), r[2]);
    },
    replica: (table) => `{ url: "sqlite:${sqlitePath}", table: ${table} }`,
    async read(table) {
      const rows = sqlite
        .prepare(`SELECT tenant, typeof(n), CAST(n AS TEXT), v FROM "${table}"`)
        .raw()
        .all() as unknown[][];
      // A key part must stay an integer (or NULL), never become the text of one.
      for (const r of rows) expect(["integer", "null"]).toContain(r[1]);
      return rows.map((r): Row => [text(r[0]), text(r[2]), text(r[3])]);
    },
  }),
};

/**
 * A config with one dataset from `owner` to `target`, cut into many small segments and ranges; with
 * `policy`, that policy instead of `s` owning every record.
 */
function config(name: string, owner: Side, target: Side, table: string, policy?: string): string {
  return writeConfig(
    dir,
    `state: sqlite:${name}.db
datasets:
  ${name}:
    key: [tenant, n]
    checkpointRows: 7
    detect: { segmentRows: 4, leafRows: 2, fanout: 2 }
    replicas:
      s: ${owner.replica(table)}
      d: ${target.replica(table)}
    policy: ${policy ?? "{ owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }"}
`,
    `${name}.yaml`,
  );
}

interface Divergence {
  key: unknown[];
  class: string;
}

async function scan(cfg: string): Promise<{ code: number; divergences: Divergence[]; stderr: string }> {
  const r = await runConcord(["scan", "--json", "-c", cfg]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { datasets: { divergences: Divergence[] }[] };
  return { code: r.code, divergences: out.datasets[0]!.divergences, stderr: r.stderr };
}

const keysOf = (ds: readonly Divergence[]) => ds.map((d) => JSON.stringify(d.key)).sort();

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "concord-null-keys-"));
  dataDir = mkdtempSync(join(tmpdir(), "concord-null-keys-data-"));
  sqlitePath = join(dataDir, "replica.db");
  sqlite = new Database(sqlitePath);
  sqlite.pragma("journal_mode = WAL");
});

afterAll(async () => {
  if (!available) return;
  sqlite.close();
  await pg.drop();
  await my.drop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

const PAIRS: readonly [string, string][] = [
  ["postgres", "mariadb"],
  ["mariadb", "postgres"],
  ["postgres", "sqlite"],
  ["sqlite", "postgres"],
  ["mariadb", "sqlite"],
  ["sqlite", "mariadb"],
];

describe.skipIf(!available)("keys with NULL parts", () => {
  it.each(PAIRS)(
    "%s → %s: equal scans clean; differences found, repaired exactly, clean again",
    async (s, d) => {
      const owner = SIDES[s]!();
      const target = SIDES[d]!();
      const table = `nk_${s}_${d}`;
      const cfg = config(table, owner, target, table);

      await owner.create(table, OWNER);
      await target.create(table, OWNER);
      expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });

      await target.create(table, TARGET);
      const found = await scan(cfg);
      expect(found.code).toBe(1);
      expect(keysOf(found.divergences)).toEqual(DIVERGENT.map((k) => JSON.stringify(k)).sort());
      const classes = new Map(found.divergences.map((dv) => [JSON.stringify(dv.key), dv.class]));
      for (const [t, n] of [...MISSING, ...EXTRA.map((r) => [r[0], r[1]] as const)])
        expect(classes.get(JSON.stringify(keyJson(t, n)))).toBe("missing");

      const repair = await runConcord(["repair", "--json", "-c", cfg]);
      expect(repair.stderr).toBe("");
      expect(repair.code).toBe(0);
      const repairs = (JSON.parse(repair.stdout) as { datasets: { repairs: { outcome: string }[] }[] })
        .datasets[0]!.repairs;
      expect(repairs.map((r) => r.outcome)).toEqual(Array(DIVERGENT.length).fill("applied"));
      expect(sorted(await target.read(table))).toEqual(sorted(OWNER));
      expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });
    },
  );

  it("rolls a repair run back on keys with NULL parts, and the audit finds a key by its NULL part", async () => {
    const owner = SIDES.postgres!();
    const target = SIDES.mariadb!();
    const table = "nk_rollback";
    const cfg = config(table, owner, target, table);
    await owner.create(table, OWNER);
    await target.create(table, TARGET);

    const repair = await runConcord(["repair", "--json", "-c", cfg]);
    expect(repair.code).toBe(0);
    const runId = (JSON.parse(repair.stdout) as { runId: string }).runId;
    expect(sorted(await target.read(table))).toEqual(sorted(OWNER));

    const audit = await runConcord(["audit", "show", "--json", "--key", "[null,3]", "-c", cfg]);
    expect(audit.code).toBe(0);
    const entries = (JSON.parse(audit.stdout) as { entries: { key: string; keyJson: unknown[] }[] }).entries;
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect(e.keyJson).toEqual([null, 3]);

    const rollback = await runConcord(["rollback", "--run", runId, "--json", "-c", cfg]);
    expect(rollback.stderr).toBe("");
    expect(rollback.code).toBe(0);
    expect(sorted(await target.read(table))).toEqual(sorted(TARGET));
  });

  it("escalates keys with NULL parts, lists them with JSON null, and resolves them by a pick", async () => {
    const owner = SIDES.sqlite!();
    const target = SIDES.postgres!();
    const table = "nk_escalate";
    const cfg = config(table, owner, target, table, "{ limits: { maxDivergentFraction: 1 } }");
    await owner.create(table, OWNER);
    await target.create(table, TARGET);

    const repair = await runConcord(["repair", "--json", "-c", cfg]);
    expect(repair.code, repair.stderr).toBe(1);
    const list = await runConcord(["escalations", "list", "--json", "-c", cfg]);
    expect(list.code, list.stderr).toBe(0);
    const escalations = (JSON.parse(list.stdout) as { escalations: { id: string; key: unknown[] }[] })
      .escalations;
    expect(escalations.map((e) => JSON.stringify(e.key)).sort()).toEqual(
      DIVERGENT.map((k) => JSON.stringify(k)).sort(),
    );
    const show = await runConcord(["escalations", "list", "-c", cfg]);
    expect(show.stdout).toContain("[null,3]");

    const id = (key: unknown[]) => escalations.find((e) => JSON.stringify(e.key) === JSON.stringify(key))!.id;
    for (const key of [keyJson(null, "3"), keyJson("NULL", null), keyJson("c", null)]) {
      const r = await runConcord(["escalations", "resolve", id(key), "--pick", "s", "--json", "-c", cfg]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const held = await target.read(table);
    const find = (t: string | null, n: string | null) => held.filter((r) => same(r, t, n));
    expect(find(null, "3")).toEqual([OWNER.find((r) => same(r, null, "3"))]);
    expect(find("NULL", null)).toEqual([OWNER.find((r) => same(r, "NULL", null))]);
    expect(find("c", null)).toEqual([]);
    // The others are left as they were: ['', null] and [null, null] are other keys.
    expect(find(null, null)).toEqual([[null, null, "changed"]]);
    expect(find("", null)).toEqual([OWNER.find((r) => same(r, "", null))]);
  });

  it.each(["postgres", "mariadb", "sqlite"])(
    "%s: a NULL key two rows hold stops the scan with one line naming the key and the replica",
    async (d) => {
      const owner = SIDES[d === "postgres" ? "sqlite" : "postgres"]!();
      const target = SIDES[d]!();
      const table = `nk_dup_${d}`;
      const cfg = config(table, owner, target, table);
      await owner.create(table, OWNER);
      await target.create(table, [...OWNER, ["a", null, "a second row"]]);
      const r = await runConcord(["scan", "--json", "-c", cfg]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^concord: ${table}\\.d: key \\["a",null\\] names several rows of table \\S+ \\(its unique index`,
        ),
      );
      expect(r.stderr.trim()).not.toContain("\n");
    },
  );
});

describe.skipIf(!redisAvailable)("keys with NULL parts beside Redis", () => {
  it("copies a composite key's NULL part to Redis as \\N, and refuses a NULL one-column key naming its column", async () => {
    const redis = createRedisTestPrefix("null-keys");
    try {
      const owner = SIDES.postgres!();
      const table = "nk_redis";
      await owner.create(table, OWNER);
      const cfg = writeConfig(
        dir,
        `state: sqlite:${table}.db
datasets:
  ${table}:
    key: [tenant, n]
    replicas:
      s: ${owner.replica(table)}
      d: { url: "${REDIS.url}", prefix: "${redis.prefix}" }
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
        `${table}.yaml`,
      );
      const repair = await runConcord(["repair", "--json", "-c", cfg]);
      expect(repair.stderr).toBe("");
      expect(repair.code).toBe(0);
      expect(await redis.admin.hgetall(`${redis.prefix}a:\\N`)).toEqual({ tenant: "a", v: "v3.0" });
      expect(await redis.admin.hgetall(`${redis.prefix}\\N:\\N`)).toEqual({ v: "v0.0" });
      expect(await redis.admin.hgetall(`${redis.prefix}:\\N`)).toEqual({ tenant: "", v: "v1.0" });
      expect(await redis.admin.hgetall(`${redis.prefix}NULL:\\N`)).toEqual({ tenant: "NULL", v: "v2.0" });
      expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });

      const single = "nk_redis_single";
      await pg.admin.query(`CREATE TABLE ${pg.table(single)} (id bigint UNIQUE, v text)`);
      await pg.admin.query(`INSERT INTO ${pg.table(single)} VALUES (1, 'one'), (NULL, 'none')`);
      const cfg1 = writeConfig(
        dir,
        `state: sqlite:${single}.db
datasets:
  ${single}:
    key: id
    replicas:
      s: { url: "${POSTGRES.url}", table: ${pg.table(single)} }
      d: { url: "${REDIS.url}", prefix: "${redis.prefix}single:" }
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
        `${single}.yaml`,
      );
      const r = await runConcord(["repair", "--json", "-c", cfg1]);
      expect(r.code).toBe(1);
      const repairs = (
        JSON.parse(r.stdout) as {
          datasets: { repairs: { key: unknown[]; outcome: string; error?: string }[] }[];
        }
      ).datasets[0]!.repairs;
      const byKey = new Map(repairs.map((x) => [JSON.stringify(x.key), x]));
      expect(byKey.get("[1]")?.outcome).toBe("applied");
      expect(byKey.get("[null]")?.outcome).toBe("failed");
      expect(byKey.get("[null]")?.error).toMatch(
        /key column id is NULL, and a one-column key that is NULL has no Redis key name/,
      );
      expect(await redis.admin.hgetall(`${redis.prefix}single:1`)).toEqual({ id: "1", v: "one" });
    } finally {
      await redis.drop();
    }
  });
});
