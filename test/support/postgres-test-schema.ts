/** A PostgreSQL schema of its own for one test file: created on first use, dropped at the end. Tests only. */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { POSTGRES, TEST_PREFIX } from "./services.js";

export interface PostgresTestSchema {
  /** The schema's name (unique per process and run). */
  readonly name: string;
  /** A pool for setting up tables and writing as "someone else". */
  readonly admin: pg.Pool;
  /** A new pool (the caller ends it, or hands it to a connector that does), as an application would. */
  pool(max?: number): pg.Pool;
  /** `name.table`, for connectors. */
  table(table: string): string;
  /** Drops the schema with everything in it and ends the admin pool. */
  drop(): Promise<void>;
}

/** Creates `<TEST_PREFIX>_<pid>_<random>` on the test server (CONCORD_TEST_PG_URL). */
export async function createPostgresTestSchema(): Promise<PostgresTestSchema> {
  const name = `${TEST_PREFIX}_${process.pid}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Pool({ connectionString: POSTGRES.url, max: 4 });
  await admin.query(`CREATE SCHEMA "${name}"`);
  return {
    name,
    admin,
    pool: (max = 4) => new pg.Pool({ connectionString: POSTGRES.url, max }),
    table: (table) => `${name}.${table}`,
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await admin.end();
    },
  };
}

/**
 * A config over `schema.items_a` (owner) and `schema.items_b` on the test server, counter versions, state in
 * `state.db` beside it; `writesPerSecond` limits the repairs' write rate when given. Tests only.
 */
export function pgItemsConfig(schema: string, writesPerSecond?: number): string {
  const url = JSON.stringify(POSTGRES.url);
  return `state: sqlite:state.db
datasets:
  items:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: ${url}, table: "${schema}.items_a" }
      b: { url: ${url}, table: "${schema}.items_b" }
    policy:
      owner: a
      resolve: highest-version
${writesPerSecond !== undefined ? `      limits: { writesPerSecond: ${writesPerSecond} }\n` : ""}`;
}
