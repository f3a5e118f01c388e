/**
 * The fault tests' replicas: a SQLite replica `a` (the owner, newer on some rows) and one server replica `b`
 * (PostgreSQL, MariaDB/MySQL or Redis) that Concord reaches through a fault proxy. Tests only.
 */
import { join } from "node:path";
import { Redis } from "ioredis";
import { makeSqliteTable, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable, type TestService } from "../support/services.js";

/** One row of the items dataset: the key, a name and a counter version. */
export interface Item {
  readonly id: number;
  readonly name: string;
  readonly version: number;
}

/** Rows 1..rows named `item <id>` at version 1; the first `newer` are renamed at version 2 (a's side). */
export function items(rows: number, newer = 0): Item[] {
  return Array.from({ length: rows }, (_, i) => {
    const id = i + 1;
    return id <= newer
      ? { id, name: `item ${id} (new)`, version: 2 }
      : { id, name: `item ${id}`, version: 1 };
  });
}

/** A server store holding replica `b` for one test file. */
export interface FaultStore {
  readonly kind: "postgres" | "mysql" | "redis";
  readonly service: TestService;
  /** The real server's URL for this store (what the proxy forwards to; the path names b's database). */
  readonly url: string;
  /** Replaces b's rows with `rows`. */
  load(rows: readonly Item[]): Promise<void>;
  /** b's rows by id. */
  read(): Promise<Map<number, Item>>;
  /** Sets one row as a concurrent writer would (a newer version than anything Concord writes). */
  write(row: Item): Promise<void>;
  /** The replica's YAML mapping for a store URL (the proxy's). */
  replica(url: string): string;
  /** What a conditional write sends to commit (SQL: COMMIT; Redis: the compare-and-set script): a fault trigger. */
  readonly writeMatch: RegExp;
  drop(): Promise<void>;
}

const SQL_ITEMS = "(id bigint PRIMARY KEY, name varchar(200) NOT NULL, version bigint NOT NULL)";

async function postgresStore(): Promise<FaultStore> {
  const db: PostgresTestSchema = await createPostgresTestSchema();
  const table = db.table("items");
  await db.admin.query(`CREATE TABLE ${table} ${SQL_ITEMS}`);
  return {
    kind: "postgres",
    service: POSTGRES,
    url: POSTGRES.url,
    async load(rows) {
      await db.admin.query(`TRUNCATE ${table}`);
      await db.admin.query(
        `INSERT INTO ${table} SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])`,
        [rows.map((r) => r.id), rows.map((r) => r.name), rows.map((r) => r.version)],
      );
    },
    async read() {
      const { rows } = await db.admin.query<{ id: string; name: string; version: string }>(
        `SELECT id, name, version FROM ${table}`,
      );
      return new Map(
        rows.map((r) => [Number(r.id), { id: Number(r.id), name: r.name, version: Number(r.version) }]),
      );
    },
    async write(row) {
      await db.admin.query(
        `INSERT INTO ${table} VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = $2, version = $3`,
        [row.id, row.name, row.version],
      );
    },
    replica: (url) => `{ url: "${url}", table: "${table}" }`,
    writeMatch: /COMMIT(?!TED)/,
    drop: () => db.drop(),
  };
}

async function mysqlStore(): Promise<FaultStore> {
  const db: MysqlTestDatabase = await createMysqlTestDatabase();
  await db.admin.query(`CREATE TABLE items ${SQL_ITEMS}`);
  return {
    kind: "mysql",
    service: MYSQL,
    url: db.url,
    async load(rows) {
      await db.admin.query("TRUNCATE items");
      for (let i = 0; i < rows.length; i += 1000)
        await db.admin.query("INSERT INTO items VALUES ?", [
          rows.slice(i, i + 1000).map((r) => [r.id, r.name, r.version]),
        ]);
    },
    async read() {
      const [rows] = await db.admin.query("SELECT id, name, version FROM items");
      return new Map(
        (rows as { id: number; name: string; version: number }[]).map((r) => [
          Number(r.id),
          { id: Number(r.id), name: r.name, version: Number(r.version) },
        ]),
      );
    },
    async write(row) {
      await db.admin.query(
        "INSERT INTO items VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), version = VALUES(version)",
        [row.id, row.name, row.version],
      );
    },
    replica: (url) => `{ url: "${url}", table: items }`,
    writeMatch: /COMMIT(?!TED)/,
    drop: () => db.drop(),
  };
}

