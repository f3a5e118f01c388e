/**
 * Dirty-segment pass benchmark: a scheduled pass after 1,000 changed rows, against a whole pass, on the same
 * tables in the same run.
 *
 * Usage: npm run build && node bench/dirty-segments.mjs
 *   BENCH_DIRTY_ROWS=1000000 BENCH_DIRTY_CHANGES=1000 BENCH_DIRTY_SEGMENT_ROWS=10000 BENCH_DIRTY_REPEAT=3
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306
 *
 * A PostgreSQL table (the owner, watched through its logical-replication feed; generate_series) copied to
 * MariaDB (INSERT … SELECT from its Sequence engine). A whole
 * pass verifies the copy and makes the dataset's segment summary; the real watcher (watchDataset on the
 * PostgreSQL feed, in this process) then sees BENCH_DIRTY_CHANGES updates made on PostgreSQL and copied to
 * MariaDB — except 1% of them, never copied (a lossy replication) — checks them and marks their segments
 * dirty; it is stopped once it has stored the position after the last change. Then, alternately, a whole
 * pass (runDataset over the key space) and the dirty-segment pass (runDataset over the planned dirty ranges,
 * the pass runPlannedPass makes), BENCH_DIRTY_REPEAT times each, all in scan mode so every pass reads the
 * same state (each dirty-segment pass includes its `sweepSegments: 1` clean segment). The dirty-segment pass
 * is what runPlannedPass runs: `runDataset` over the planned ranges (segments re-read whole), then, when the
 * plan lists key-grain segments (`watch.dirtyKeys`, default 100 keys a segment; BENCH_DIRTY_KEYS sets it, 0:
 * segment grain only), `runDataset` over their changed keys (the key form), both timed and counted. Two
 * workloads: the changes clustered (ids in a window of 5× their count, e.g. recent rows) and spread
 * uniformly over the table. Reported: wall time and rows read (rowsScanned + rowsRead of both connectors)
 * per pass (median), and the ratios. BENCH_PREFIX names the schema, database and slot (default concord_bench).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import mysql from "mysql2/promise";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const ROWS = Number(process.env.BENCH_DIRTY_ROWS ?? 1_000_000);
const CHANGES = Number(process.env.BENCH_DIRTY_CHANGES ?? 1000);
const SEGMENT_ROWS = Number(process.env.BENCH_DIRTY_SEGMENT_ROWS ?? 10_000);
const REPEAT = Number(process.env.BENCH_DIRTY_REPEAT ?? 3);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
const DIRTY_KEYS = process.env.BENCH_DIRTY_KEYS;
const NAME = `${process.env.BENCH_PREFIX ?? "concord_bench"}_dirty_${process.pid}`;

const load = (path) => import(pathToFileURL(join(DIST, path)).href);
const { parseConfig } = await load("config/load-config.js");
const { openConnector } = await load("connectors/open-connector.js");
const { openChangeFeed } = await load("connectors/open-change-feed.js");
const { openStateStore } = await load("state/open-state-store.js");
const { runDataset } = await load("engine/run-dataset.js");
const { planPass, runPlannedPass } = await load("engine/dirty-segment-pass.js");
const { feedOptions, watchDataset } = await load("engine/watch-dataset.js");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const pgPool = new pg.Pool({ connectionString: PG_URL, max: 4 });
const server = await mysql.createConnection({ uri: MYSQL_URL });
await server.query(`CREATE DATABASE ${NAME}`);
await server.end();
const myUrl = `${MYSQL_URL.replace(/\/$/, "")}/${NAME}`;
const my = mysql.createPool({ uri: myUrl, connectionLimit: 4 });
const dir = mkdtempSync(join(tmpdir(), "concord-bench-dirty-"));
let state;
const replicas = [];
let seq = 0;

try {
  console.log(`setting up ${ROWS} rows in PostgreSQL and MariaDB…`);
  const t0 = performance.now();
  await pgPool.query(`CREATE SCHEMA ${NAME}`);
  await pgPool.query(
    `CREATE TABLE ${NAME}.items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL)`,
  );
  await pgPool.query(
    `INSERT INTO ${NAME}.items SELECT g, 'item ' || g, 0 FROM generate_series(1, ${ROWS}) g`,
  );
  await pgPool.query(`ANALYZE ${NAME}.items`);
  await my.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL)");
  // MariaDB's Sequence engine: the rows are made in the server, one statement.
  await my.query(`INSERT INTO items SELECT seq, CONCAT('item ', seq), 0 FROM seq_1_to_${ROWS}`);
  await my.query("ANALYZE TABLE items");
  console.log(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const cfg = parseConfig(
    `state: sqlite:${join(dir, "state.db")}
datasets:
  ${NAME}:
    key: id
    replicas:
      pg: { url: "${PG_URL}", table: ${NAME}.items }
      maria: { url: "${myUrl}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 50ms, segmentRows: ${SEGMENT_ROWS}, bufferKeys: ${CHANGES * 10}${DIRTY_KEYS !== undefined ? `, dirtyKeys: ${DIRTY_KEYS}` : ""} }
`,
    join(dir, "concord.yaml"),
  );
  const ds = cfg.datasets[0];
  state = await openStateStore(cfg.state);
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, {}) });
  const deps = { state, now: Date.now };
  const keyColumns = [{ name: "id", type: "integer" }];

  const results = [];
  for (const workload of ["clustered", "uniform"]) {
    // A verified whole pass makes (or renews) the summary; the watcher then starts from the store's end.
    await state.deleteSegmentSummary(ds.name);
    await state.deleteFeedPosition(ds.name, "pg");
    const stop = new AbortController();
    let started = false;
    let checked = 0;
    const watching = watchDataset(
      ds,
      replicas,
      [{ replica: "pg", open: () => openChangeFeed(ds.replicas[0], feedOptions(ds, "pg")) }],
      deps,
      {
        signal: stop.signal,
        newRunId: () => `w-${++seq}`,
        observer: {
          onStarted: () => {
            started = true;
          },
          onChecked: (c) => {
            checked += c.keys;
          },
        },
      },
    );
    while (!started) await sleep(20);
    const first = await runPlannedPass(ds, replicas, deps, {
      runId: `p-${++seq}`,
      command: "bench",
      mode: "repair",
    });
    if (first.plan.kind !== "whole" || first.run.status !== "ok")
      throw new Error("the first pass did not verify");

    // The changes: on PostgreSQL, copied to MariaDB except 1%.
    const ids = new Set();
    const window = Math.min(ROWS, CHANGES * 5);
    const base = Math.floor(Math.random() * (ROWS - window)) + 1;
    while (ids.size < CHANGES)
      ids.add(
        workload === "clustered"
          ? base + Math.floor(Math.random() * window)
          : 1 + Math.floor(Math.random() * ROWS),
      );
    const list = [...ids];
    for (let i = 0; i < list.length; i += 100) {
      const batch = list.slice(i, i + 100);
      await pgPool.query(`UPDATE ${NAME}.items SET n = n + 1 WHERE id = ANY($1::bigint[])`, [batch]);
      const copied = batch.filter((_, j) => (i + j) % 100 !== 0);
      if (copied.length) await my.query("UPDATE items SET n = n + 1 WHERE id IN (?)", [copied]);
    }
    // The watcher checks and marks every change before it stores the position after them.
    const target = await pgPool.query("SELECT pg_current_wal_lsn()::text AS lsn");
    const lsn = (t) => t.split("/").reduce((a, h) => a * 2 ** 32 + Number.parseInt(h, 16), 0);
    const until = Date.now() + 120_000;
    for (;;) {
      const p = await state.getFeedPosition(ds.name, "pg");
      if (p && checked >= CHANGES && lsn(p.position) >= lsn(target.rows[0].lsn)) break;
      if (Date.now() > until) throw new Error(`the watcher did not catch up (${checked} keys checked)`);
      await sleep(100);
    }
    stop.abort();
    await watching;

    const plan = await planPass(ds, state, keyColumns, Date.now());
    if (plan.kind !== "dirty") throw new Error(`expected a dirty-segment plan: ${plan.reason}`);
    const whole = [];
    const dirty = [];
    const rowsOf = (run) => run.totals.stats.rowsScanned + run.totals.stats.rowsRead;
    const measure = async (ranges, keys) => {
      const t = performance.now();
      const run = await runDataset(ds, replicas, deps, {
        runId: `m-${++seq}`,
        command: "bench",
        mode: "scan",
        ...(ranges ? { ranges } : {}),
      });
      // The key-grain segments: their changed keys through the key form, as runPlannedPass checks them.
      const byKey = keys?.length
        ? await runDataset(ds, replicas, deps, {
            runId: `m-${seq}-keys`,
            command: "bench",
            mode: "scan",
            keys: keys.map((k) => k.key),
          })
        : undefined;
      return {
        ms: performance.now() - t,
        rows: rowsOf(run) + (byKey ? rowsOf(byKey) : 0),
        divergent: run.totals.remaining + (byKey?.totals.remaining ?? 0),
      };
    };
    for (let i = 0; i < REPEAT; i++) {
      whole.push(await measure(undefined));
      dirty.push(await measure(plan.ranges, plan.keys));
    }
    const w = { ms: median(whole.map((x) => x.ms)), rows: median(whole.map((x) => x.rows)) };
    const d = { ms: median(dirty.map((x) => x.ms)), rows: median(dirty.map((x) => x.rows)) };
    results.push({
      workload,
      segments: `${plan.segments.length + (plan.keyed?.length ?? 0)}/${plan.of}`,
      keyed: plan.keyed?.length ?? 0,
      keys: plan.keys?.length ?? 0,
      w,
      d,
      whole,
      dirty,
      load: loadavg()[0],
    });
    console.log(
      `${workload}: ${CHANGES} changes, ${plan.segments.length + (plan.keyed?.length ?? 0)} of ${plan.of} segments dirty ` +
        `(${plan.keyed?.length ?? 0} checked by ${plan.keys?.length ?? 0} keys); ` +
        `whole pass ${w.ms.toFixed(0)} ms, ${w.rows} rows read; dirty pass ${d.ms.toFixed(0)} ms, ${d.rows} rows read; ` +
        `time ${((100 * d.ms) / w.ms).toFixed(1)}%, rows ${((100 * d.rows) / w.rows).toFixed(1)}% ` +
        `(divergent found: whole ${whole[0].divergent}, dirty ${dirty[0].divergent})`,
    );
  }
  console.log(
    `\n${ROWS} rows, ${CHANGES} changes, segments of ${SEGMENT_ROWS} rows, median of ${REPEAT}; ` +
      `${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
  );
  console.log(
    "| changes | dirty segments | by key (keys) | whole pass | dirty pass | time ratio | rows-read ratio |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of results)
    console.log(
      `| ${r.workload} | ${r.segments} | ${r.keyed} (${r.keys}) | ${(r.w.ms / 1000).toFixed(2)} s, ${r.w.rows} rows | ` +
        `${(r.d.ms / 1000).toFixed(2)} s, ${r.d.rows} rows | ${((100 * r.d.ms) / r.w.ms).toFixed(1)}% | ` +
        `${((100 * r.d.rows) / r.w.rows).toFixed(1)}% |`,
    );
  for (const r of results)
    console.log(
      `${r.workload} raw: whole ${r.whole.map((x) => x.ms.toFixed(0)).join("/")} ms, dirty ${r.dirty.map((x) => x.ms.toFixed(0)).join("/")} ms`,
    );
  mkdirSync(join(ROOT, "bench", ".data"), { recursive: true });
  const file = join(
    ROOT,
    "bench",
    ".data",
    `dirty-segments-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
  );
  writeFileSync(
    file,
    `${JSON.stringify({ rows: ROWS, changes: CHANGES, segmentRows: SEGMENT_ROWS, results }, null, 1)}\n`,
  );
  console.log(`raw: ${file}`);
} finally {
  for (const r of replicas) await r.connector.close().catch(() => {});
  await state?.close().catch(() => {});
  const slots = await pgPool.query(
    "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active",
    [`%${NAME}%`],
  );
  for (const { slot_name } of slots.rows)
    await pgPool.query("SELECT pg_drop_replication_slot($1)", [slot_name]);
  const pubs = await pgPool.query("SELECT pubname FROM pg_publication WHERE pubname LIKE $1", [`%${NAME}%`]);
  for (const { pubname } of pubs.rows) await pgPool.query(`DROP PUBLICATION "${pubname}"`);
  await pgPool.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`);
  await my.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await my.end();
  await pgPool.end();
  rmSync(dir, { recursive: true, force: true });
}
