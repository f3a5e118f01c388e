/**
 * Serve benchmark: what continuous monitoring costs an application, and how fast the API answers.
 *
 * Usage: npm run bench:serve
 *   BENCH_SERVE_ROWS=1000000 BENCH_SERVE_SECONDS=60 BENCH_REPS=3 BENCH_CLIENTS=4 BENCH_INTENSITY=0.5
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test (the benchmark creates and fills schemas
 *   concord_bench_a and concord_bench_b there) BENCH_DOCS=0 leaves docs/benchmarks.md alone.
 *
 * 1. Writer overhead. Two copies of a 1M-row table in PostgreSQL. pgbench runs an application-like write
 *    workload for BENCH_SERVE_SECONDS: each transaction updates one random row in both copies (the
 *    replication a real deployment would have), so the copies stay in agreement apart from writes in
 *    flight. Per repetition, the workload runs alone, then with `concord serve` watching the pair (repair
 *    mode, the given intensity) on a steady schedule (`schedule: 1m`: one pass in the window, as in
 *    production), then with passes back to back (`schedule: 1s`: the worst case). Reported: the
 *    writer's transactions per second in each, and the ratios (median of the per-repetition ratios).
 * 2. API latency. With serve running (idle between passes), autocannon sends 50 concurrent clients'
 *    requests to /api/datasets (bearer token) and to /metrics for 10 s each: requests/s, p50, p99.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DOCS = join(ROOT, "docs", "benchmarks.md");
const N = Number(process.env.BENCH_SERVE_ROWS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 60);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const INTENSITY = Number(process.env.BENCH_INTENSITY ?? 0.5);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const TOKEN = "bench-token-0123456789abcdef";
const PORT = 7311;

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function setup() {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  const { rows } = await client.query(
    "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'concord_bench_a' AND table_name = 'items'",
  );
  let have = 0;
  if (rows[0].n)
    have = (await client.query("SELECT count(*)::int AS n FROM concord_bench_a.items")).rows[0].n;
  if (have !== N) {
    console.error(
      `setup: ${N.toLocaleString("en-US")} rows in concord_bench_a.items and concord_bench_b.items`,
    );
    for (const s of ["concord_bench_a", "concord_bench_b"]) {
      await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE; CREATE SCHEMA ${s}`);
      await client.query(
        `CREATE TABLE ${s}.items (id bigint PRIMARY KEY, payload text NOT NULL, version bigint NOT NULL,
           updated_at timestamptz NOT NULL)`,
      );
      await client.query(
        `INSERT INTO ${s}.items SELECT i, md5(i::text) || md5((i * 7)::text), 1,
           timestamptz '2026-01-01' + i * interval '1 second' FROM generate_series(1, $1) i`,
        [N],
      );
      await client.query(`VACUUM ANALYZE ${s}.items`);
    }
  }
  await client.end();
}

function pgbench(seconds) {
  const dir = mkdtempSync(join(tmpdir(), "concord-pgbench-"));
  const script = join(dir, "update.sql");
  writeFileSync(
    script,
    `\\set id random(1, ${N})
BEGIN;
UPDATE concord_bench_a.items SET version = version + 1, payload = md5(random()::text) WHERE id = :id;
UPDATE concord_bench_b.items SET (version, payload) = (SELECT version, payload FROM concord_bench_a.items WHERE id = :id) WHERE id = :id;
COMMIT;
`,
  );
  const u = new URL(PG_URL);
  const r = spawnSync(
    "pgbench",
    [
      "-n",
      "-f",
      script,
      "-c",
      String(CLIENTS),
      "-j",
      "1",
      "-T",
      String(seconds),
      "-h",
      u.hostname,
      "-p",
      u.port || "5432",
      "-U",
      decodeURIComponent(u.username || "postgres"),
      u.pathname.slice(1),
    ],
    { encoding: "utf8" },
  );
  rmSync(dir, { recursive: true, force: true });
  const m = /tps = ([\d.]+)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`pgbench failed: ${r.stderr || r.stdout}`);
  return Number(m[1]);
}

function startServe(dir, schedule = "1s") {
  const config = join(dir, "concord.yaml");
  writeFileSync(
    config,
    `state: sqlite:state.db
serve: { listen: "127.0.0.1:${PORT}" }
datasets:
  items:
    key: id
    versions: { counter: version }
    schedule: ${schedule}
    intensity: ${INTENSITY}
    replicas:
      a: { url: "${PG_URL}", table: concord_bench_a.items }
      b: { url: "${PG_URL}", table: concord_bench_b.items }
    policy: { owner: a, resolve: highest-version }
`,
  );
  const child = spawn(process.execPath, [join(ROOT, "bin", "concord.js"), "serve", "-c", config], {
    env: { ...process.env, CONCORD_TOKEN: TOKEN },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  return {
    child,
    log: () => log,
    async ready() {
      for (let i = 0; i < 300; i++) {
        try {
          if ((await fetch(`http://127.0.0.1:${PORT}/healthz`)).ok) return;
        } catch {}
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`serve did not start: ${log}`);
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

async function passes() {
  const res = await fetch(`http://127.0.0.1:${PORT}/api/runs?dataset=items&limit=1000`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const { runs } = await res.json();
  return runs.filter((r) => r.finishedAt);
}

function cannon(path, auth) {
  return new Promise((resolveRun, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${PORT}${path}`,
        connections: 50,
        duration: 10,
        headers: auth ? { authorization: `Bearer ${TOKEN}` } : {},
      },
      (err, result) => (err ? reject(err) : resolveRun(result)),
    );
  });
}

async function main() {
  await setup();
  const runs = [];
  const watched = async (schedule) => {
    const dir = mkdtempSync(join(tmpdir(), "concord-serve-bench-"));
    const serve = startServe(dir, schedule);
    await serve.ready();
    const tps = pgbench(SECONDS);
    const done = await passes();
    await serve.stop();
    rmSync(dir, { recursive: true, force: true });
    return { tps, passes: done.length, pass: done.at(-1) };
  };
  for (let i = 0; i < REPS; i++) {
    const load = loadavg()[0];
    const alone = pgbench(SECONDS);
    const steady = await watched("1m");
    const busy = await watched("1s");
    runs.push({ alone, steady, busy, load });
    console.error(
      `rep ${i + 1}: alone ${alone.toFixed(0)} tps, steady ${steady.tps.toFixed(0)} tps (${steady.passes} passes), back to back ${busy.tps.toFixed(0)} tps (${busy.passes} passes), load ${load.toFixed(1)}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "concord-serve-api-"));
  const serve = startServe(dir);
  await serve.ready();
  // Let the first pass finish so the API answers about a real run.
  for (let i = 0; i < 600 && (await passes()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  const api = await cannon("/api/datasets", true);
  const metrics = await cannon("/metrics", false);
  await serve.stop();
  rmSync(dir, { recursive: true, force: true });
  if (api.non2xx || metrics.non2xx)
    throw new Error(`non-2xx answers: api ${api.non2xx}, metrics ${metrics.non2xx}`);

  const steadyRatio = median(runs.map((r) => r.steady.tps / r.alone));
  const busyRatio = median(runs.map((r) => r.busy.tps / r.alone));
  const slower = (ratio) => {
    const pct = (1 - ratio) * 100;
    return pct >= 0 ? `${pct.toFixed(1)}% slower` : `${(-pct).toFixed(1)}% faster`;
  };
  const lat = (r) =>
    `${Math.round(r.requests.average).toLocaleString("en-US")} req/s | ${r.latency.p50} ms | ${r.latency.p99} ms`;
  const lastPass = runs.at(-1).busy.pass;
  const text = `## Serve: monitoring overhead and API latency

Two copies of a ${N.toLocaleString("en-US")}-row table in PostgreSQL 15 (\`id bigint\` key, text payload,
version, timestamptz). An application-like writer (pgbench, ${CLIENTS} clients, ${SECONDS} s per run) updates one
random row in both copies per transaction. Each repetition runs the writer alone, then while
\`concord serve\` watches the pair (repair mode, \`intensity: ${INTENSITY}\`, checkpoints every 100,000
rows, replicas queried one at a time below full intensity) on a steady \`schedule: 1m\` (one pass in the
window, as in production), then with passes back to back (\`schedule: 1s\`, the worst case). Median of ${REPS}.

Reproduce: \`npm run bench:serve\` (\`BENCH_SERVE_ROWS\`, \`BENCH_SERVE_SECONDS\`, \`BENCH_REPS\`, \`BENCH_CLIENTS\`,
\`BENCH_INTENSITY\`, \`BENCH_PG_URL\`).

| repetition | writer alone | with serve, schedule 1m | ratio | with serve, back to back | ratio | load at start |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${runs.map((r, i) => `| ${i + 1} | ${r.alone.toFixed(0)} tps | ${r.steady.tps.toFixed(0)} tps (${r.steady.passes} pass${r.steady.passes === 1 ? "" : "es"}) | ${(r.steady.tps / r.alone).toFixed(3)} | ${r.busy.tps.toFixed(0)} tps (${r.busy.passes} passes) | ${(r.busy.tps / r.alone).toFixed(3)} | ${r.load.toFixed(1)} |`).join("\n")}

- **Writer throughput with serve on a 1-minute schedule: ${(steadyRatio * 100).toFixed(1)}% of alone (${slower(steadyRatio)}; target ≤ 10% slower: ${steadyRatio >= 0.9 ? "met" : "not met"}).**
- With passes back to back, Concord working half the time at intensity ${INTENSITY}: ${(busyRatio * 100).toFixed(1)}% of alone (${slower(busyRatio)}).
- A pass over ${N.toLocaleString("en-US")} rows took ${lastPass ? `${(lastPass.stats.durationMs / 1000).toFixed(1)} s` : "n/a"} at intensity ${INTENSITY} (pauses included).

API latency, serve running, autocannon with 50 concurrent connections for 10 s on loopback:

| endpoint | throughput | p50 | p99 |
| --- | ---: | ---: | ---: |
| \`GET /api/datasets\` (bearer token) | ${lat(api)} |
| \`GET /metrics\` | ${lat(metrics)} |

Measured ${new Date().toISOString().slice(0, 10)} on the shared 2-core VM (Node ${process.version}).
`;
  console.log(text);
  if (process.env.BENCH_DOCS !== "0") {
    const doc = readFileSync(DOCS, "utf8");
    const start = doc.indexOf("## Serve: monitoring overhead and API latency");
    const next = start < 0 ? -1 : doc.indexOf("\n## ", start + 1);
    const updated =
      start < 0
        ? `${doc.trimEnd()}\n\n${text}`
        : `${doc.slice(0, start)}${text}${next < 0 ? "" : doc.slice(next)}`;
    writeFileSync(DOCS, updated);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
