/**
 * Binary key columns (PostgreSQL bytea, MariaDB VARBINARY and BINARY(n), SQLite BLOB) through the CLI: keys
 * with 0x00, 0xFF, the empty key, prefixes and different lengths, in a composite key cut into many small
 * segments, are found (shown as lowercase hex in JSON), repaired exactly (read back as bytes with each
 * store's own client), scan clean, roll back, and are found in the audit by their hex; a key a BINARY(n)
 * column would pad is refused in one line, never written padded.
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

/** A row: tenant (text), id (bytes as lowercase hex), v. */
type Row = readonly [string, string, string];

const IDS = ["", "00", "0000", "00ff", "01", "7f", "80", "ff", "ff00", "ffff"] as const;
const OWNER: readonly Row[] = ["a", "b"].flatMap((t) => IDS.map((id, i): Row => [t, id, `v${i}`]));
/** The target: two values changed, three rows missing, two of its own (one a prefix of an owner's key). */
const CHANGED = [
  ["a", "00"],
  ["b", "ff"],
] as const;
const MISSING = [
  ["a", ""],
  ["a", "00ff"],
  ["b", "0000"],
] as const;
const EXTRA: readonly Row[] = [
  ["a", "000000", "only here"],
  ["b", "fffe", "only here"],
];
const has = (list: readonly (readonly [string, string])[], r: Row) =>
  list.some(([t, id]) => r[0] === t && r[1] === id);
const TARGET: readonly Row[] = [
  ...OWNER.filter((r) => !has(MISSING, r)).map((r): Row => (has(CHANGED, r) ? [r[0], r[1], "changed"] : r)),
  ...EXTRA,
];
const DIVERGENT = [...CHANGED, ...MISSING, ...EXTRA.map((r) => [r[0], r[1]] as const)].map((k) =>
  JSON.stringify(k),
);

const sorted = (rows: readonly Row[]) => rows.map((r) => JSON.stringify(r)).sort();

interface Side {
  create(table: string, rows: readonly Row[]): Promise<void>;
  replica(table: string): string;
  read(table: string): Promise<Row[]>;
}

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
let dir: string;
let dataDir: string;
let sqlitePath: string;
let sqlite: Database.Database;

const SIDES: Record<string, () => Side> = {
  postgres: () => ({
    async create(table, rows) {
      const t = pg.table(table);
      await pg.admin.query(`DROP TABLE IF EXISTS ${t}`);
      await pg.admin.query(`CREATE TABLE ${t} (tenant text, id bytea, v text, PRIMARY KEY (tenant, id))`);
      for (const r of rows)
        await pg.admin.query(`INSERT INTO ${t} VALUES ($1, decode($2, 'hex'), $3)`, [...r]);
    },
    replica: (table) => `{ url: "${POSTGRES.url}", table: ${pg.table(table)} }`,
    async read(table) {
      const { rows } = await pg.admin.query({
        text: `SELECT tenant, encode(id, 'hex'), v FROM ${pg.table(table)}`,
        rowMode: "array",
      });
      return rows as unknown as Row[];
    },
  }),
  mariadb: () => ({
    async create(table, rows) {
      const collation = my.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
      await my.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await my.admin.query(
        `CREATE TABLE ${table} (tenant VARCHAR(8) COLLATE ${collation}, id VARBINARY(16), v TEXT, PRIMARY KEY (tenant, id))`,
      );
      for (const r of rows)
        await my.admin.query(`INSERT INTO ${table} VALUES (?, ?, ?)`, [r[0], Buffer.from(r[1], "hex"), r[2]]);
    },
    replica: (table) => `{ url: "${my.url}", table: ${table} }`,
    async read(table) {
      const [rows] = await my.admin.query({
        sql: `SELECT tenant, LOWER(HEX(id)), v FROM ${table}`,
        rowsAsArray: true,
      });
      return rows as unknown as Row[];
    },
  }),
  sqlite: () => ({
    async create(table, rows) {
      sqlite.exec(`DROP TABLE IF EXISTS "${table}"`);
      sqlite.exec(`CREATE TABLE "${table}" (tenant TEXT, id BLOB, v TEXT, PRIMARY KEY (tenant, id))`);
      const insert = sqlite.prepare(`INSERT INTO "${table}" VALUES (?, ?, ?)`);
      sqlite.transaction(() => {
        for (const r of rows) insert.run(r[0], Buffer.from(r[1], "hex"), r[2]);
      })();
    },
    replica: (table) => `{ url: "sqlite:${sqlitePath}", table: ${table} }`,
    async read(table) {
      const rows = sqlite
        .prepare(`SELECT tenant, typeof(id), lower(hex(id)), v FROM "${table}"`)
        .raw()
        .all() as string[][];
      // A key part must stay a blob, never become the text of its hex.
      for (const r of rows) expect(r[1]).toBe("blob");
      return rows.map((r): Row => [r[0]!, r[2]!, r[3]!]);
    },
  }),
};

