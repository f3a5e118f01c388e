/** Test stores: one factory per connector that creates a fresh table from canonical rows. Tests only. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { ChainableCommander } from "ioredis";
import type { Connector, OptionalCapability } from "../../src/connectors/connector.js";
import { MemoryConnector, MemoryTable } from "../../src/connectors/memory/memory-connector.js";
import type { RedisFormat } from "../../src/connectors/redis/redis-connector.js";
import { RedisKeyCodec } from "../../src/connectors/redis/redis-key-codec.js";
import { quoteIdent, SqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import type { CanonicalValue, ColumnType } from "../../src/core/canonical.js";
import type { ColumnSpec } from "../../src/core/model.js";
import { createRedisTestPrefix } from "../support/redis-test-prefix.js";
import { REDIS, serviceAvailable } from "../support/services.js";
import { keyClause, keyNotNull } from "./key-clause.js";
import { mysqlFactory, mysqlPadCollationFactory } from "./mysql-factory.js";
import { postgresDefaultCollationFactory, postgresFactory } from "./postgres-factory.js";

/** A table to create: key columns, compared columns, and rows of canonical values (key columns first). */
export interface TableFixture {
  readonly key: readonly ColumnSpec[];
  readonly columns: readonly ColumnSpec[];
  readonly rows: readonly (readonly CanonicalValue[])[];
  /**
   * What keeps the key unique (default "primary key"): a unique index over NOT NULL key columns instead, a
   * unique index over nullable key columns (rows whose key holds NULL may then repeat it), or nothing at all
   * (a store with a schema must then refuse the key).
   */
  readonly keyConstraint?: "primary key" | "unique index" | "nullable unique index" | "none";
}

/** A freshly created table, its connector, and a back door for writing as "someone else" would. */
export interface StoreTable {
  readonly connector: Connector;
  /** Inserts or replaces a row (canonical values, key columns first) in the store, bypassing the connector. */
  put(row: readonly CanonicalValue[]): Promise<void>;
  /** Closes the connector and removes whatever the factory created. */
  dispose(): Promise<void>;
}

/**
 * Creates a store's table with a declared type for every logical column type, inserts the rows as the
 * store's native values, and returns a Connector over it. Adding a store to the conformance suite means
 * adding one of these.
 */
export interface ConnectorFactory {
  readonly name: string;
  /** What the connector offers; the suite fails when it offers more or less. */
  readonly capabilities: DeclaredCapabilities;
  /**
   * Cases this store does not run, each with why (ids such as "typed/native-hash"; the suite lists them as
   * skipped with the reason, and fails on an id it does not have). Nothing else is skipped at run time.
   */
  readonly skip?: readonly { readonly reason: string; readonly tests: readonly string[] }[];
  create(fixture: TableFixture): Promise<StoreTable>;
  /** Whether the store's server is reachable (server stores); the suite skips the store when it is not. */
  available?(): Promise<boolean>;
}

/** A connector's flags and the optional capabilities it offers (see Connector). */
export interface DeclaredCapabilities {
  readonly pushdown: boolean;
  readonly ordered: boolean;
  readonly optional: readonly OptionalCapability[];
  /**
   * What `describe` must say of the typed fixture's columns for the engine to judge comparability: the
   * fractional digits its timestamp column keeps (undefined: no fixed precision), and whether its decimal
   * column keeps numbers exactly.
   */
  readonly columnFacts: { readonly fractionalDigits: number | undefined; readonly exactDecimal: boolean };
}

/** Why a store without a schema skips the cases about what keeps keys unique. */
const UNIQUE_BY_CONSTRUCTION = {
  reason: "keys are unique by construction (one entry per key), with no schema to declare it",
  tests: ["keys/unique-index", "keys/not-unique", "null-keys/duplicates", "null-keys/duplicate-write"],
};

