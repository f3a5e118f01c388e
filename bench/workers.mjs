/**
 * Distributed benchmark: a repair pass run by a coordinator and 1, 2 and 4 workers, with the replicas behind
 * a fixed delay per round trip (another region), and the queue's overhead against `serve --role all`.
 *
 * Usage: npm run build && node bench/workers.mjs
 *   BENCH_WORKERS_ROWS=1000000 BENCH_WORKERS_DIFFS=1000 BENCH_WORKERS_DELAY_MS=20 BENCH_WORKERS=1,2,4
 *   BENCH_WORKERS_SEGMENTS=32 BENCH_REPS=1 BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_QUEUE=redis://127.0.0.1:6379/14
 *
 * Two copies of a table in PostgreSQL (schema concord_bench_w: items_a, items_b; b holds DIFFS rows at an
 * older version). Every measurement starts from the same divergence and a fresh state schema, runs one
 * repair pass (the coordinator's first, started at once) and reads its duration from its run record.
 * 1. Scale-out: replicas reached through a local TCP proxy that holds every chunk DELAY/2 ms each way (DELAY ms
 *    per round trip); the state store and the queue are direct. Coordinator + k workers, the dataset's
 *    `concurrency` the largest k (so every k runs the same jobs). Reported: pass seconds per k and the
 *    speed-up against one worker. BENCH_WORKERS_OVERHEAD=0 skips part 2.
 * 2. Overhead: no proxy; `serve --role all` against coordinator + 1 worker (same segments). Reported: the ratio.
 * Prints a markdown table; pass BENCH_DOCS=0 to leave docs/benchmarks.md alone (it is never edited by this
 * script: copy the table by hand).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const N = Number(process.env.BENCH_WORKERS_ROWS ?? 1_000_000);
const DIFFS = Number(process.env.BENCH_WORKERS_DIFFS ?? 1000);
const DELAY = Number(process.env.BENCH_WORKERS_DELAY_MS ?? 20);
const COUNTS = (process.env.BENCH_WORKERS ?? "1,2,4").split(",").map(Number);
const SEGMENTS = Number(process.env.BENCH_WORKERS_SEGMENTS ?? 32);
const REPS = Number(process.env.BENCH_REPS ?? 1);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const QUEUE = process.env.BENCH_QUEUE ?? "redis://127.0.0.1:6379/14";
const SCHEMA = "concord_bench_w";
const TOKEN = "bench-workers-token-0123456789";
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** A TCP proxy to `target` that forwards every chunk `delayMs / 2` later each way, in order. */
async function delayProxy(target, delayMs) {
  const u = new URL(target);
  const server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(u.port || 5432), u.hostname);
    const pipe = (from, to) => {
      from.on("data", (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs / 2));
      from.on("end", () => setTimeout(() => to.end(), delayMs / 2));
      from.on("error", () => to.destroy());
    };
    pipe(client, upstream);
    pipe(upstream, client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  return {
    url: (() => {
      const v = new URL(target);
      v.hostname = "127.0.0.1";
      v.port = String(port);
      return v.toString();
    })(),
    close: () => new Promise((r) => server.close(r)),
  };
}

