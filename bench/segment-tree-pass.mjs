/**
 * Segment-tree benchmark: one dirty-segment pass with and without the segment trees, on the same tables and
 * the same dirty marks, alternately, in the same run.
 *
 * Usage: npm run build && node bench/segment-tree-pass.mjs
 *   BENCH_TREE_ROWS=200000 BENCH_TREE_CHANGES=1000 BENCH_TREE_SEGMENT_ROWS=2000 BENCH_TREE_REPEAT=3
 *   BENCH_TREE_LOSE_EVERY=100 (one change in this many is not copied; 0: none lost)
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306
 *
 * A PostgreSQL table (the owner) copied to MariaDB, with a SQLite state store. A verified whole pass makes
 * the dataset's segment summary; BENCH_TREE_CHANGES rows are then updated on PostgreSQL and copied to
 * MariaDB except one in BENCH_TREE_LOSE_EVERY (a lossy replication), and their segments are marked dirty as a feed would
 * (`markChangedKeys`; the feed itself is measured in bench/dirty-segments.mjs). Then, alternately, the
 * dirty-segment pass without the trees (`runPlannedPass(…, { tree: false })`: every dirty range is run) and
 * with them (re-hash the dirty segments, run only those the trees say differ), in scan mode so every pass sees
 * the same marks. Two workloads: changes clustered (ids in a window of 5× their count) and spread uniformly.
 * Reported per pass (median): rows the stores read for it (rowsScanned + rowsRead over both replicas, the
 * trees' checksum reads included), queries sent to the stores, state-store port calls, this process's CPU
 * time (user + sys) and wall time.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import mysql from "mysql2/promise";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const ROWS = Number(process.env.BENCH_TREE_ROWS ?? 200_000);
const CHANGES = Number(process.env.BENCH_TREE_CHANGES ?? 1000);
const SEGMENT_ROWS = Number(process.env.BENCH_TREE_SEGMENT_ROWS ?? 2000);
const REPEAT = Number(process.env.BENCH_TREE_REPEAT ?? 3);
/** One change in this many is not copied to MariaDB (0: every change is copied). */
const LOSE_EVERY = Number(process.env.BENCH_TREE_LOSE_EVERY ?? 100);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
const NAME = `concord_bench_tree_${process.pid}`;

const load = (path) => import(pathToFileURL(join(DIST, path)).href);
const { parseConfig } = await load("config/load-config.js");
const { openConnector } = await load("connectors/open-connector.js");
const { openStateStore } = await load("state/open-state-store.js");
const { markChangedKeys, runPlannedPass } = await load("engine/dirty-segment-pass.js");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The state store, counting the port calls made through it. */
function counted(state) {
  const box = { calls: 0 };
  const proxy = new Proxy(state, {
    get(target, prop) {
      const v = target[prop];
      if (typeof v !== "function" || prop === "close") return v;
      return (...args) => {
        box.calls++;
        return v.apply(target, args);
      };
    },
  });
  return { proxy, box };
}

const pgPool = new pg.Pool({ connectionString: PG_URL, max: 4 });
const server = await mysql.createConnection({ uri: MYSQL_URL });
await server.query(`CREATE DATABASE ${NAME}`);
await server.end();
const myUrl = `${MYSQL_URL.replace(/\/$/, "")}/${NAME}`;
const my = mysql.createPool({ uri: myUrl, connectionLimit: 4 });
const dir = mkdtempSync(join(tmpdir(), "concord-bench-tree-"));
let state;
const replicas = [];
let seq = 0;

