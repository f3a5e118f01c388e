/**
 * `concord watch` killed mid-stream loses no change: a process is killed (SIGKILL) while it works through a
 * burst of writes, more writes land while nothing watches, and a new process started on the same state
 * store brings every replica level. Feeds of all four stores: PostgreSQL and MariaDB resume at their stored
 * positions, SQLite at its change table, Redis (which keeps no history) by a whole pass.
 */
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import type mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";
import {
  query,
  runConcord,
  type SpawnOptions,
  spawnConcord,
  tempDir,
  waitFor,
  writeConfig,
} from "./helpers.js";

const up =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

const TABLE = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)";

describe.skipIf(!up)("concord watch: kill -9 mid-stream, write more, restart", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let cache: RedisTestPrefix;
  let redis: Redis;
  let myPool: mysql.Pool;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    cache = createRedisTestPrefix("resume");
    redis = new Redis(REDIS.url);
    myPool = my.pool(2);
  });
  afterAll(async () => {
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
    await myPool.end();
    await my.drop();
    await cache.drop();
    redis.disconnect();
  });

  /**
   * Per case its own tables, copies and state store: dataset names carry `tag`, so feeds (slots, triggers)
   * are the case's own.
   */
  async function fixture(tag: string, onTestFinished: SpawnOptions["onTestFinished"]) {
    const table = `items${tag}`;
    await pg.admin.query(`CREATE TABLE ${pg.table(table)} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, name TEXT NOT NULL)`);
    const prefix = `${cache.prefix}${tag}:`;
    const dir = tempDir(onTestFinished);
    for (const f of ["from-pg", "from-maria", "from-redis", "lite-source", "from-lite"]) {
      const db = new Database(`${dir}/${f}.db`);
      db.exec(TABLE);
      db.close();
    }
    const ds = (name: string, owner: string, source: string, copy: string) => `  ${name}:
    key: id
    replicas:
      ${owner}: ${source}
      copy: { url: "sqlite:${copy}.db", table: items }
    policy: { owner: ${owner}, resolve: owner }
    watch: { replicas: [${owner}], batch: 20ms, maxKeys: 50 }
`;
    const names = {
      pg: `${pg.name}${tag}`,
      maria: `myset${tag}`,
      redis: `redisset${tag}`,
      lite: `liteset${tag}`,
    };
    const cfg = writeConfig(
      dir,
      `state: sqlite:state.db
datasets:
${ds(names.pg, "pg", `{ url: "${POSTGRES.url}", table: ${pg.table(table)} }`, "from-pg")}${ds(
  names.maria,
  "maria",
  `{ url: "${my.url}", table: ${table} }`,
  "from-maria",
)}${ds(names.redis, "cache", `{ url: "${REDIS.url}", prefix: "${prefix}" }`, "from-redis")}${ds(
  names.lite,
  "lite",
  `{ url: "sqlite:lite-source.db", table: items }`,
  "from-lite",
)}`,
    );
    const lite = new Database(`${dir}/lite-source.db`);
    const write = async (from: number, to: number) => {
      for (let id = from; id <= to; id++) {
        const name = `n${id}`;
        await pg.admin.query(`INSERT INTO ${pg.table(table)} VALUES ($1, $2)`, [id, name]);
        await myPool.query(`INSERT INTO ${table} VALUES (?, ?)`, [id, name]);
        await redis.hset(`${prefix}${id}`, "id", String(id), "name", name);
        lite.prepare("INSERT INTO items VALUES (?, ?)").run(id, name);
      }
    };
    const copies = ["from-pg", "from-maria", "from-redis", "from-lite"];
    const counts = () =>
      copies.map((c) => query<{ n: number }>(`${dir}/${c}.db`, "SELECT count(*) AS n FROM items")[0]!.n);
    /**
     * Runs a new `concord watch` until every copy holds `rows` rows and the copy of the PostgreSQL source holds
     * its row 3 as 'changed', then stops it (SIGTERM, exit 0); its output.
     */
    const watchUntilLevel = async (rows: number) => {
      const watcher = spawnConcord(["watch", "-c", cfg], { cwd: dir, onTestFinished });
      try {
        await waitFor(() => counts().every((n) => n === rows), 90_000, 200);
        await waitFor(
          () =>
            query<{ name: string }>(`${dir}/from-pg.db`, "SELECT name FROM items WHERE id = 3")[0]?.name ===
            "changed",
          30_000,
          200,
        );
      } finally {
        watcher.child.kill("SIGTERM");
      }
      const stopped = await watcher.done;
      expect(stopped.code).toBe(0);
      return stopped;
    };
    return { dir, cfg, table, names, lite, write, counts, watchUntilLevel };
  }

  it("a restarted watcher brings every replica level with what was written before and during the outage", async ({
    onTestFinished,
  }) => {
    const { dir, cfg, table, names, lite, write, counts, watchUntilLevel } = await fixture(
      "",
      onTestFinished,
    );
    const first = spawnConcord(["watch", "-c", cfg], { cwd: dir, onTestFinished });
    let out = "";
    first.child.stdout!.on("data", (s: string) => {
      out += s;
    });
    await first.untilStderr(/(watching from now[\s\S]*){4}/);
    await write(1, 150);
    // Killed while it works through the burst: some keys were checked, others not yet.
    await waitFor(() => /checked/.test(out), 60_000);
    first.child.kill("SIGKILL");
    const killed = await first.done;
    expect(killed.signal).toBe("SIGKILL");
    expect(counts().some((n) => n < 150)).toBe(true);

    // Written while nothing watches.
    await write(151, 200);
    await pg.admin.query(`UPDATE ${pg.table(table)} SET name = 'changed' WHERE id = 3`);

    const stopped = await watchUntilLevel(200);
    // Redis resumed through a whole pass, the others at their positions.
    expect(stopped.stdout).toMatch(
      new RegExp(`^${names.redis}: whole pass \\(keyspace notifications are not kept`, "m"),
    );
    expect(stopped.stdout).not.toMatch(
      new RegExp(`^(${names.pg}|${names.maria}|${names.lite}): whole pass`, "m"),
    );
    lite.close();

    // Every copy now agrees with its source.
    const scan = await runConcord(["scan", "-c", cfg], { cwd: dir });
    expect(scan.code).toBe(0);

    const dropped = await runConcord(["watch", "--drop", "-c", cfg], { cwd: dir });
    expect(dropped.code).toBe(0);
    const slots = await pg.admin.query("SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE $1", [
      `concord_${pg.name}%`,
    ]);
    expect(slots.rowCount).toBe(0);
  });

  it("a watcher killed before its first check resumes where it first started, not at a later end", async ({
    onTestFinished,
  }) => {
    const { dir, cfg, table, names, lite, write, watchUntilLevel } = await fixture("_early", onTestFinished);
    const first = spawnConcord(["watch", "-c", cfg], { cwd: dir, onTestFinished });
    await first.untilStderr(/(watching from now[\s\S]*){4}/);
    // Killed before any change came: nothing was checked, so only the position it began at was stored.
    first.child.kill("SIGKILL");
    expect((await first.done).signal).toBe("SIGKILL");

    await write(1, 60);
    await pg.admin.query(`UPDATE ${pg.table(table)} SET name = 'changed' WHERE id = 3`);

    const stopped = await watchUntilLevel(60);
    // Each feed resumed at the position its first start stored; none started "from now" again.
    for (const name of [names.pg, names.maria, names.lite, names.redis])
      expect(stopped.stderr).toMatch(new RegExp(`${name}\\.\\w+: watching from (?!now)`));
    // The three that keep history delivered the changes as keys; Redis (none kept) through a whole pass.
    expect(stopped.stdout).not.toMatch(
      new RegExp(`^(${names.pg}|${names.maria}|${names.lite}): whole pass`, "m"),
    );
    expect(stopped.stdout).toMatch(new RegExp(`^${names.redis}: whole pass`, "m"));
    lite.close();
    expect((await runConcord(["watch", "--drop", "-c", cfg], { cwd: dir })).code).toBe(0);
  });
});
