/**
 * `concord watch` end to end on the real servers: a write to PostgreSQL that skipped the MariaDB and Redis
 * replicas is repaired and verified seconds later (observed through the replicas and the ledger, never by
 * timing), a stray record written only to the watched Redis replica is deleted, a feed that cannot start is
 * one line naming the setting, and `--drop` removes the slot and the publication.
 */
import { Writable } from "node:stream";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { runWatch } from "../../src/cli/watch.js";
import { ledgerRows, query, tempDir, waitFor, writeConfig } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";

const up =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

/** A stream that keeps what is written to it. */
function sink(): Writable & { text(): string } {
  let text = "";
  const w = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => text });
}

describe.skipIf(!up)("concord watch: PostgreSQL → MariaDB and Redis", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let cache: RedisTestPrefix;
  let redis: Redis;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    cache = createRedisTestPrefix("watch");
    redis = new Redis(REDIS.url);
    await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
  });
  afterAll(async () => {
    // A slot left behind would hold WAL forever: whatever the test did, none of ours survives it.
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
    await pg.drop();
    await my.drop();
    await cache.drop();
    redis.disconnect();
  });

  const config = (dir: string, dataset: string, watch = "[pg, cache]") =>
    writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  ${dataset}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
      cache: { url: "${REDIS.url}", prefix: "${cache.prefix}" }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: ${watch}, batch: 50ms }
`,
    );

  it("repairs and verifies a write that skipped the replicas, and deletes a record only the cache holds", async () => {
    const dir = tempDir();
    const dataset = pg.name;
    const cfg = config(dir, dataset);
    const stdout = sink();
    const stderr = sink();
    const stop = new AbortController();
    const watching = runWatch({ config: cfg }, { stdout, stderr, env: {}, cwd: dir }, stop.signal);
    try {
      await waitFor(() => (stderr.text().match(/watching from now/g) ?? []).length === 2, 30_000);

      // The application writes to PostgreSQL; its replication to MariaDB and Redis "lost" the write.
      await pg.admin.query(`INSERT INTO ${pg.table("items")} VALUES (1, 'alpha'), (2, 'beta')`);
      // And someone wrote a record to the cache that the owner never had.
      await redis.hset(`${cache.prefix}77`, "name", "stray");

      const mariaRows = async () =>
        (await my.admin.query("SELECT id, name FROM items ORDER BY id"))[0] as { id: number; name: string }[];
      let rows: { id: number; name: string }[] = [];
      await waitForAsync(async () => {
        rows = await mariaRows();
        return rows.length === 2 && (await redis.exists(`${cache.prefix}1`, `${cache.prefix}2`)) === 2;
      });
      expect(rows).toEqual([
        { id: 1, name: "alpha" },
        { id: 2, name: "beta" },
      ]);
      expect(await redis.hgetall(`${cache.prefix}2`)).toEqual({ id: "2", name: "beta" });
      await waitForAsync(async () => (await redis.exists(`${cache.prefix}77`)) === 0);

      // Every write was verified and audited by a `watch` run. A check records its outcomes, and reports, after
      // its writes are visible (and the cache's check may finish before pg's): wait for all five, then the line.
      const applied = () =>
        ledgerRows(`${dir}/state.db`)
          .filter((e) => e.outcome === "applied")
          .map((e) => `${e.target}:${e.key}`);
      await waitFor(() => applied().length >= 5, 30_000);
      expect(applied().sort()).toEqual([
        'cache:["1"]',
        'cache:["2"]',
        'cache:["77"]',
        'maria:["1"]',
        'maria:["2"]',
      ]);
      const runs = query<{ command: string }>(`${dir}/state.db`, "SELECT DISTINCT command FROM runs");
      expect(runs.map((r) => r.command)).toEqual(["watch"]);
      await waitFor(() => stdout.text().includes(`${dataset}: 2 keys changed on pg checked`), 30_000);
      expect(stdout.text()).toMatch(
        new RegExp(
          `^${dataset}: 2 keys changed on pg checked in \\d+ ms: 2 divergent; repairs applied 4`,
          "m",
        ),
      );

      // An update is propagated the same way.
      await pg.admin.query(`UPDATE ${pg.table("items")} SET name = 'ALPHA' WHERE id = 1`);
      await waitForAsync(async () => (await mariaRows())[0]?.name === "ALPHA");
      await waitForAsync(async () => (await redis.hget(`${cache.prefix}1`, "name")) === "ALPHA");
    } finally {
      stop.abort();
    }
    expect(await watching).toBe(0);

    // --drop removes the slot and the publication (and forgets the positions and the segment summary).
    const db = new Database(`${dir}/state.db`);
    db.prepare("INSERT INTO segment_summaries (dataset, key_columns, bounds) VALUES (?, '[]', '[]')").run(
      dataset,
    );
    db.prepare("INSERT INTO dirty_segments (dataset, segment, marked_at) VALUES (?, 0, 1)").run(dataset);
    db.close();
    const out = sink();
    expect(
      await main(["node", "concord", "watch", "--drop", "-c", cfg], {
        stdout: out,
        stderr,
        env: {},
        cwd: dir,
      }),
    ).toBe(0);
    expect(out.text()).toBe(`${dataset}.pg: change feed dropped\n${dataset}.cache: change feed dropped\n`);
    const slots = await pg.admin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE $1", [
      `concord_${pg.name}%`,
    ]);
    expect(slots.rowCount).toBe(0);
    const pubs = await pg.admin.query("SELECT 1 FROM pg_publication WHERE pubname LIKE $1", [
      `concord_${pg.name}%`,
    ]);
    expect(pubs.rowCount).toBe(0);
    expect(query(`${dir}/state.db`, "SELECT * FROM feed_positions")).toEqual([]);
    expect(query(`${dir}/state.db`, "SELECT * FROM segment_summaries")).toEqual([]);
    expect(query(`${dir}/state.db`, "SELECT * FROM dirty_segments")).toEqual([]);
  });

  it("a feed that cannot start ends the command with one line naming the setting (exit 2)", async () => {
    await pg.admin.query(`CREATE TABLE ${pg.table("coded")} (id bigint PRIMARY KEY, code text NOT NULL)`);
    const dir = tempDir();
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
  coded:
    key: code
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("coded")} }
      maria: { url: "${my.url}", table: items }
    watch: { replicas: [pg] }
`,
    );
    const stdout = sink();
    const stderr = sink();
    const code = await main(["node", "concord", "watch", "-c", cfg], { stdout, stderr, env: {}, cwd: dir });
    expect(code).toBe(2);
    expect(stderr.text()).toMatch(
      /^concord: postgres replica 'coded\.pg': table .*coded's replica identity does not include code, .*REPLICA IDENTITY FULL.*\n$/,
    );
    expect(stdout.text()).toBe("");
    await main(["node", "concord", "watch", "--drop", "-c", cfg], { stdout, stderr, env: {}, cwd: dir });
  });
});

/** Polls an async condition until it holds (the test's timeout bounds it). */
async function waitForAsync(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 50));
}
