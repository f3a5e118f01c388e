/**
 * A PostgreSQL → MariaDB pair of equal `items (id, name)` tables for the watched-dataset tests, a scratch
 * folder, and a drop that also removes what watching left on PostgreSQL: the feeds' replication slots and
 * publications (named after the schema) and a PostgreSQL state schema `<schema>_state`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "./mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "./postgres-test-schema.js";

export interface WatchedItems {
  readonly pg: PostgresTestSchema;
  readonly my: MysqlTestDatabase;
  /** A scratch folder (configs, SQLite state), removed by `drop`. */
  readonly dir: string;
  drop(): Promise<void>;
}

/** `rows` rows (`item <id>`, ids 1..rows) on both sides; `folder` prefixes the scratch folder's name. */
export async function createWatchedItems(rows: number, folder: string): Promise<WatchedItems> {
  const pg = await createPostgresTestSchema();
  const my = await createMysqlTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), folder));
  await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL)`);
  await pg.admin.query(
    `INSERT INTO ${pg.table("items")} SELECT i, 'item ' || i FROM generate_series(1, ${rows}) i`,
  );
  await my.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
  const ids = Array.from({ length: rows }, (_, i) => i + 1);
  await my.admin.query("INSERT INTO items (id, name) VALUES ?", [ids.map((i) => [i, `item ${i}`])]);
  return {
    pg,
    my,
    dir,
    async drop() {
      await pg.admin.query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
          WHERE slot_name LIKE $1 AND NOT active`,
        [`concord_${pg.name}%`],
      );
      const pubs = await pg.admin.query<{ pubname: string }>(
        "SELECT pubname FROM pg_publication WHERE pubname LIKE $1",
        [`concord_${pg.name}%`],
      );
      for (const { pubname } of pubs.rows) await pg.admin.query(`DROP PUBLICATION "${pubname}"`);
      await pg.admin.query(`DROP SCHEMA IF EXISTS "${pg.name}_state" CASCADE`);
      await pg.drop();
      await my.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