function makeMemoryFactory(name: string, pushdown: boolean, ordered = true): ConnectorFactory {
  return {
    name,
    capabilities: {
      pushdown,
      ordered,
      optional: [],
      columnFacts: { fractionalDigits: undefined, exactDecimal: true },
    },
    skip: [UNIQUE_BY_CONSTRUCTION],
    async create(fixture) {
      const table = new MemoryTable(fixture.key, fixture.columns);
      const names = [...fixture.key, ...fixture.columns].map((c) => c.name);
      const put = async (row: readonly CanonicalValue[]) => {
        table.put(Object.fromEntries(names.map((n, i) => [n, row[i] ?? null])));
      };
      for (const row of fixture.rows) await put(row);
      return { connector: new MemoryConnector(table, { pushdown, ordered }), put, dispose: async () => {} };
    },
  };
}

/** Memory connector with range checksums (pushdown). */
export const memoryFactory = makeMemoryFactory("memory", true);
/** Memory connector without pushdown: detection must stream and merge. */
export const memoryStreamingFactory = makeMemoryFactory("memory-streaming", false);
/** Memory connector behaving like a hash store: no key order (detection partitions by key hash). */
export const memoryUnorderedFactory = makeMemoryFactory("memory-unordered", false, false);

/** Declared SQLite types; `sqliteLogicalType` must read each back as the logical type. */
const SQLITE_TYPES: Record<ColumnType, string> = {
  integer: "INTEGER",
  decimal: "DECIMAL(18,6)",
  float: "REAL",
  // SQLite has no 32-bit float: REAL holds any float32 exactly (read back as float, not float32).
  float32: "REAL",
  boolean: "BOOLEAN",
  text: "TEXT",
  timestamp: "TIMESTAMP",
  time: "TIME",
  json: "JSON",
  bytes: "BLOB",
};

/** The value an application would store natively in SQLite for a canonical value. */
function sqliteNative(type: ColumnType, v: CanonicalValue): unknown {
  if (v === null) return null;
  switch (type) {
    case "integer":
      return BigInt(v);
    case "float":
      return Number(v);
    case "boolean":
      return v === "t" ? 1 : 0;
    case "bytes":
      return Buffer.from(v, "hex");
    default:
      // Decimals go in as text: NUMERIC affinity stores them as the store's own numbers.
      return v;
  }
}

function makeSqliteFactory(name: string, inMemory: boolean): ConnectorFactory {
  return {
    name,
    capabilities: {
      pushdown: true,
      ordered: true,
      optional: ["keyBounds", "pushdownLimits", "pairDiff"],
      // SQLite keeps DECIMAL fractions as 64-bit floats, and timestamps as text or numbers of any precision.
      columnFacts: { fractionalDigits: undefined, exactDecimal: false },
    },
    create: (fixture) => createSqliteTable(fixture, inMemory),
  };
}

