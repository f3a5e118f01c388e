/**
 * Whether the in-PostgreSQL pair comparison's statements cost the server more CPU when more of them run at
 * once: the 32 half-segment joins of a 1M-row pass (as the connector sends them: transaction, cursor and first
 * fetch in one message, then ROLLBACK) run by 1, 2, 4, 8 and 16 backends at once, interleaved, each mode's
 * backends' CPU (from /proc) summed. Needs the tables of `bench/workers.mjs` (run it once first).
 *
 * Usage: node bench/pair-join-concurrency.mjs
 *   BENCH_WORKERS_SCHEMA=concord_bench_w BENCH_WORKERS_ROWS=1000000 BENCH_REPS=5 BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_JOIN_COUNTS=1,0: also run each half's row count (as the pair does beside its joins)
 *   BENCH_JOIN_MODES=1,8,2,16,4 (backends at once, in the order run) BENCH_JOIN_NICE=-20 (renice this process
 *   and its backends: on a machine others load, they get the cores as on a quiet one)
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import pg from "pg";

const SCHEMA = process.env.BENCH_WORKERS_SCHEMA ?? "concord_bench_w";
const N = Number(process.env.BENCH_WORKERS_ROWS ?? 1_000_000);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const COUNTS = process.env.BENCH_JOIN_COUNTS === "1";
const MODES = (process.env.BENCH_JOIN_MODES ?? "1,8,2,16,4").split(",").map(Number);

/**
 * A backend's time on a CPU, seconds, as the scheduler counts it (`/proc/<pid>/schedstat`: exact, where
 * utime + stime are sampled at each clock tick); this host's PostgreSQL only.
 */
function cpuOf(pid) {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
}

const side = (t, lo, hi) =>
  `(SELECT t."id" AS k0, t."id"::text AS o0, t."payload" COLLATE "C" AS c0, t."version" AS c1, t."id" AS p0, t."payload" AS p1, t."version" AS p2 FROM ${SCHEMA}.${t} AS t WHERE t."id" >= '${lo}'::int8 AND t."id" < '${hi}'::int8)`;
const join = (lo, hi) =>
  `SELECT coalesce(a.o0, b.o0), CASE WHEN b.k0 IS NULL THEN 1 WHEN a.k0 IS NULL THEN 2 ELSE 3 END, (a.p0)::text, (a.p1)::text, (a.p2)::text, (b.p0)::text, (b.p1)::text, (b.p2)::text FROM ${side("items_a", lo, hi)} a FULL JOIN ${side("items_b", lo, hi)} b ON a.k0 = b.k0 WHERE a.k0 IS NULL OR b.k0 IS NULL OR ROW(a.c0, a.c1) IS DISTINCT FROM ROW(b.c0, b.c1) ORDER BY coalesce(a.k0, b.k0)`;

/** One pass's statements: each half's cursor (and its count). */
const work = [];
const half = Math.ceil(N / 32);
for (let i = 0; i < 32; i++) {
  const lo = 1 + i * half;
  work.push([
    `BEGIN; DECLARE concord_cursor NO SCROLL CURSOR FOR ${join(lo, lo + half)}; FETCH FORWARD 1000 FROM concord_cursor`,
    "ROLLBACK",
  ]);
  if (COUNTS)
    work.push([
      `SELECT count(*)::text FROM ${SCHEMA}.items_a AS t WHERE t.id >= ${lo} AND t.id < ${lo + half}`,
    ]);
}

const clients = [];
for (let i = 0; i < Math.max(...MODES); i++) {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  c.pid = (await c.query("SELECT pg_backend_pid() AS p")).rows[0].p;
  clients.push(c);
}
if (process.env.BENCH_JOIN_NICE)
  spawnSync(
    "renice",
    ["-n", process.env.BENCH_JOIN_NICE, "-p", String(process.pid), ...clients.map((c) => String(c.pid))],
    {
      stdio: "ignore",
    },
  );

/** The pass's statements over `k` backends at once: their CPU seconds. */
async function round(k) {
  const use = clients.slice(0, k);
  const before = use.map((c) => cpuOf(c.pid));
  await Promise.all(
    use.map(async (c, j) => {
      for (let i = j; i < work.length; i += k) for (const text of work[i]) await c.query(text);
    }),
  );
  return +use.reduce((a, c, j) => a + cpuOf(c.pid) - before[j], 0).toFixed(2);
}

// Every backend runs the statements once first: a fresh backend's first join costs tens of ms more
// (catalog caches), which is not what is measured here.
await round(Math.max(...MODES));
const results = new Map(MODES.map((k) => [k, []]));
for (let r = 0; r < REPS; r++) for (const k of MODES) results.get(k).push(await round(k));
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const k of [...MODES].sort((x, y) => x - y))
  console.log(
    `${k} backend(s) at once: backend CPU s per pass, median ${median(results.get(k))}, runs ${results.get(k).join(", ")}`,
  );
for (const c of clients) await c.end();
