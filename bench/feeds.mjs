/**
 * Change-feed benchmark: how soon a lost write is repaired and verified, and what watching costs.
 *
 * Usage: npm run build && node bench/feeds.mjs
 *   BENCH_FEED_ROWS=20000 BENCH_FEED_RATE=200 BENCH_FEED_SECONDS=30 BENCH_FEED_LOSS=0.01
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306
 *   BENCH_REDIS_URL=redis://127.0.0.1:6379/14
 *
 * A table of BENCH_FEED_ROWS rows in PostgreSQL (the owner), copied to MariaDB and to Redis (hashes). A
 * steady writer updates random rows at BENCH_FEED_RATE writes/s for BENCH_FEED_SECONDS; it applies each
 * write to PostgreSQL and then, standing in for replication, to MariaDB and Redis — except a fraction
 * BENCH_FEED_LOSS of them, which it never copies (a lossy replication). `concord watch` runs as a separate
 * process on the PostgreSQL feed (`window: 0s`, `batch: 50ms`). Reported:
 *   - lost write → verified repair: from the PostgreSQL commit of a lost write until both replicas hold it
 *     (polled every 10 ms, so figures are up to 10 ms late), p50 / p99 / max;
 *   - Concord's CPU over the steady phase (from /proc: user + system time / wall time), % of one core;
 *   - the writer's throughput unthrottled for 5 s, without and with `concord watch` running (ratio).
 * Everything the benchmark creates (schema, database, keys, the slot) is dropped at the end.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROWS = Number(process.env.BENCH_FEED_ROWS ?? 20_000);
const RATE = Number(process.env.BENCH_FEED_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_FEED_SECONDS ?? 30);
const LOSS = Number(process.env.BENCH_FEED_LOSS ?? 0.01);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/14";
const NAME = `concord_bench_feed_${process.pid}`;
const PREFIX = `${NAME}:`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

const pgPool = new pg.Pool({ connectionString: PG_URL, max: 4 });
const server = await mysql.createConnection({ uri: MYSQL_URL });
await server.query(`CREATE DATABASE ${NAME}`);
await server.end();
const myUrl = `${MYSQL_URL.replace(/\/$/, "")}/${NAME}`;
const my = mysql.createPool({ uri: myUrl, connectionLimit: 4 });
const redis = new Redis(REDIS_URL);
const dir = mkdtempSync(join(tmpdir(), "concord-bench-feed-"));
let concord;

try {
  console.log(`setting up ${ROWS} rows in PostgreSQL, MariaDB and Redis…`);
  await pgPool.query(`CREATE SCHEMA ${NAME}`);
  await pgPool.query(
    `CREATE TABLE ${NAME}.items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL)`,
  );
  await pgPool.query(
    `INSERT INTO ${NAME}.items SELECT g, 'item ' || g, 0 FROM generate_series(1, ${ROWS}) g`,
  );
  await my.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL)");
  for (let from = 1; from <= ROWS; from += 5000) {
    const rows = [];
    for (let id = from; id < Math.min(ROWS + 1, from + 5000); id++) rows.push([id, `item ${id}`, 0]);
    await my.query("INSERT INTO items VALUES ?", [rows]);
    const p = redis.pipeline();
    for (const [id, name] of rows) p.hset(`${PREFIX}${id}`, "id", String(id), "name", name, "n", "0");
    await p.exec();
  }
  const config = join(dir, "concord.yaml");
  writeFileSync(
    config,
    `state: sqlite:${join(dir, "state.db")}
datasets:
  ${NAME}:
    key: id
    replicas:
      pg: { url: "${PG_URL}", table: ${NAME}.items }
      maria: { url: "${myUrl}", table: items }
      cache: { url: "${REDIS_URL}", prefix: "${PREFIX}" }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 50ms }
`,
  );

  // One write: PostgreSQL, then the replicas unless it is lost.
  let version = 0;
  const write = async (lost) => {
    const id = 1 + Math.floor(Math.random() * ROWS);
    const n = ++version;
    await pgPool.query(`UPDATE ${NAME}.items SET n = $2 WHERE id = $1`, [id, n]);
    const at = performance.now();
    if (!lost) {
      await my.query("UPDATE items SET n = ? WHERE id = ?", [n, id]);
      await redis.hset(`${PREFIX}${id}`, "n", String(n));
    }
    return { id, n, at };
  };
  // Four writers at once, as an application's connection pool would.
  const unthrottled = async (seconds) => {
    let count = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() < until) {
          await write(false);
          count++;
        }
      }),
    );
    return count / seconds;
  };

  const alone = await unthrottled(5);

  concord = spawn(process.execPath, [join(ROOT, "bin", "concord.js"), "watch", "-c", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  concord.stderr.on("data", (s) => {
    stderr += s;
  });
  while (!stderr.includes("watching from now")) {
    if (concord.exitCode !== null) throw new Error(`concord watch exited: ${stderr}`);
    await sleep(20);
  }
  const withConcord = await unthrottled(5);

  // The steady phase: RATE writes/s, LOSS of them lost; each lost write polled until both replicas hold it.
  const cpu = () => {
    const f = readFileSync(`/proc/${concord.pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
  };
  const cpu0 = cpu();
  const wall0 = performance.now();
  const latencies = [];
  const pending = [];
  const watchLost = async ({ id, n, at }) => {
    for (;;) {
      const [[row]] = await my.query("SELECT n FROM items WHERE id = ?", [id]);
      const cached = await redis.hget(`${PREFIX}${id}`, "n");
      if (Number(row?.n) >= n && Number(cached) >= n) return latencies.push(performance.now() - at);
      await sleep(10);
    }
  };
  const total = RATE * SECONDS;
  const start = performance.now();
  // Writes start on schedule whatever the last one's latency (up to 32 in flight), like independent clients.
  const inFlight = new Set();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (inFlight.size >= 32) await Promise.race(inFlight);
    const lost = Math.random() < LOSS;
    const p = write(lost).then((w) => {
      if (lost) pending.push(watchLost(w));
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
  await Promise.all(pending);
  const wall = (performance.now() - wall0) / 1000;
  const cpuPct = ((cpu() - cpu0) / wall) * 100;
  const achieved = total / ((performance.now() - start) / 1000);
  latencies.sort((a, b) => a - b);

  const lines = [
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load ${loadavg()[0].toFixed(2)} at the end; shared with other work`,
    `table: ${ROWS} rows; steady writer ${RATE} writes/s for ${SECONDS} s (achieved ${achieved.toFixed(0)}/s), ${(LOSS * 100).toFixed(1)}% lost`,
    `lost writes: ${latencies.length}; lost write → verified repair on MariaDB and Redis: p50 ${pct(latencies, 0.5)?.toFixed(0)} ms, p99 ${pct(latencies, 0.99)?.toFixed(0)} ms, max ${latencies.at(-1)?.toFixed(0)} ms`,
    `concord watch CPU during the steady phase: ${cpuPct.toFixed(1)}% of one core`,
    `writer unthrottled: ${alone.toFixed(0)} writes/s alone, ${withConcord.toFixed(0)} with concord watch (ratio ${(withConcord / alone).toFixed(2)})`,
  ];
  for (const l of lines) console.log(l);
} finally {
  concord?.kill("SIGTERM");
  if (concord) await new Promise((r) => concord.once("close", r));
  await pgPool
    .query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1", [
      `concord_${NAME}%`,
    ])
    .catch(() => {});
  await pgPool.query(`DROP PUBLICATION IF EXISTS concord_${NAME}_pg`).catch(() => {});
  await pgPool.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`);
  await pgPool.end();
  await my.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await my.end();
  const keys = await redis.keys(`${PREFIX}*`);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