async function createSqliteTable(fixture: TableFixture, inMemory: boolean): Promise<StoreTable> {
  const dir = inMemory ? null : mkdtempSync(join(tmpdir(), "concord-conformance-"));
  const db = new Database(dir ? join(dir, "replica.db") : ":memory:");
  const all = [...fixture.key, ...fixture.columns];
  const columnsSql = all.map(
    (c, i) =>
      `${quoteIdent(c.name)} ${SQLITE_TYPES[c.type]}${i < fixture.key.length && keyNotNull(fixture) ? " NOT NULL" : ""}`,
  );
  const key = keyClause(
    fixture,
    fixture.key.map((c) => quoteIdent(c.name)),
    "items",
  );
  db.exec(`CREATE TABLE "items" (${columnsSql.join(", ")}${key})`);
  const upsert = db.prepare(
    `INSERT OR REPLACE INTO "items" (${all.map((c) => quoteIdent(c.name)).join(", ")}) VALUES (${all.map(() => "?").join(", ")})`,
  );
  const put = (row: readonly CanonicalValue[]) => {
    upsert.run(...all.map((c, i) => sqliteNative(c.type, row[i] ?? null)));
  };
  db.transaction(() => {
    for (const row of fixture.rows) put(row);
  })();
  const connector = new SqliteConnector(db, "items", { label: "conformance" });
  return {
    connector,
    put: async (row) => put(row),
    async dispose() {
      await connector.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SQLite connector over a table in a fresh database file under the OS temp directory. */
export const sqliteFactory = makeSqliteFactory("sqlite", false);
/** The same in an in-memory database, for the many small tables of property tests (file syncs would dominate). */
export const sqliteInMemoryFactory = makeSqliteFactory("sqlite-in-memory", true);

/** The JSON value an application would store in a Redis JSON document for a canonical value. */
function jsonNative(type: ColumnType, v: CanonicalValue): unknown {
  if (v === null) return null;
  switch (type) {
    case "integer":
      return Number.isSafeInteger(Number(v)) ? Number(v) : v;
    case "decimal":
    case "float":
      return Number.isFinite(Number(v)) && String(Number(v)) === v ? Number(v) : v;
    case "boolean":
      return v === "t";
    case "json":
      return JSON.parse(v);
    default:
      return v;
  }
}

/**
 * Redis records under a fresh prefix in the test database (CONCORD_TEST_REDIS_URL), written as an
 * application would: hashes of text fields (booleans as "true"/"false", a null column as no field), or
 * JSON objects with native numbers and booleans (a null json column absent, JSON null as null).
 */
function makeRedisFactory(name: string, format: RedisFormat): ConnectorFactory {
  return {
    name,
    available: () => serviceAvailable(REDIS),
    capabilities: {
      pushdown: false,
      ordered: false,
      optional: ["estimateCount"],
      columnFacts: { fractionalDigits: undefined, exactDecimal: true },
    },
    skip: [
      UNIQUE_BY_CONSTRUCTION,
      { reason: "schemaless: describe samples untyped fields only", tests: ["declarations/column-facts"] },
    ],
    async create(fixture) {
      const test = createRedisTestPrefix(name);
      const keys = new RedisKeyCodec(test.prefix, fixture.key.length);
      const all = [...fixture.key, ...fixture.columns];
      const write = (p: ChainableCommander, row: readonly CanonicalValue[]) => {
        const name = keys.encode(row.slice(0, fixture.key.length) as string[]);
        p.del(name);
        if (format === "hash") {
          const fields: string[] = [];
          all.forEach((c, i) => {
            const v = row[i] ?? null;
            if (v !== null) fields.push(c.name, c.type === "boolean" ? (v === "t" ? "true" : "false") : v);
          });
          p.hset(name, ...fields);
        } else {
          const doc: Record<string, unknown> = {};
          all.forEach((c, i) => {
            const v = row[i] ?? null;
            if (!(c.type === "json" && v === null)) doc[c.name] = jsonNative(c.type, v);
          });
          p.set(name, JSON.stringify(doc));
        }
      };
      const load = test.admin.pipeline();
      for (const row of fixture.rows) write(load, row);
      await load.exec();
      return {
        connector: await test.open({ format }),
        async put(row) {
          const p = test.admin.pipeline();
          write(p, row);
          await p.exec();
        },
        dispose: () => test.drop(),
      };
    },
  };
}

/** Redis hashes, one field per column. */
export const redisHashFactory = makeRedisFactory("redis-hash", "hash");
/** Redis strings holding one JSON object per record. */
export const redisJsonFactory = makeRedisFactory("redis-json", "json");

/** Every connector the conformance suite runs against. Server stores append their factories here. */
export const connectorFactories: readonly ConnectorFactory[] = [
  memoryFactory,
  memoryUnorderedFactory,
  sqliteFactory,
  redisHashFactory,
  redisJsonFactory,
  mysqlFactory,
  mysqlPadCollationFactory,
  postgresFactory,
  postgresDefaultCollationFactory,
];
