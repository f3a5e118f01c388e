/** JSON-column benchmark (issue 18 item 5): scans of PostgreSQL jsonb and MariaDB JSON tables, before and after. */
// Usage: npm run build && node bench/json-columns.mjs
//   BENCH_ROWS=50000 BENCH_DIFFS=1000 BENCH_RUNS=3
//   BENCH_BEFORE=/path/to/dist-of-an-earlier-build   (the "before" CLI; without it only "after" is timed)
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/test
//   BENCH_PAIRS=maria-pg,maria-native   (a subset of the pairs below; all by default)
//
// Builds `id bigint PRIMARY KEY, doc jsonb` (PostgreSQL) and `id BIGINT PRIMARY KEY, doc JSON` (MariaDB:
// LONGTEXT with a json_valid check) tables of ROWS documents (nested object, array, decimals), a copy of
// each differing in DIFFS keys (40% updated, 30% deleted, 30% inserted), and on PostgreSQL a third copy whose
// key is `integer` (another native signature: the canonical fingerprint, built in SQL, is compared instead
// of the native row hash). Per repetition, `concord scan --json` (a process of its own, as a user runs it)
// over each pair, with the before and after builds alternating:
//   pg-native     jsonb ↔ jsonb, same types (after: native row hash, jsonb by its text)
//   pg-canonical  jsonb ↔ jsonb, key bigint vs integer (after: canonical JSON built in PostgreSQL)
//   maria-native  JSON ↔ JSON (after: native row hash, JSON by its stored text)
//   maria-pg      MariaDB JSON ↔ PostgreSQL jsonb (after: canonical JSON built in both stores)
// Every run must report the same divergences (keys, classes, fingerprints) as every other: the benchmark
// fails otherwise. Prints medians of wall time, the scan process's CPU (user + sys, /usr/bin/time), the CPU
// the MariaDB server spent during the scan (its /proc/<pid>/stat, so other clients of a shared server count
// too), the scan's durationMs, rows and bytes read, the spread, and the load average.

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import pg from "pg";

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROWS = Number(process.env.BENCH_ROWS ?? 50_000);
const DIFFS = Number(process.env.BENCH_DIFFS ?? 1000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MY_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const BEFORE = process.env.BENCH_BEFORE;
const ONLY = process.env.BENCH_PAIRS?.split(",");
const CLK_TCK = 100;
const P = `bench_json_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "concord-bench-json-"));

/** The document of row g: a nested object, an array, decimals with trailing zeros, a null. */
const DOC_PG = `jsonb_build_object('name', 'user ' || g, 'age', g % 90, 'score', (g * 1.25)::numeric(12, 2),
  'tags', jsonb_build_array('a', 'b', g % 7), 'addr', jsonb_build_object('city', 'c' || (g % 100), 'zip', lpad((g % 99999)::text, 5, '0')),
  'active', g % 2 = 0, 'note', NULL)`;

/** Difference i hits row g = i·2654435761 mod ROWS (spread over the key space); ids past ROWS are inserted. */
function diffs() {
  const upd = Math.round(DIFFS * 0.4);
  const del = Math.round(DIFFS * 0.3);
  const hit = (i) => Number((BigInt(i) * 2654435761n) % BigInt(ROWS)) + 1;
  const update = new Set();
  for (let i = 0; update.size < upd; i++) update.add(hit(i));
  const remove = new Set();
  for (let i = upd * 3; remove.size < del; i++) if (!update.has(hit(i))) remove.add(hit(i));
  const insert = Array.from({ length: DIFFS - upd - del }, (_, i) => ROWS + 1 + i);
  return { update: [...update], remove: [...remove], insert };
}

async function buildPostgres() {
  const db = new pg.Pool({ connectionString: PG_URL, max: 1 });
  await db.query(`CREATE SCHEMA ${P}`);
  await db.query(`CREATE TABLE ${P}.a (id bigint PRIMARY KEY, doc jsonb)`);
  await db.query(`INSERT INTO ${P}.a SELECT g, ${DOC_PG} FROM generate_series(1, ${ROWS}) g`);
  const { update, remove, insert } = diffs();
  for (const [t, key] of [
    ["b", "bigint"],
    ["c", "integer"],
  ]) {
    await db.query(`CREATE TABLE ${P}.${t} (id ${key} PRIMARY KEY, doc jsonb)`);
    await db.query(`INSERT INTO ${P}.${t} SELECT * FROM ${P}.a`);
    await db.query(`UPDATE ${P}.${t} SET doc = jsonb_set(doc, '{age}', '1000.50') WHERE id = ANY($1)`, [
      update,
    ]);
    await db.query(`DELETE FROM ${P}.${t} WHERE id = ANY($1)`, [remove]);
    await db.query(
      `INSERT INTO ${P}.${t} SELECT g, jsonb_build_object('new', g, 'big', 9007199254740993) FROM unnest($1::int8[]) g`,
      [insert],
    );
  }
  await db.query(`ANALYZE ${P}.a; ANALYZE ${P}.b; ANALYZE ${P}.c`);
  return db;
}

async function buildMariadb() {
  const admin = await mysql.createConnection({ uri: MY_URL, multipleStatements: true });
  await admin.query(`CREATE DATABASE ${P}`);
  await admin.query(`CREATE TABLE ${P}.a (id BIGINT PRIMARY KEY, doc JSON)`);
  // The same documents as PostgreSQL prints them (spaces after ':' and ',', jsonb's key order).
  const src = new pg.Pool({ connectionString: PG_URL, max: 1 });
  for (let lo = 1; lo <= ROWS; lo += 10_000) {
    const { rows } = await src.query({
      text: `SELECT id, doc::text FROM ${P}.a WHERE id >= $1 AND id < $2 ORDER BY id`,
      values: [lo, lo + 10_000],
      rowMode: "array",
    });
    await admin.query(`INSERT INTO ${P}.a VALUES ?`, [rows]);
  }
  await src.end();
  const { update, remove, insert } = diffs();
  await admin.query(`CREATE TABLE ${P}.b LIKE ${P}.a`);
  await admin.query(`INSERT INTO ${P}.b SELECT * FROM ${P}.a`);
  await admin.query(`UPDATE ${P}.b SET doc = JSON_SET(doc, '$.age', 1000.50) WHERE id IN (?)`, [update]);
  await admin.query(`DELETE FROM ${P}.b WHERE id IN (?)`, [remove]);
  await admin.query(`INSERT INTO ${P}.b VALUES ?`, [
    insert.map((g) => [g, `{"new": ${g}, "big": 9007199254740993}`]),
  ]);
  await admin.query(`ANALYZE TABLE ${P}.a, ${P}.b`);
  return admin;
}

function config(name, a, b) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `state: sqlite:${join(dir, `${name}.db`)}\ndatasets:\n  docs:\n    key: id\n    replicas:\n` +
      `      a: { url: "${a.url}", table: ${a.table} }\n      b: { url: "${b.url}", table: ${b.table} }\n`,
  );
  return file;
}

const PAIRS = {
  "pg-native": () => config("pgn", { url: PG_URL, table: `${P}.a` }, { url: PG_URL, table: `${P}.b` }),
  "pg-canonical": () => config("pgc", { url: PG_URL, table: `${P}.a` }, { url: PG_URL, table: `${P}.c` }),
  "maria-native": () =>
    config(
      "my",
      { url: MY_URL.replace(/\/[^/]*$/, `/${P}`), table: "a" },
      { url: MY_URL.replace(/\/[^/]*$/, `/${P}`), table: "b" },
    ),
  "maria-pg": () =>
    config(
      "mypg",
      { url: MY_URL.replace(/\/[^/]*$/, `/${P}`), table: "a" },
      { url: PG_URL, table: `${P}.b` },
    ),
};
for (const pair of Object.keys(PAIRS)) if (ONLY && !ONLY.includes(pair)) delete PAIRS[pair];

/** The MariaDB server's CPU seconds so far (utime + stime of mariadbd), or NaN where it cannot be read. */
async function serverCpu() {
  try {
    const pid = (await run("pidof", ["mariadbd"])).stdout.trim().split(" ")[0];
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** One `concord scan --json`: wall time, the scan's stats, and its divergences in a comparable form. */
async function scan(distRoot, file) {
  const t0 = performance.now();
  const cpu0 = await serverCpu();
  const args = [
    "-f",
    "cpu %U %S",
    "node",
    join(distRoot, "bin/concord.js"),
    "scan",
    "--config",
    file,
    "--json",
  ];
  let out;
  let err;
  try {
    ({ stdout: out, stderr: err } = await run("/usr/bin/time", args, { maxBuffer: 1 << 28 }));
  } catch (e) {
    // Exit code 1: divergences found (the expected outcome here).
    if (e.code !== 1) throw e;
    ({ stdout: out, stderr: err } = e);
  }
  const wall = performance.now() - t0;
  const server = (await serverCpu()) - cpu0;
  const [, user, sys] = /cpu ([\d.]+) ([\d.]+)/.exec(err) ?? [];
  const cpu = (Number(user) + Number(sys)) * 1000;
  const ds = JSON.parse(out).datasets[0];
  const divergences = JSON.stringify(
    ds.divergences
      .map((d) => [d.key, d.class, d.replicas, d.columns])
      .sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1)),
  );
  return {
    wall,
    cpu,
    server: server * 1000,
    stats: ds.stats,
    notes: ds.notes ?? [],
    count: ds.divergences.length,
    divergences,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

const pgPool = await buildPostgres();
const my = await buildMariadb();
const builds = BEFORE ? { before: resolve(BEFORE, ".."), after: ROOT } : { after: ROOT };
const results = {};
const loads = [loadavg()[0]];
let reference;
try {
  for (let rep = 0; rep < RUNS; rep++) {
    for (const [pair, file] of Object.entries(PAIRS)) {
      for (const [build, root] of Object.entries(builds)) {
        const r = await scan(root, file());
        if (r.count !== DIFFS) throw new Error(`${pair} ${build}: ${r.count} divergences, expected ${DIFFS}`);
        reference ??= new Map();
        // MariaDB's table a holds PostgreSQL's documents: maria-pg finds what the PostgreSQL pairs find.
        const group = pair === "maria-native" ? "maria" : "pg";
        const ref = reference.get(group);
        if (ref === undefined) reference.set(group, r.divergences);
        else if (ref !== r.divergences)
          throw new Error(`${pair} ${build}: divergences differ from the first run's`);
        results[`${pair} ${build}`] = [...(results[`${pair} ${build}`] ?? []), r];
        console.error(
          `rep ${rep} ${pair} ${build}: wall ${fmt(r.wall)}, cpu ${fmt(r.cpu)}, mariadbd ${fmt(r.server)}, ` +
            `scanned ${r.stats.rowsScanned}, read ${r.stats.rowsRead}, bytes ${r.stats.bytesRead}, load ${loadavg()[0].toFixed(1)}`,
        );
      }
    }
    loads.push(loadavg()[0]);
  }
} finally {
  await pgPool.query(`DROP SCHEMA ${P} CASCADE`);
  await pgPool.end();
  await my.query(`DROP DATABASE ${P}`);
  await my.end();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `rows ${ROWS}, differences ${DIFFS}, runs ${RUNS}, load average ${loads.map((l) => l.toFixed(1)).join(" → ")}`,
);
console.log(
  "| pair | build | wall (median, min–max) | scan CPU (median, min–max) | mariadbd CPU (median) | scan durationMs | rows scanned | rows read | bytes read | queries |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const [name, rs] of Object.entries(results)) {
  const walls = rs.map((r) => r.wall);
  const [pair, build] = name.split(" ");
  console.log(
    `| ${pair} | ${build} | ${fmt(median(walls))} (${fmt(Math.min(...walls))}–${fmt(Math.max(...walls))}) | ` +
      `${fmt(median(rs.map((r) => r.cpu)))} (${fmt(Math.min(...rs.map((r) => r.cpu)))}–${fmt(Math.max(...rs.map((r) => r.cpu)))}) | ${fmt(median(rs.map((r) => r.server)))} | ` +
      `${median(rs.map((r) => r.stats.durationMs))} | ${median(rs.map((r) => r.stats.rowsScanned))} | ${median(rs.map((r) => r.stats.rowsRead))} | ` +
      `${median(rs.map((r) => r.stats.bytesRead))} | ${median(rs.map((r) => r.stats.queries))} |`,
  );
}
if (BEFORE)
  for (const pair of Object.keys(PAIRS)) {
    const b = results[`${pair} before`];
    const a = results[`${pair} after`];
    const ratios = b.map((r, i) => (r.wall / a[i].wall).toFixed(2));
    const cpu = b.map((r, i) => (r.cpu / a[i].cpu).toFixed(2));
    console.log(`${pair}: before/after wall per repetition ${ratios.join(", ")}; scan CPU ${cpu.join(", ")}`);
  }
for (const [name, rs] of Object.entries(results))
  if (rs[0].notes.length) console.log(`${name} notes: ${rs[0].notes.join(" / ")}`);
console.log("every run reported the same divergences");
if (process.env.BENCH_RAW)
  writeFileSync(
    process.env.BENCH_RAW,
    `${JSON.stringify({ rows: ROWS, diffs: DIFFS, loads, results: Object.fromEntries(Object.entries(results).map(([k, rs]) => [k, rs.map(({ divergences, notes, ...r }) => r)])) }, null, 2)}\n`,
  );