async function redisStore(): Promise<FaultStore> {
  const prefix = `concord-test:faults:${process.pid}:${Math.random().toString(36).slice(2)}:`;
  const admin = new Redis(REDIS.url, { maxRetriesPerRequest: 1 });
  const clear = async () => {
    let cursor = "0";
    do {
      const [next, found] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (found.length) await admin.unlink(...found);
      cursor = next;
    } while (cursor !== "0");
  };
  return {
    kind: "redis",
    service: REDIS,
    url: REDIS.url,
    async load(rows) {
      await clear();
      const p = admin.pipeline();
      for (const r of rows) p.set(`${prefix}${r.id}`, JSON.stringify(r));
      await p.exec();
    },
    async read() {
      const out = new Map<number, Item>();
      let cursor = "0";
      do {
        const [next, found] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        if (found.length) {
          const values = await admin.mget(...found);
          for (const v of values) {
            if (v === null) continue;
            const r = JSON.parse(v) as { id: number | string; name: string; version: number | string };
            out.set(Number(r.id), { id: Number(r.id), name: r.name, version: Number(r.version) });
          }
        }
        cursor = next;
      } while (cursor !== "0");
      return out;
    },
    async write(row) {
      await admin.set(`${prefix}${row.id}`, JSON.stringify(row));
    },
    replica: (url) => `{ url: "${url}", prefix: "${prefix}", format: json }`,
    // Conditional writes are compare-and-set scripts; JSON records are read with MGET, never a script.
    writeMatch: /EVALSHA/i,
    async drop() {
      await clear();
      await admin.quit();
    },
  };
}

/** The kinds of server store whose server answers here (in CI a missing server fails instead). */
export async function availableFaultStores(): Promise<FaultStore["kind"][]> {
  const out: FaultStore["kind"][] = [];
  if (await serviceAvailable(POSTGRES)) out.push("postgres");
  if (await serviceAvailable(MYSQL)) out.push("mysql");
  if (await serviceAvailable(REDIS)) out.push("redis");
  return out;
}

/** A store of `kind` of its own (schema, database or key prefix) for one test file; `drop` removes it. */
export function openFaultStore(kind: FaultStore["kind"]): Promise<FaultStore> {
  return kind === "postgres" ? postgresStore() : kind === "mysql" ? mysqlStore() : redisStore();
}

/** The SQLite DDL of replica a. */
const SQLITE_ITEMS = "id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL";

/**
 * Writes replica a (`a.db`, `rows`) and concord.yaml in `dir`: dataset `items` with a and b (`replicaB`,
 * a YAML mapping such as `FaultStore.replica` gives), owner a, highest version wins, state in `state.db`,
 * short top-level timeouts (connect 1 s, query 1 s, idle 2 s) unless `options.timeouts` says otherwise,
 * and `options.limits` as the policy's limits.
 */
export function faultConfig(
  dir: string,
  replicaB: string,
  rows: readonly Item[],
  options: { readonly timeouts?: string; readonly limits?: string } = {},
): string {
  makeSqliteTable(
    join(dir, "a.db"),
    "items",
    SQLITE_ITEMS,
    rows.map((r) => [r.id, r.name, r.version]),
  );
  const limits = options.limits ? `, limits: ${options.limits}` : "";
  return writeConfig(
    dir,
    `state: sqlite:state.db
timeouts: ${options.timeouts ?? "{ connect: 1s, query: 1s, idle: 2s }"}
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: ${replicaB}
    policy: { owner: a, resolve: highest-version${limits} }
`,
  );
}
