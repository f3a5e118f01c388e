/**
 * `timeouts.query` bounds silence, not duration: a statement the server is still working on (here a
 * conditional write waiting for a row lock another client holds) runs past several silence windows,
 * because the SQL connectors ask the server, on a connection of their own, whether it is still running
 * the statement before giving up on it.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { runConcord, tempDir } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";
import { faultConfig, items } from "./fault-stores.js";

const pgUp = await serviceAvailable(POSTGRES);
const myUp = await serviceAvailable(MYSQL);

const ROWS = 200;
const NEWER = 50;
/** How long the lock is held: three times the silence deadline the config sets (1 s). */
const HOLD_MS = 3000;

/** A lock holder: runs `lock` in a transaction, then commits after HOLD_MS. */
interface Locker {
  lock(): Promise<void>;
  release(): Promise<void>;
}

async function expectWaitsForLock(
  dir: string,
  replica: string,
  locker: Locker,
  expect: typeof import("vitest")["expect"],
): Promise<void> {
  const config = faultConfig(dir, replica, items(ROWS, NEWER));
  // Everything but the write first (the first in-process run also loads the CLI's modules).
  expect((await runConcord(["scan", "-c", config])).code).toBe(1);
  await locker.lock();
  const released = new Promise<void>((resolve) =>
    setTimeout(() => {
      void locker.release().then(resolve);
    }, HOLD_MS),
  );
  const started = Date.now();
  const r = await runConcord(["repair", "-c", config]);
  const took = Date.now() - started;
  await released;
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  // It did wait for the lock, through several silence windows.
  expect(took).toBeGreaterThanOrEqual(HOLD_MS - 500);
}

describe.skipIf(!pgUp)("a PostgreSQL write waiting on a lock longer than timeouts.query", () => {
  let db: PostgresTestSchema;
  beforeAll(async () => {
    db = await createPostgresTestSchema();
    await db.admin.query(
      `CREATE TABLE ${db.table("items")} (id bigint PRIMARY KEY, name text NOT NULL, version bigint NOT NULL)`,
    );
    await db.admin.query(
      `INSERT INTO ${db.table("items")} SELECT g, 'item ' || g, 1 FROM generate_series(1, ${ROWS}) g`,
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("is not given up while the server reports it running; it completes once the lock is released", async ({
    expect,
    onTestFinished,
  }) => {
    const holder = await db.admin.connect();
    onTestFinished(() => holder.release());
    await expectWaitsForLock(
      tempDir(onTestFinished),
      `{ url: "${POSTGRES.url}", table: "${db.table("items")}" }`,
      {
        lock: async () => {
          await holder.query("BEGIN");
          await holder.query(`SELECT * FROM ${db.table("items")} WHERE id = 1 FOR UPDATE`);
        },
        release: async () => {
          await holder.query("COMMIT");
        },
      },
      expect,
    );
  });
});

describe.skipIf(!myUp)("a MariaDB/MySQL write waiting on a lock longer than timeouts.query", () => {
  let db: MysqlTestDatabase;
  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query(
      "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, version BIGINT NOT NULL)",
    );
    await db.admin.query("INSERT INTO items VALUES ?", [items(ROWS).map((r) => [r.id, r.name, r.version])]);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("is not given up while the server reports it running; it completes once the lock is released", async ({
    expect,
    onTestFinished,
  }) => {
    const holder = await db.admin.getConnection();
    onTestFinished(() => holder.release());
    await expectWaitsForLock(
      tempDir(onTestFinished),
      `{ url: "${db.url}", table: items }`,
      {
        lock: async () => {
          await holder.query("START TRANSACTION");
          await holder.query("SELECT * FROM items WHERE id = 1 FOR UPDATE");
        },
        release: async () => {
          await holder.query("COMMIT");
        },
      },
      expect,
    );
  });
});