async function query(sql, params) {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

async function setup() {
  const { rows } = await query(
    `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${SCHEMA}' AND table_name = 'items_a'`,
  );
  const have = rows[0].n ? (await query(`SELECT count(*)::int AS n FROM ${SCHEMA}.items_a`)).rows[0].n : 0;
  if (have === N) return;
  console.error(`setup: ${N.toLocaleString("en-US")} rows in ${SCHEMA}.items_a and items_b`);
  await query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await query(`CREATE SCHEMA ${SCHEMA}`);
  for (const t of ["items_a", "items_b"]) {
    await query(
      `CREATE TABLE ${SCHEMA}.${t} (id bigint PRIMARY KEY, payload text NOT NULL, version bigint NOT NULL)`,
    );
    await query(
      `INSERT INTO ${SCHEMA}.${t} SELECT i, md5(i::text) || md5((i * 7)::text), 2 FROM generate_series(1, $1) i`,
      [N],
    );
    await query(`VACUUM ANALYZE ${SCHEMA}.${t}`);
  }
}

/** b holds DIFFS rows, spread over the key space, one version behind a. */
async function diverge() {
  const step = Math.floor(N / DIFFS);
  await query(
    `UPDATE ${SCHEMA}.items_b SET payload = 'old', version = 1 WHERE id % $1 = 0 AND id / $1 <= $2`,
    [step, DIFFS],
  );
}

function config(dir, replicaUrl, stateSchema, concurrency) {
  const state = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${stateSchema}`;
  const file = join(dir, "concord.yaml");
  writeFileSync(
    file,
    `state: "${state}"
queue: "${QUEUE}"
serve: { listen: "127.0.0.1:0" }
datasets:
  bench_w:
    key: id
    versions: { counter: version }
    checkpointRows: ${Math.ceil(N / SEGMENTS)}
    concurrency: ${concurrency}
    schedule: 1h
    replicas:
      a: { url: "${replicaUrl}", table: ${SCHEMA}.items_a }
      b: { url: "${replicaUrl}", table: ${SCHEMA}.items_b }
    policy: { owner: a, resolve: highest-version }
`,
  );
  return file;
}

function start(args) {
  const child = spawn(process.execPath, [join(ROOT, "bin", "concord.js"), ...args], {
    env: { ...process.env, CONCORD_TOKEN: TOKEN },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const waiters = [];
  child.stderr.on("data", (d) => {
    log += d;
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    log: () => log,
    until(re) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(log);
          if (m) resolve(m);
          else if (child.exitCode !== null) reject(new Error(`concord exited:\n${log}`));
          else waiters.push(check);
        };
        child.on("exit", check);
        check();
      });
    },
  };
}

/**
 * One repair pass: `workers` 0 means `serve --role all`; `concurrency` is the dataset's (the fleet's cap,
 * which also sets how the pass is cut into jobs). Returns the pass's seconds from its run record.
 */
async function onePass(replicaUrl, workers, concurrency = Math.max(1, workers)) {
  await diverge();
  const stateSchema = `concord_bench_w_state_${process.pid}`;
  await query(`DROP SCHEMA IF EXISTS ${stateSchema} CASCADE`);
  const dir = mkdtempSync(join(tmpdir(), "concord-bench-w-"));
  const file = config(dir, replicaUrl, stateSchema, concurrency);
  const procs = [];
  try {
    // Workers first, ready before the coordinator queues the pass: startup is not measured.
    for (let i = 0; i < workers; i++) procs.push(start(["worker", "-c", file]));
    await Promise.all(procs.map((p) => p.until(/ ready: /)));
    const serve = start(workers ? ["serve", "--role", "coordinator", "-c", file] : ["serve", "-c", file]);
    procs.push(serve);
    await serve.until(/pass \S+ \(repair\) finished in/);
    const { rows } = await query(
      `SELECT finished_at - started_at AS ms, status, stats FROM ${stateSchema}.runs ORDER BY started_at LIMIT 1`,
    );
    const stats = JSON.parse(rows[0].stats);
    if ((stats["repairs.applied"] ?? 0) !== DIFFS)
      throw new Error(`expected ${DIFFS} repairs: ${rows[0].stats}`);
    return Number(rows[0].ms) / 1000;
  } finally {
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all(
      procs.map((p) => new Promise((r) => (p.child.exitCode !== null ? r() : p.child.on("exit", r)))),
    );
    await query(`DROP SCHEMA IF EXISTS ${stateSchema} CASCADE`);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  await setup();
  const proxy = await delayProxy(PG_URL, DELAY);
  const lines = [
    `rows ${N.toLocaleString("en-US")}, differences ${DIFFS}, segments ${SEGMENTS}, delay ${DELAY} ms per round trip, ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
    "",
    "| setup | pass (s) | vs 1 worker |",
    "| --- | ---: | ---: |",
  ];
  const delayed = new Map();
  try {
    for (const k of COUNTS) {
      const times = [];
      // The same jobs whatever the worker count (cut for the largest fleet): only the workers differ.
      for (let r = 0; r < REPS; r++) times.push(await onePass(proxy.url, k, Math.max(...COUNTS)));
      delayed.set(k, median(times));
      console.error(`delay ${DELAY} ms, ${k} worker(s): ${times.map((t) => t.toFixed(1)).join(", ")} s`);
    }
  } finally {
    await proxy.close();
  }
  const one = delayed.get(COUNTS[0]);
  for (const [k, t] of delayed)
    lines.push(`| ${DELAY} ms delay, ${k} worker(s) | ${t.toFixed(1)} | ${(one / t).toFixed(2)}× |`);
  const all = [];
  const queued = [];
  if (process.env.BENCH_WORKERS_OVERHEAD === "0") {
    console.log(lines.join("\n"));
    return;
  }
  for (let r = 0; r < REPS; r++) {
    all.push(await onePass(PG_URL, 0));
    queued.push(await onePass(PG_URL, 1));
  }
  console.error(
    `no delay: --role all ${all.map((t) => t.toFixed(1))} s, coordinator + 1 worker ${queued.map((t) => t.toFixed(1))} s`,
  );
  lines.push(`| no delay, serve --role all | ${median(all).toFixed(1)} | |`);
  lines.push(
    `| no delay, coordinator + 1 worker | ${median(queued).toFixed(1)} | overhead ${((median(queued) / median(all) - 1) * 100).toFixed(0)}% |`,
  );
  console.log(lines.join("\n"));
}

await main();
process.exit(0);