try {
  console.log(`setting up ${ROWS} rows in PostgreSQL and MariaDB…`);
  await pgPool.query(`CREATE SCHEMA ${NAME}`);
  await pgPool.query(
    `CREATE TABLE ${NAME}.items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL)`,
  );
  await pgPool.query(
    `INSERT INTO ${NAME}.items SELECT g, 'item ' || g, 0 FROM generate_series(1, ${ROWS}) g`,
  );
  await pgPool.query(`ANALYZE ${NAME}.items`);
  await my.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL)");
  await my.query(`INSERT INTO items SELECT seq, CONCAT('item ', seq), 0 FROM seq_1_to_${ROWS}`);
  await my.query("ANALYZE TABLE items");
  const cfg = parseConfig(
    `state: sqlite:${join(dir, "state.db")}
datasets:
  ${NAME}:
    key: id
    replicas:
      pg: { url: "${PG_URL}", table: ${NAME}.items }
      maria: { url: "${myUrl}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], segmentRows: ${SEGMENT_ROWS} }
`,
    join(dir, "concord.yaml"),
  );
  const ds = cfg.datasets[0];
  state = await openStateStore(cfg.state);
  for (const r of ds.replicas)
    replicas.push({ name: r.name, connector: await openConnector(ds.name, r, {}) });
  const results = [];
  for (const workload of ["clustered", "uniform"]) {
    // A verified whole pass (repairing what the last workload left) makes the summary; the feed "has" a position.
    await state.deleteSegmentSummary(ds.name);
    const first = await runPlannedPass(
      ds,
      replicas,
      { state, now: Date.now },
      {
        runId: `p-${++seq}`,
        command: "bench",
        mode: "repair",
      },
    );
    if (first.plan.kind !== "whole" || first.run.status !== "ok")
      throw new Error("the first pass did not verify");
    await state.putFeedPosition({ dataset: ds.name, replica: "pg", position: "0/0", updatedAt: Date.now() });
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
      const copied = batch.filter((_, j) => LOSE_EVERY === 0 || (i + j) % LOSE_EVERY !== 0);
      if (copied.length) await my.query("UPDATE items SET n = n + 1 WHERE id IN (?)", [copied]);
    }
    await markChangedKeys(
      state,
      ds.name,
      list.map((id) => [String(id)]),
      Date.now(),
    );
    const measure = async (tree) => {
      // Marked again before each pass: a pass that finds its segments equal clears their marks.
      await markChangedKeys(
        state,
        ds.name,
        list.map((id) => [String(id)]),
        Date.now(),
      );
      const { proxy, box } = counted(state);
      const before = replicas.map((r) => ({ ...r.connector.stats }));
      const cpu = process.cpuUsage();
      const t = performance.now();
      const pass = await runPlannedPass(
        ds,
        replicas,
        { state: proxy, now: Date.now },
        { runId: `m-${++seq}`, command: "bench", mode: "scan" },
        { tree },
      );
      const ms = performance.now() - t;
      const used = process.cpuUsage(cpu);
      if (pass.plan.kind !== "dirty") throw new Error(`expected a dirty-segment pass: ${pass.plan.reason}`);
      let rows = 0;
      let queries = 0;
      replicas.forEach((r, i) => {
        rows +=
          r.connector.stats.rowsScanned -
          before[i].rowsScanned +
          r.connector.stats.rowsRead -
          before[i].rowsRead;
        queries += r.connector.stats.queries - before[i].queries;
      });
      return {
        ms,
        cpuMs: (used.user + used.system) / 1000,
        rows,
        queries,
        calls: box.calls,
        dirty: pass.plan.segments.length,
        of: pass.plan.of,
        ran: pass.run.segments,
        divergent: pass.run.totals.remaining,
      };
    };
    const without = [];
    const withTree = [];
    for (let i = 0; i < REPEAT; i++) {
      without.push(await measure(false));
      withTree.push(await measure(true));
    }
    const med = (xs, f) => median(xs.map(f));
    const row = {
      workload,
      load: loadavg()[0],
      dirty: `${without[0].dirty}/${without[0].of}`,
      without,
      withTree,
    };
    results.push(row);
    const fmt = (xs) =>
      `${med(xs, (x) => x.rows)} rows, ${med(xs, (x) => x.queries)} store queries, ${med(xs, (x) => x.calls)} state calls, ` +
      `CPU ${med(xs, (x) => x.cpuMs).toFixed(0)} ms, wall ${med(xs, (x) => x.ms).toFixed(0)} ms, ${xs[0].ran} run segments, ${xs[0].divergent} divergent`;
    console.log(
      `${workload}: ${row.dirty} segments dirty\n  without trees: ${fmt(without)}\n  with trees:    ${fmt(withTree)}`,
    );
    console.log(
      `  per repetition (with/without): rows ${withTree.map((x, i) => (x.rows / without[i].rows).toFixed(2)).join(" ")}; ` +
        `state calls ${withTree.map((x, i) => (x.calls / without[i].calls).toFixed(2)).join(" ")}; ` +
        `CPU ${withTree.map((x, i) => (x.cpuMs / without[i].cpuMs).toFixed(2)).join(" ")}; ` +
        `wall ${withTree.map((x, i) => (x.ms / without[i].ms).toFixed(2)).join(" ")}`,
    );
  }
  console.log(
    `\n${ROWS} rows, ${CHANGES} changes, segments of ${SEGMENT_ROWS} rows; ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
  );
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  const file = join(
    ROOT,
    "bench",
    "results",
    `segment-tree-pass-${new Date().toISOString().slice(0, 10)}-lose-${LOSE_EVERY}.json`,
  );
  writeFileSync(
    file,
    `${JSON.stringify({ rows: ROWS, changes: CHANGES, segmentRows: SEGMENT_ROWS, loseEvery: LOSE_EVERY, results }, null, 1)}\n`,
  );
  console.log(`raw: ${file}`);
} finally {
  for (const r of replicas) await r.connector.close().catch(() => {});
  await state?.close().catch(() => {});
  await pgPool.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`);
  await my.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await my.end();
  await pgPool.end();
  rmSync(dir, { recursive: true, force: true });
}