function config(name: string, owner: Side, target: Side, table: string, key = "[tenant, id]"): string {
  return writeConfig(
    dir,
    `state: sqlite:${name}.db
datasets:
  ${name}:
    key: ${key}
    checkpointRows: 7
    detect: { segmentRows: 4, leafRows: 2, fanout: 2 }
    replicas:
      s: ${owner.replica(table)}
      d: ${target.replica(table)}
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
    `${name}.yaml`,
  );
}

interface Divergence {
  key: unknown[];
  class: string;
}

async function scan(cfg: string): Promise<{ code: number; divergences: Divergence[] }> {
  const r = await runConcord(["scan", "--json", "-c", cfg]);
  if (r.code > 1) throw new Error(`scan exit ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { datasets: { divergences: Divergence[] }[] };
  return { code: r.code, divergences: out.datasets[0]!.divergences };
}

const keysOf = (ds: readonly Divergence[]) => ds.map((d) => JSON.stringify(d.key)).sort();

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "concord-binary-keys-"));
  dataDir = mkdtempSync(join(tmpdir(), "concord-binary-keys-data-"));
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
  ["mariadb", "sqlite"],
  ["sqlite", "postgres"],
];

describe.skipIf(!available)("binary keys", () => {
  it.each(PAIRS)(
    "%s → %s: found by their bytes, repaired exactly, clean again, rolled back",
    async (s, d) => {
      const owner = SIDES[s]!();
      const target = SIDES[d]!();
      const table = `bk_${s}_${d}`;
      const cfg = config(table, owner, target, table);
      await owner.create(table, OWNER);
      await target.create(table, OWNER);
      expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });

      await target.create(table, TARGET);
      const found = await scan(cfg);
      expect(found.code).toBe(1);
      expect(keysOf(found.divergences)).toEqual([...DIVERGENT].sort());

      const repair = await runConcord(["repair", "--json", "-c", cfg]);
      expect(repair.stderr).toBe("");
      expect(repair.code).toBe(0);
      const runId = (JSON.parse(repair.stdout) as { runId: string }).runId;
      expect(sorted(await target.read(table))).toEqual(sorted(OWNER));
      expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });

      const audit = await runConcord(["audit", "show", "--json", "--key", '["a","00ff"]', "-c", cfg]);
      expect(audit.code, audit.stderr).toBe(0);
      const entries = (JSON.parse(audit.stdout) as { entries: { keyJson: unknown[] }[] }).entries;
      expect(entries.length).toBeGreaterThan(0);
      for (const e of entries) expect(e.keyJson).toEqual(["a", "00ff"]);

      const rollback = await runConcord(["rollback", "--run", runId, "--json", "-c", cfg]);
      expect(rollback.stderr).toBe("");
      expect(rollback.code).toBe(0);
      expect(sorted(await target.read(table))).toEqual(sorted(TARGET));
    },
  );

  it("a key a BINARY(n) column would pad with zero bytes is refused in one line, and the padded key is another key", async () => {
    const table = "bk_binary4";
    const t = pg.table(table);
    await pg.admin.query(`CREATE TABLE ${t} (id bytea PRIMARY KEY, v text)`);
    await pg.admin.query(`INSERT INTO ${t} VALUES ('\\x00ff', 'short'), ('\\x00ff0000', 'padded')`);
    await my.admin.query(`CREATE TABLE ${table} (id BINARY(4) PRIMARY KEY, v TEXT)`);
    const cfg = writeConfig(
      dir,
      `state: sqlite:${table}.db
datasets:
  ${table}:
    key: id
    replicas:
      s: { url: "${POSTGRES.url}", table: ${t} }
      d: { url: "${my.url}", table: ${table} }
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
      `${table}.yaml`,
    );
    const repair = await runConcord(["repair", "--json", "-c", cfg]);
    expect(repair.code).toBe(1);
    const repairs = (
      JSON.parse(repair.stdout) as {
        datasets: { repairs: { key: unknown[]; outcome: string; error?: string }[] }[];
      }
    ).datasets[0]!.repairs;
    const byKey = new Map(repairs.map((r) => [JSON.stringify(r.key), r]));
    expect(byKey.get('["00ff0000"]')?.outcome).toBe("applied");
    const short = byKey.get('["00ff"]');
    expect(short?.outcome).toBe("failed");
    expect(short?.error).toMatch(/binary\(4\).*pads shorter values with zero bytes/i);
    expect(short?.error).not.toMatch(/\n/);
    const [rows] = await my.admin.query({ sql: `SELECT LOWER(HEX(id)), v FROM ${table}`, rowsAsArray: true });
    expect(rows).toEqual([["00ff0000", "padded"]]);
    expect(keysOf((await scan(cfg)).divergences)).toEqual(['["00ff"]']);
  });

  it.skipIf(!redisAvailable)(
    "Redis: a binary key part is its lowercase hex in the key name; a name that is not that hex stops the scan naming it",
    async () => {
      const redis = createRedisTestPrefix("binary-keys");
      try {
        const owner = SIDES.postgres!();
        const table = "bk_redis";
        await owner.create(table, OWNER);
        const name = `${table}_r`;
        const cfg = writeConfig(
          dir,
          `state: sqlite:${name}.db
datasets:
  ${name}:
    key: [tenant, id]
    replicas:
      s: ${owner.replica(table)}
      d: { url: "${REDIS.url}", prefix: "${redis.prefix}", format: hash }
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
          `${name}.yaml`,
        );
        const repair = await runConcord(["repair", "--json", "-c", cfg]);
        expect(repair.stderr).toBe("");
        expect(repair.code).toBe(0);
        const names = (await redis.admin.keys(`${redis.prefix}*`)).map((k) => k.slice(redis.prefix.length));
        expect(names.sort()).toEqual(OWNER.map((r) => `${r[0]}:${r[1]}`).sort());
        expect(await redis.admin.hget(`${redis.prefix}a:00ff`, "v")).toBe("v3");
        expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });

        // Upper-case hex would be written back under another name: not a record of this dataset.
        await redis.admin.hset(`${redis.prefix}a:00FF`, "v", "v3");
        const r = await runConcord(["scan", "--json", "-c", cfg]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`${redis.prefix}a:00FF is not a record key of this dataset`);
        expect(r.stderr.trim()).not.toMatch(/\n/);
      } finally {
        await redis.drop();
      }
    },
  );

  it("uuid keys: PostgreSQL uuid ↔ MariaDB UUID (which orders by swapped segments) ↔ SQLite text, found and repaired", async () => {
    if (!my.mariadb) return;
    const [vrows] = await my.admin.query({ sql: "SELECT VERSION()", rowsAsArray: true });
    const [maj, min] = String((vrows as unknown[][])[0]![0])
      .split(".")
      .map(Number);
    if (maj! < 10 || (maj === 10 && min! < 7)) return;
    // Text order and MariaDB's UUID order (last segment first) disagree on these.
    const uuids = [
      "00000000-0000-0000-0000-000000000000",
      "00000000-0000-0000-0000-ffffffffffff",
      "ffffffff-ffff-ffff-ffff-000000000000",
      "0a0b0c0d-0e0f-1011-1213-141516171819",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "12345678-9abc-4ef0-8234-56789abcdef0",
    ];
    const table = "bk_uuid";
    const t = pg.table(table);
    await pg.admin.query(`CREATE TABLE ${t} (id uuid PRIMARY KEY, v text)`);
    for (const u of uuids) await pg.admin.query(`INSERT INTO ${t} VALUES ($1, $2)`, [u, `v${u.slice(0, 2)}`]);
    await my.admin.query(`CREATE TABLE ${table} (id UUID PRIMARY KEY, v TEXT)`);
    await my.admin.query(`INSERT INTO ${table} VALUES ('${uuids[1]}', 'changed'), ('${uuids[4]}', 'vff')`);
    sqlite.exec(`CREATE TABLE "${table}" (id TEXT PRIMARY KEY, v TEXT)`);
    sqlite.prepare(`INSERT INTO "${table}" VALUES (?, ?)`).run(uuids[2], "vff");
    for (const target of ["maria", "lite"]) {
      const name = `${table}_${target}`;
      const replica =
        target === "maria"
          ? `{ url: "${my.url}", table: ${table} }`
          : `{ url: "sqlite:${sqlitePath}", table: ${table} }`;
      const cfg = writeConfig(
        dir,
        `state: sqlite:${name}.db
datasets:
  ${name}:
    key: id
    detect: { segmentRows: 2, leafRows: 2, fanout: 2 }
    replicas:
      s: { url: "${POSTGRES.url}", table: ${t} }
      d: ${replica}
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
        `${name}.yaml`,
      );
      const found = await scan(cfg);
      expect(found.divergences.length, target).toBe(target === "maria" ? 5 : 5);
      const repair = await runConcord(["repair", "--json", "-c", cfg]);
      expect(repair.stderr, target).toBe("");
      expect(repair.code, `${target}: ${repair.stdout}`).toBe(0);
      expect(await scan(cfg)).toMatchObject({ code: 0, divergences: [] });
    }
    const [rows] = await my.admin.query({
      sql: `SELECT CAST(id AS CHAR), v FROM ${table}`,
      rowsAsArray: true,
    });
    expect((rows as string[][]).map((r) => r[0]).sort()).toEqual([...uuids].sort());
  });

  it("a text key column declared bytes (types:) is refused in one line naming it, on each store", async () => {
    const table = "bk_declared";
    await pg.admin.query(`CREATE TABLE ${pg.table(table)} (id bytea PRIMARY KEY, v text)`);
    await pg.admin.query(`CREATE TABLE ${pg.table(`${table}_t`)} (id text PRIMARY KEY, v text)`);
    await my.admin.query(`CREATE TABLE ${table} (id VARCHAR(8) PRIMARY KEY, v TEXT)`);
    sqlite.exec(`CREATE TABLE "${table}" (id TEXT PRIMARY KEY, v TEXT)`);
    const targets = {
      pg: `{ url: "${POSTGRES.url}", table: ${pg.table(`${table}_t`)} }`,
      maria: `{ url: "${my.url}", table: ${table} }`,
      lite: `{ url: "sqlite:${sqlitePath}", table: ${table} }`,
    };
    for (const [target, replica] of Object.entries(targets)) {
      const name = `${table}_${target}`;
      const cfg = writeConfig(
        dir,
        `state: sqlite:${name}.db
datasets:
  ${name}:
    key: id
    types: { id: bytes }
    replicas:
      s: { url: "${POSTGRES.url}", table: ${pg.table(table)} }
      d: ${replica}
    policy: { owner: s, resolve: owner }
`,
        `${name}.yaml`,
      );
      const r = await runConcord(["scan", "-c", cfg]);
      expect(r.code, `${target}: ${r.stderr}`).toBe(2);
      expect(r.stderr, target).toMatch(/key column id .*cannot be (read|compared) as a bytes key/);
      expect(r.stderr.trim().split("\n"), target).toHaveLength(1);
    }
  });

  it("20,000 random binary keys: range checksums in each store find exactly the differing keys", async () => {
    // A fixed pseudo-random sequence: keys of 0 to 20 bytes, many sharing prefixes of zero and 0xFF bytes.
    let seed = 7;
    const next = () => {
      // xorshift32: exact in 32-bit integer arithmetic.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const ids = new Set<string>();
    while (ids.size < 20_000) {
      const n = next() % 21;
      let hex = "";
      for (let i = 0; i < n; i++) {
        const r = next() % 8;
        hex += r === 0 ? "00" : r === 1 ? "ff" : (next() % 256).toString(16).padStart(2, "0");
      }
      ids.add(hex);
    }
    const all = [...ids];
    const rows: Row[] = all.map((id, i) => ["t", id, `v${i}`]);
    const changed = new Set([all[3]!, all[500]!, all[9_999]!, all[15_000]!, all[19_999]!]);
    const missing = new Set([all[1]!, all[7_000]!, all[12_345]!]);
    const extra = [
      "00000000000000000000000000000000000000ff",
      "ffffffffffffffffffffffffffffffffffffffff",
    ].filter((id) => !ids.has(id));
    const target: Row[] = [
      ...rows
        .filter((r) => !missing.has(r[1]))
        .map((r): Row => (changed.has(r[1]) ? [r[0], r[1], "changed"] : r)),
      ...extra.map((id): Row => ["t", id, "only here"]),
    ];
    const want = [...changed, ...missing, ...extra].map((id) => JSON.stringify(["t", id])).sort();
    const owner = SIDES.postgres!();
    await pgBulk("bk_many", rows);
    for (const d of ["mariadb", "sqlite"]) {
      const table = `bk_many_${d}`;
      const side = SIDES[d]!();
      if (d === "mariadb") await myBulk(table, target);
      else await side.create(table, target);
      const name = `bk_many_${d}`;
      const cfg = writeConfig(
        dir,
        `state: sqlite:${name}.db
datasets:
  ${name}:
    key: [tenant, id]
    replicas:
      s: ${owner.replica("bk_many")}
      d: ${side.replica(table)}
    policy: { owner: s, resolve: owner, limits: { maxDivergentFraction: 1 } }
`,
        `${name}.yaml`,
      );
      expect(keysOf((await scan(cfg)).divergences), d).toEqual(want);
    }
  });
});

/** The PostgreSQL side's table filled in one statement (rows of tenant, hex id, v). */
async function pgBulk(table: string, rows: readonly Row[]): Promise<void> {
  const t = pg.table(table);
  await pg.admin.query(`CREATE TABLE ${t} (tenant text, id bytea, v text, PRIMARY KEY (tenant, id))`);
  await pg.admin.query(
    `INSERT INTO ${t} SELECT a, decode(b, 'hex'), c FROM unnest($1::text[], $2::text[], $3::text[]) AS u(a, b, c)`,
    [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
  );
}

/** The MariaDB side's table filled 1,000 rows a statement. */
async function myBulk(table: string, rows: readonly Row[]): Promise<void> {
  const collation = my.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
  await my.admin.query(
    `CREATE TABLE ${table} (tenant VARCHAR(8) COLLATE ${collation}, id VARBINARY(32), v TEXT, PRIMARY KEY (tenant, id))`,
  );
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await my.admin.query(
      `INSERT INTO ${table} VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`,
      chunk.flatMap((r) => [r[0], Buffer.from(r[1], "hex"), r[2]]),
    );
  }
}
