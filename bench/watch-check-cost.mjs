/**
 * What one targeted check costs Concord's process, by batch size: runDataset's key form (as `concord watch`
 * runs it for a batch: the replicas' description and row counts reused, mode repair, no divergence), in
 * process, CPU from process.cpuUsage, so the fixed cost of a check and the cost of a key can be told apart
 * without the change stream. PostgreSQL → MariaDB and Redis, as bench/feeds.mjs.
 *
 * Usage: npm run build && taskset -c 1 node bench/watch-check-cost.mjs [root=.] [rows=20000]
 *   BENCH_CHECK_NAME=concord_bench_check (prefix of the schema, database and Redis keys it creates and drops)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";

const root = resolve(process.argv[2] ?? ".");
const ROWS = Number(process.argv[3] ?? 20000);
const { loadConfig } = await import(`${root}/dist/config/load-config.js`);
const { openStateStore } = await import(`${root}/dist/state/open-state-store.js`);
const { openConnector } = await import(`${root}/dist/connectors/open-connector.js`);
const { runDataset } = await import(`${root}/dist/engine/run-dataset.js`);
const NAME = `${process.env.BENCH_CHECK_NAME ?? "concord_bench_check"}_${process.pid}`;
const pgc = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/test" });
await pgc.connect();
const my = await mysql.createConnection({ uri: "mysql://root@127.0.0.1:3306" });
const redis = new Redis("redis://127.0.0.1:6379/14");
const dir = mkdtempSync(join(tmpdir(), "concord-bench-check-"));
try {
  await pgc.query(`CREATE SCHEMA ${NAME}; CREATE TABLE ${NAME}.items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL);
    INSERT INTO ${NAME}.items SELECT g, 'item ' || g, 0 FROM generate_series(1, ${ROWS}) g`);
  await my.query(`CREATE DATABASE ${NAME}`);
  await my.query(`CREATE TABLE ${NAME}.items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL)`);
  await my.query(
    `INSERT INTO ${NAME}.items SELECT seq, CONCAT('item ', seq), 0 FROM ${NAME}.seq_1_to_${ROWS}`,
  );
  const p = redis.pipeline();
  for (let id = 1; id <= ROWS; id++)
    p.hset(`${NAME}:${id}`, "id", String(id), "name", `item ${id}`, "n", "0");
  await p.exec();
  const cfg = join(dir, "c.yaml");
  writeFileSync(
    cfg,
    `state: sqlite:${join(dir, "state.db")}
datasets:
  d:
    key: id
    replicas:
      pg: { url: "postgres://postgres@127.0.0.1:5432/test", table: ${NAME}.items }
      maria: { url: "mysql://root@127.0.0.1:3306/${NAME}", table: items }
      cache: { url: "redis://127.0.0.1:6379/14", prefix: "${NAME}:" }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 200ms }
`,
  );
  const config = loadConfig(cfg);
  const ds = config.datasets.find((d) => d.name === "d");
  const state = await openStateStore(config.state);
  const replicas = [];
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
  let run = 0;
  let basis;
  const check = async (n) => {
    const keys = Array.from({ length: n }, () => [String(1 + Math.floor(Math.random() * ROWS))]);
    const r = await runDataset(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: `r${process.pid}-${run++}`,
        command: "watch",
        mode: "repair",
        keys,
        ...(basis ? { described: basis } : {}),
        keyRows: { pg: ROWS, maria: ROWS, cache: ROWS },
      },
    );
    basis ??= r.resolved;
  };
  for (let i = 0; i < 20; i++) await check(50);
  for (const [n, reps] of [
    [1, 200],
    [50, 200],
    [1, 200],
    [50, 200],
  ]) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await check(n);
    const c = process.cpuUsage(c0);
    console.log(
      `keys ${n}: ${((c.user + c.system) / reps / 1000).toFixed(2)} ms CPU a check (user ${(c.user / reps / 1000).toFixed(2)}, sys ${(c.system / reps / 1000).toFixed(2)}), wall ${((performance.now() - t0) / reps).toFixed(1)} ms`,
    );
  }
  for (const r of replicas) await r.connector.close();
  await state.close();
} finally {
  await pgc.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`);
  await pgc.end();
  await my.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await my.end();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${NAME}:*`, "COUNT", 10000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== "0");
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
