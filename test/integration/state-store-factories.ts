/** Test state stores: one factory per StateStore implementation, each giving a fresh, empty store. Tests only. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { PostgresStateStore } from "../../src/state/postgres/postgres-state-store.js";
import { SqliteStateStore } from "../../src/state/sqlite/sqlite-state-store.js";
import type { StateStore } from "../../src/state/state-store.js";
import { POSTGRES, serviceAvailable, TEST_PREFIX } from "../support/services.js";

/** A fresh, empty state location (a file, a schema) and the ways a test reaches it. */
export interface StateStoreFixture {
  /** A new store over the location, as another process would open it (for a server: its own pool). */
  open(): Promise<StateStore>;
  /**
   * Runs SQL behind the stores' backs, tables named without a schema, and returns the rows of the last
   * statement (none for statements that return none). Several statements may be separated by `;`.
   */
  sql(text: string): Promise<Record<string, unknown>[]>;
  /** Closes every store opened and removes the location. */
  dispose(): Promise<void>;
}

/** Adding a store to the conformance suite means adding one of these. */
export interface StateStoreFactory {
  readonly name: string;
  /** Whether the store can be tested here (a server store needs its server: see test/support/services.ts). */
  available(): Promise<boolean>;
  create(): Promise<StateStoreFixture>;
}

export const sqliteFactory: StateStoreFactory = {
  name: "SQLite",
  available: async () => true,
  async create() {
    const dir = mkdtempSync(join(tmpdir(), "concord-state-"));
    const path = join(dir, "state.db");
    const opened: StateStore[] = [];
    return {
      async open() {
        const store = SqliteStateStore.open(path);
        opened.push(store);
        return store;
      },
      async sql(text) {
        const db = new Database(path);
        try {
          if (/^\s*SELECT\b/i.test(text)) return db.prepare(text).all() as Record<string, unknown>[];
          db.exec(text);
          return [];
        } finally {
          db.close();
        }
      },
      async dispose() {
        for (const s of opened.splice(0)) await s.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** Every schema this test process creates starts with this, so that leftovers are easy to find and drop. */
export const PG_SCHEMA_PREFIX = `${TEST_PREFIX}_${process.pid}_${Date.now().toString(36)}`;
let schemas = 0;

/** The test server's URL with `?schema=` (or `&schema=`) appended. */
export function postgresUrl(schema: string): string {
  return `${POSTGRES.url}${POSTGRES.url.includes("?") ? "&" : "?"}schema=${encodeURIComponent(schema)}`;
}

/** Runs `text` on a connection of its own with `schema` first on the search path. */
export async function postgresSql(schema: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: POSTGRES.url });
  await client.connect();
  try {
    await client.query(`SET search_path TO ${client.escapeIdentifier(schema)}`);
    const result = (await client.query(text)) as pg.QueryResult | pg.QueryResult[];
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return (last?.rows ?? []) as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** Drops `schema` and everything in it. */
export async function dropPostgresSchema(schema: string): Promise<void> {
  await postgresSql("public", `DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}

/** A schema of its own per fixture, each store with a pool of its own, the schema dropped on dispose. */
export const postgresFactory: StateStoreFactory = {
  name: "PostgreSQL",
  available: () => serviceAvailable(POSTGRES),
  async create() {
    const schema = `${PG_SCHEMA_PREFIX}_${++schemas}`;
    const opened: StateStore[] = [];
    return {
      async open() {
        const store = await PostgresStateStore.open(postgresUrl(schema));
        opened.push(store);
        return store;
      },
      sql: (text) => postgresSql(schema, text),
      async dispose() {
        for (const s of opened.splice(0)) await s.close();
        await dropPostgresSchema(schema);
      },
    };
  },
};

export const stateStoreFactories: readonly StateStoreFactory[] = [sqliteFactory, postgresFactory];
