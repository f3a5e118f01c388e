/** Text-key benchmark (PostgreSQL): a (text, bigint) key in a linguistic collation, detected by key-hash buckets vs key ranges. */
// Usage: npm run build && node bench/text-keys.mjs
//   BENCH_ROWS=200000 BENCH_DIFFS=1000 BENCH_RUNS=3 BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
//   BENCH_RANGES=1   also time the old path (key ranges with no index serving them): minutes at 200k rows
//
// Builds, in a schema of its own (dropped at the end), four tables `items(k text, seq bigint, payload text,
// PRIMARY KEY (k, seq))`: a and b in collation "und-x-icu" (a linguistic order, like a database's default
// en_US.UTF-8: no index serves Concord's binary key order), ca and cb the same rows under COLLATE "C" (the
// index serves it: the hand-made fix the issue measured). b and cb differ from a in D keys (40% updated, 30%
// deleted, 30% inserted). Per repetition, in this process, detection over:
//   buckets  a ↔ b, as Concord now runs it (key-hash buckets: one pass per round, no sort);
//   ranges   a ↔ b with the keyBuckets capability hidden (the path before: key ranges under COLLATE "C");
//   indexed  ca ↔ cb (key ranges served by the index).
// Each is checked to report exactly the D differing keys. Medians of the wall times, and per-repetition
// ratios, are printed; the machine may be loaded, so only the ratios mean much.

import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const DIFFS = Number(process.env.BENCH_DIFFS ?? 1000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const RANGES = process.env.BENCH_RANGES === "1";
const SCHEMA = `bench_textkeys_${process.pid}`;

const { PostgresConnector } = await import(
  pathToFileURL(join(DIST, "connectors/postgres/postgres-connector.js")).href
);
const { detectDivergences } = await import(pathToFileURL(join(DIST, "detect/detect-divergences.js")).href);

const SHAPE = {
  key: [
    { name: "k", type: "text" },
    { name: "seq", type: "integer" },
  ],
  columns: [{ name: "payload", type: "text" }],
};

const admin = new pg.Pool({ connectionString: URL, max: 2 });

async function build() {
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  // Keys: words mixing case, accents, spaces and punctuation, 16 rows each.
  const keyExpr = `(ARRAY['alpha','Alpha','élan','Elan','a b','a-b','a_b','Zed','zed','Öl','ol'])[1 + g % 11] || ' ' || (g / 16)::text`;
  for (const [name, coll] of [
    ["a", "und-x-icu"],
    ["ca", "C"],
  ]) {
    await admin.query(
      `CREATE TABLE ${SCHEMA}.${name} (k text COLLATE "${coll}" NOT NULL, seq bigint NOT NULL, payload text, PRIMARY KEY (k, seq))`,
    );
    await admin.query(
      `INSERT INTO ${SCHEMA}.${name} SELECT ${keyExpr}, g % 16, md5(g::text) || md5((g * 7)::text) FROM generate_series(0, ${ROWS - 1}) g`,
    );
  }
  for (const [from, to] of [
    ["a", "b"],
    ["ca", "cb"],
  ]) {
    await admin.query(`CREATE TABLE ${SCHEMA}.${to} (LIKE ${SCHEMA}.${from} INCLUDING ALL)`);
    await admin.query(`INSERT INTO ${SCHEMA}.${to} SELECT * FROM ${SCHEMA}.${from}`);
    // Difference i hits row g = i·2654435761 mod ROWS (spread over the key space).
    const hit = (share, off) =>
      `SELECT (i * 2654435761::bigint) % ${ROWS} AS g FROM generate_series(${off}, ${off + share - 1}) i`;
    const upd = Math.round(DIFFS * 0.4);
    const del = Math.round(DIFFS * 0.3);
    const ins = DIFFS - upd - del;
    const keyOf = keyExpr.replaceAll("g", "h.g");
    await admin.query(
      `UPDATE ${SCHEMA}.${to} t SET payload = 'X' || payload FROM (${hit(upd, 0)}) h WHERE t.k = ${keyOf} AND t.seq = h.g % 16`,
    );
    await admin.query(
      `DELETE FROM ${SCHEMA}.${to} t USING (${hit(del, upd)}) h WHERE t.k = ${keyOf} AND t.seq = h.g % 16`,
    );
    await admin.query(
      `INSERT INTO ${SCHEMA}.${to} SELECT ${keyOf} || '!', h.g % 16, 'new' FROM (${hit(ins, upd + del)}) h ON CONFLICT DO NOTHING`,
    );
  }
  await admin.query(`ANALYZE`);
}

function connector(table) {
  return new PostgresConnector(new pg.Pool({ connectionString: URL, max: 2 }), `${SCHEMA}.${table}`, {
    label: table,
  });
}

/** Seconds and the differing keys (sorted) of one detection. */
async function detect(x, y, hideBuckets) {
  const a = connector(x);
  const b = connector(y);
  const wrap = (c) =>
    hideBuckets
      ? new Proxy(c, { get: (t, p) => (p === "keyBuckets" ? undefined : Reflect.get(t, p, t)) })
      : c;
  const start = performance.now();
  const keys = [];
  for await (const batch of detectDivergences(SHAPE, [
    { name: "a", connector: wrap(a) },
    { name: "b", connector: wrap(b) },
  ]))
    for (const o of batch) keys.push(JSON.stringify(o.key));
  const seconds = (performance.now() - start) / 1000;
  await a.close();
  await b.close();
  return { seconds, keys: keys.sort() };
}

const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

try {
  const t0 = performance.now();
  await build();
  process.stderr.write(
    `built ${ROWS} rows × 4 tables in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  // The answer, from a full join of the binary-collated copies.
  const expected = Number(
    (
      await admin.query(
        `SELECT count(*) AS n FROM ${SCHEMA}.ca x FULL JOIN ${SCHEMA}.cb y USING (k, seq)
         WHERE x.payload IS DISTINCT FROM y.payload OR x.k IS NULL OR y.k IS NULL`,
      )
    ).rows[0].n,
  );
  const times = { buckets: [], ranges: [], indexed: [] };
  for (let run = 0; run < RUNS; run++) {
    const b = await detect("a", "b", false);
    const r = RANGES ? await detect("a", "b", true) : undefined;
    const i = await detect("ca", "cb", false);
    for (const [name, res] of [
      ["buckets", b],
      ["ranges", r],
      ["indexed", i],
    ]) {
      if (!res) continue;
      if (res.keys.length !== expected)
        throw new Error(`${name}: ${res.keys.length} keys, expected ${expected}`);
      if (JSON.stringify(res.keys) !== JSON.stringify(b.keys))
        throw new Error(`${name}: other keys than buckets`);
      times[name].push(res.seconds);
    }
    const ranges = r
      ? `ranges ${r.seconds.toFixed(2)} s (${(r.seconds / b.seconds).toFixed(2)}× buckets), `
      : "";
    process.stdout.write(
      `RUN ${run + 1}: buckets ${b.seconds.toFixed(2)} s, ${ranges}indexed ${i.seconds.toFixed(2)} s ` +
        `(${(i.seconds / b.seconds).toFixed(2)}× buckets); load ${loadavg()[0].toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `MEDIAN (${ROWS} rows, ${expected} differing keys, ${RUNS} runs): buckets ${median(times.buckets).toFixed(2)} s, ` +
      `${RANGES ? `ranges ${median(times.ranges).toFixed(2)} s, ` : ""}indexed ${median(times.indexed).toFixed(2)} s\n`,
  );
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.end();
}
