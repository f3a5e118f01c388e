/**
 * Distributed benchmark: a repair pass run by a coordinator and 1, 2 and 4 workers, with the replicas behind
 * a fixed delay per round trip (another region), and the queue's overhead against `serve --role all`.
 *
 * Usage: npm run build && node bench/workers.mjs
 *   BENCH_WORKERS_ROWS=1000000 BENCH_WORKERS_DIFFS=1000 BENCH_WORKERS_DELAY_MS=20 BENCH_WORKERS=1,2,4
 *   BENCH_WORKERS_SEGMENTS=32 BENCH_WORKERS_CONCURRENCY=4 (default: the largest count) BENCH_REPS=1 BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
 *   BENCH_QUEUE=redis://127.0.0.1:6379/14 BENCH_WORKERS_ROOT=/tmp/before (run another build's bin/concord.js)
 *   BENCH_WORKERS_SCHEMA=concord_bench_w (the tables' schema; the state schemas are named after it)
 *
 * Two copies of a table in PostgreSQL (schema concord_bench_w: items_a, items_b; b holds DIFFS rows at an
 * older version). Every measurement starts from the same divergence and a fresh state schema, runs one
 * repair pass (the coordinator's first, started at once) and reads its duration from its run record.
 * 1. Scale-out: replicas reached through a local TCP proxy that holds every chunk DELAY/2 ms each way (DELAY ms
 *    per round trip); the state store and the queue are direct. Coordinator + k workers, the dataset's
 *    `concurrency` the largest k (so every k runs the same jobs). Reported: pass seconds per k and the
 *    speed-up against one worker. BENCH_WORKERS_OVERHEAD=0 skips part 2, BENCH_WORKERS_SCALEOUT=0 part 1.
 *    BENCH_WORKERS_NICE=-20: the bench's processes and its backends reniced before each pass (on a loaded machine,
 *    the cores as on a quiet one). Raw runs also give the replica backends' page faults, context switches and
 *    exact CPU and run-queue seconds (schedstat), and their pids (to match a system-wide `perf record`).
 *    BENCH_WORKERS_TABLE_STATS=1: each pass also reports what the replicas' tables were asked (scans, rows and
 *    index entries read, buffers; 11 s more per pass); BENCH_WORKERS_WARM_PASSES=n: n warm passes (default 1).
 * 2. Overhead: no proxy; `serve --role all` against coordinator + 1 worker (same segments). Reported: the ratio.
 * Prints a markdown table; pass BENCH_DOCS=0 to leave docs/benchmarks.md alone (it is never edited by this
 * script: copy the table by hand).
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The build whose `bin/concord.js` runs (BENCH_WORKERS_ROOT: another checkout's, e.g. a "before" build). */
const BUILD = resolve(process.env.BENCH_WORKERS_ROOT ?? ROOT);
const N = Number(process.env.BENCH_WORKERS_ROWS ?? 1_000_000);
const DIFFS = Number(process.env.BENCH_WORKERS_DIFFS ?? 1000);
const DELAY = Number(process.env.BENCH_WORKERS_DELAY_MS ?? 20);
const COUNTS = (process.env.BENCH_WORKERS ?? "1,2,4").split(",").map(Number);
/** The dataset's `concurrency` (the fleet's cap, which also sets how a pass is cut into jobs): the largest count. */
const CONCURRENCY = Number(process.env.BENCH_WORKERS_CONCURRENCY ?? Math.max(...COUNTS));
const SEGMENTS = Number(process.env.BENCH_WORKERS_SEGMENTS ?? 32);
const REPS = Number(process.env.BENCH_REPS ?? 1);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const QUEUE = process.env.BENCH_QUEUE ?? "redis://127.0.0.1:6379/14";
/** The tables' schema (BENCH_WORKERS_SCHEMA: a private one, so that benches run side by side do not share tables). */
const SCHEMA = process.env.BENCH_WORKERS_SCHEMA ?? "concord_bench_w";
const TOKEN = "bench-workers-token-0123456789";
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/**
 * A TCP proxy to `target` that forwards every chunk `delayMs / 2` later each way, in order. `counts`: the
 * round trips it carried (a client chunk after the server spoke, or the first: one request turn) and bytes.
 */
async function delayProxy(target, delayMs, trace = process.env.BENCH_WORKERS_TRACE) {
  const u = new URL(target);
  const counts = { turns: 0, bytes: 0, connections: 0 };
  const upstreams = new Set();
  const server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(u.port || 5432), u.hostname);
    upstreams.add(upstream);
    upstream.on("close", () => upstreams.delete(upstream));
    counts.connections++;
    let serverSpoke = true;
    const id = counts.connections;
    upstream.traceId = id;
    client.on("data", (chunk) => {
      if (serverSpoke && trace) {
        // What each round trip asked, for profiling: connection, time, the message's printable start.
        const text = chunk
          .toString("latin1", 0, 200)
          .replace(/[^\x20-\x7e]+/g, " ")
          .slice(0, 120);
        appendFileSync(trace, `${id}\t${performance.now().toFixed(0)}\t${text}\n`);
      }
      if (serverSpoke) counts.turns++;
      serverSpoke = false;
      counts.bytes += chunk.length;
    });
    upstream.on("data", (chunk) => {
      serverSpoke = true;
      counts.bytes += chunk.length;
    });
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
    counts,
    /** The local ports of the proxy's open connections to the store (its backends' client ports). */
    ports: () => [...upstreams].map((x) => x.localPort).filter(Boolean),
    /** The trace's connection number of each open connection, by its local port. */
    ids: () => new Map([...upstreams].map((x) => [x.localPort, x.traceId])),
    url: (() => {
      const v = new URL(target);
      v.hostname = "127.0.0.1";
      v.port = String(port);
      return v.toString();
    })(),
    close: () => new Promise((r) => server.close(r)),
  };
}

/** utime + stime (+ cutime + cstime: reaped children, e.g. PostgreSQL's ended backends) of a pid, seconds. */
function cpuOf(pid, children = false) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    const t = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
    return t / 100;
  } catch {
    return 0;
  }
}

/**
 * What the kernel counted for a pid so far: minor page faults (a backend's first touch of a page of
 * shared_buffers is one: the shared memory is mapped page by page into each backend), context switches
 * (voluntary + involuntary), and from the scheduler (`schedstat`) its seconds on a CPU, exact where utime +
 * stime are sampled at each clock tick, and its seconds runnable but waiting for a CPU.
 */
function schedulingOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const sw = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ").map(Number);
    return { minflt: Number(f[7]), switches: sw, run: run / 1e9, wait: wait / 1e9 };
  } catch {
    return { minflt: 0, switches: 0, run: 0, wait: 0 };
  }
}

/** CPU seconds of every PostgreSQL process on this host (the postmaster counts its ended backends). */
function postgresCpu() {
  let t = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let comm;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    if (comm === "postgres") t += cpuOf(pid, true);
  }
  return t;
}

/** The machine's CPU seconds: busy and total (all cores). */
function machineCpu() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - f[3] - f[4]) / 100, total: total / 100 };
}

/**
 * CPU seconds of the PostgreSQL backends serving the proxy's connections (the replicas' queries, whoever else
 * uses the server): found by their client ports.
 */
async function replicaBackendsCpu(proxy) {
  const ports = proxy?.ports() ?? [];
  if (!ports.length) return new Map();
  const { rows } = await query(
    "SELECT pid, client_port FROM pg_stat_activity WHERE client_port = ANY($1::int[])",
    [ports],
  );
  const ids = proxy.ids();
  const cpu = new Map(rows.map((r) => [r.pid, cpuOf(r.pid)]));
  // Which trace connection each backend serves (BENCH_WORKERS_TRACE numbers them).
  cpu.connections = new Map(rows.map((r) => [r.pid, ids.get(r.client_port)]));
  cpu.scheduling = new Map(rows.map((r) => [r.pid, schedulingOf(r.pid)]));
  return cpu;
}

/**
 * CPU seconds of the backends serving concord's other connections (application_name concord, not through the
 * proxy): the state store's, and the replicas' when no proxy is in between. With the state proxy: only the
 * backends behind it.
 */
async function stateBackendsCpu(proxy) {
  // Through the state proxy (BENCH_WORKERS_STATE_TRACE) this bench's state connections are known by their
  // ports, so other processes' concord connections to the same server are not counted.
  if (stateProxy) return replicaBackendsCpu(stateProxy);
  const ports = proxy?.ports() ?? [];
  const { rows } = await query(
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'concord' AND NOT (client_port = ANY($1::int[]))",
    [ports],
  );
  return new Map(rows.map((r) => [r.pid, cpuOf(r.pid)]));
}

/** The CPU the backends in `after` spent since `before` (a backend opened meanwhile counts whole). */
const backendsDelta = (before, after) =>
  +[...after].reduce((a, [pid, t]) => a + t - (before.get(pid) ?? 0), 0).toFixed(2);

/** What one of `schedulingOf`'s figures grew by over the backends in `after` (a backend opened meanwhile counts whole). */
const schedulingDelta = (before, after, field) =>
  [...(after.scheduling ?? [])].reduce(
    (a, [pid, x]) => a + x[field] - (before.scheduling?.get(pid)?.[field] ?? 0),
    0,
  );

/** What the CPU did between two samples: seconds of PostgreSQL, of the concord processes, of the machine. */
async function sample(pids, proxy) {
  return {
    at: performance.now() / 1000,
    replicas: await replicaBackendsCpu(proxy),
    state: await stateBackendsCpu(proxy),
    pg: postgresCpu(),
    concord: pids.reduce((a, p) => a + cpuOf(p), 0),
    each: pids.map((p) => cpuOf(p)),
    bench: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    machine: machineCpu(),
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

/** Throws unless the two copies hold the same rows (after a pass: its repairs converged them exactly). */
async function checkConverged(label) {
  const { rows } = await query(
    `SELECT count(*)::int AS n FROM ${SCHEMA}.items_a a FULL JOIN ${SCHEMA}.items_b b USING (id)
     WHERE a.id IS NULL OR b.id IS NULL OR (a.payload, a.version) IS DISTINCT FROM (b.payload, b.version)`,
  );
  if (rows[0].n !== 0) throw new Error(`${label}: ${rows[0].n} rows still differ after the pass`);
}

/** b holds DIFFS rows, spread over the key space, one version behind a. */
async function diverge() {
  const step = Math.floor(N / DIFFS);
  await query(
    `UPDATE ${SCHEMA}.items_b SET payload = 'old', version = 1 WHERE id % $1 = 0 AND id / $1 <= $2`,
    [step, DIFFS],
  );
}

/**
 * What the replicas' tables were asked, from PostgreSQL's cumulative statistics (BENCH_WORKERS_TABLE_STATS=1):
 * scans, rows and index entries read, rows updated, buffers touched, per table. A backend reports them when it
 * has been idle a moment (at most 10 s later), so each reading waits 11 s first.
 */
async function tableStats() {
  await new Promise((r) => setTimeout(r, 11_000));
  const { rows } = await query(
    `SELECT t.relname, t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch, t.n_tup_upd,
            (SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid) AS idx_tup_read,
            s.heap_blks_hit + s.heap_blks_read AS heap_blks, s.idx_blks_hit + s.idx_blks_read AS idx_blks
       FROM pg_stat_user_tables t JOIN pg_statio_user_tables s USING (relid)
      WHERE t.schemaname = $1 ORDER BY t.relname`,
    [SCHEMA],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r.relname,
      Object.fromEntries(
        Object.entries(r)
          .filter(([k]) => k !== "relname")
          .map(([k, v]) => [k, Number(v)]),
      ),
    ]),
  );
}

/** What each table's counters grew by between two readings. */
const statsDelta = (before, after) =>
  Object.fromEntries(
    Object.entries(after).map(([t, c]) => [
      t,
      Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v - (before[t]?.[k] ?? 0)])),
    ]),
  );

/** With BENCH_WORKERS_STATE_TRACE=file.tsv the state store is reached through an undelayed tracing proxy. */
let stateProxy;

function config(dir, replicaUrl, stateSchema, concurrency) {
  const stateUrl = stateProxy?.url ?? PG_URL;
  const state = `${stateUrl}${stateUrl.includes("?") ? "&" : "?"}schema=${stateSchema}`;
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
  const nodeArgs = process.env.BENCH_WORKERS_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, join(BUILD, "bin", "concord.js"), ...args], {
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
 * Runs `go` (which ends once a pass finished) and reads that pass (the latest run) from its run record, with
 * the CPU the stores, the concord processes and the machine spent meanwhile, and the round trips it made.
 */
async function measure(stateSchema, procs, workers, concurrency, proxy, go) {
  // BENCH_WORKERS_NICE=-20: this bench's processes and the backends behind its proxies run at that priority, so
  // that on a machine others load they get the cores as on a quiet one (the host's other work waits).
  if (process.env.BENCH_WORKERS_NICE) {
    const backends = [
      ...(await replicaBackendsCpu(proxy)).keys(),
      ...(await replicaBackendsCpu(stateProxy)).keys(),
    ];
    const pids = [process.pid, ...procs.map((p) => p.child.pid), ...backends].map(String);
    spawnSync("renice", ["-n", process.env.BENCH_WORKERS_NICE, "-p", ...pids], { stdio: "ignore" });
  }
  const tablesBefore = process.env.BENCH_WORKERS_TABLE_STATS ? await tableStats() : undefined;
  const before = await sample(
    procs.map((p) => p.child.pid),
    proxy,
  );
  const proxied = proxy ? { ...proxy.counts } : undefined;
  const logged = procs.slice(0, workers).map((p) => p.log().length);
  // The traces say where each measured pass begins (on the proxies' clock).
  for (const file of [process.env.BENCH_WORKERS_TRACE, process.env.BENCH_WORKERS_STATE_TRACE])
    if (file && file !== "/dev/null")
      appendFileSync(file, `#\t${performance.now().toFixed(0)}\tpass with ${workers} worker(s)\n`);
  await go();
  const after = await sample(
    procs.map((p) => p.child.pid),
    proxy,
  );
  const tables = tablesBefore ? statsDelta(tablesBefore, await tableStats()) : undefined;
  const { rows } = await query(
    `SELECT finished_at - started_at AS ms, status, stats FROM ${stateSchema}.runs ORDER BY started_at DESC LIMIT 1`,
  );
  const stats = JSON.parse(rows[0].stats);
  if ((stats["repairs.applied"] ?? 0) !== DIFFS)
    throw new Error(`expected ${DIFFS} repairs: ${rows[0].stats}`);
  // Each job's duration as its worker logged it: their sum over the pass is how many jobs ran at once.
  const jobs = procs.slice(0, workers).flatMap((p, i) =>
    [
      ...p
        .log()
        .slice(logged[i])
        .matchAll(/(?:segment|keys?) .* in (\d+) ms/g),
    ].map((m) => Number(m[1])),
  );
  const wall = after.at - before.at;
  // What the pass would take if only its round trips (shared by the workers) and its own CPU (the replicas'
  // and the state store's backends, the concord processes, on the machine's cores) bounded it.
  const trips = proxied ? proxy.counts.turns - proxied.turns : 0;
  const ownCpu =
    backendsDelta(before.replicas, after.replicas) +
    backendsDelta(before.state, after.state) +
    (after.concord - before.concord);
  const model = {
    latencySeconds: +((trips * DELAY) / 1000).toFixed(2),
    cpuSeconds: +ownCpu.toFixed(2),
    seconds: +Math.max((trips * DELAY) / 1000 / Math.max(1, workers), ownCpu / cpus().length).toFixed(2),
  };
  return {
    workers,
    concurrency,
    passSeconds: Number(rows[0].ms) / 1000,
    wallSeconds: +wall.toFixed(2),
    jobs: jobs.length,
    jobSeconds: +(jobs.reduce((a, b) => a + b, 0) / 1000).toFixed(2),
    cpu: {
      // Every PostgreSQL process on the host (other users of the server included), and the backends of the
      // replicas' connections alone (those open at the end; a backend opened during the pass counts whole).
      postgres: +(after.pg - before.pg).toFixed(2),
      replicaBackends: backendsDelta(before.replicas, after.replicas),
      // Each replica backend that spent CPU in the pass, as trace connection number: seconds.
      replicaBackendsEach: Object.fromEntries(
        [...after.replicas]
          .map(([pid, t]) => [
            after.replicas.connections.get(pid),
            +(t - (before.replicas.get(pid) ?? 0)).toFixed(2),
          ])
          .filter(([, t]) => t > 0),
      ),
      // Their process ids (to match a system-wide profile's samples).
      replicaBackendPids: [...after.replicas.keys()],
      // The replicas' backends' minor page faults and context switches in the pass.
      replicaBackendsFaults: schedulingDelta(before.replicas, after.replicas, "minflt"),
      replicaBackendsSwitches: schedulingDelta(before.replicas, after.replicas, "switches"),
      // The same backends' seconds on a CPU as the scheduler counts them (exact; the CPU seconds above are
      // sampled at each clock tick), and their seconds runnable but waiting for a CPU.
      replicaBackendsRun: +schedulingDelta(before.replicas, after.replicas, "run").toFixed(3),
      replicaBackendsWait: +schedulingDelta(before.replicas, after.replicas, "wait").toFixed(3),
      // The state store's backends (and with no proxy the replicas' too): concord's other connections.
      stateBackends: backendsDelta(before.state, after.state),
      concord: +(after.concord - before.concord).toFixed(2),
      // Each process: the workers, then the coordinator (or serve --role all; its start-up in the first pass).
      each: after.each.map((t, i) => +(t - (before.each[i] ?? 0)).toFixed(2)),
      proxy: +(after.bench - before.bench).toFixed(2),
      machineBusy: +(after.machine.busy - before.machine.busy).toFixed(2),
      machineCapacity: +(after.machine.total - before.machine.total).toFixed(2),
    },
    ...(proxied
      ? {
          roundTrips: proxy.counts.turns - proxied.turns,
          megabytes: +((proxy.counts.bytes - proxied.bytes) / 1e6).toFixed(1),
          connections: proxy.counts.connections - proxied.connections,
        }
      : {}),
    model,
    ...(tables ? { tables } : {}),
    load: +loadavg()[0].toFixed(2),
  };
}

/**
 * One repair pass: `workers` 0 means `serve --role all`; `concurrency` is the dataset's (the fleet's cap,
 * which also sets how the pass is cut into jobs). Returns the pass's seconds from its run record.
 */
async function onePass(replicaUrl, workers, concurrency = Math.max(1, workers), proxy = undefined) {
  await diverge();
  const stateSchema = `${SCHEMA}_state_${process.pid}`;
  await query(`DROP SCHEMA IF EXISTS ${stateSchema} CASCADE`);
  const dir = mkdtempSync(join(tmpdir(), "concord-bench-w-"));
  const file = config(dir, replicaUrl, stateSchema, concurrency);
  const procs = [];
  try {
    // Workers first, ready before the coordinator queues the pass: startup is not measured.
    for (let i = 0; i < workers; i++) procs.push(start(["worker", "-c", file]));
    await Promise.all(procs.map((p) => p.until(/ ready: /)));
    const first = await measure(stateSchema, procs, workers, concurrency, proxy, async () => {
      const serve = start(workers ? ["serve", "--role", "coordinator", "-c", file] : ["serve", "-c", file]);
      procs.push(serve);
      await serve.until(/pass \S+ \(repair\) finished in/);
    });
    await checkConverged(`${workers} worker(s), first pass`);
    // The same processes, warm (a fleet runs for days): diverge again and ask the coordinator for a pass.
    const serve = procs.at(-1);
    const [, listen] = await serve.until(/listening on http:\/\/(\S+)/);
    // BENCH_WORKERS_WARM_PASSES (default 1): more warm passes on the same processes, the later ones returned
    // as `later` (whether a pass's cost falls as the workers' connections warm up).
    const warms = [];
    for (let w = 0; w < Number(process.env.BENCH_WORKERS_WARM_PASSES ?? 1); w++) {
      await diverge();
      const finished = new RegExp(`(?:[\\s\\S]*?pass \\S+ \\(repair\\) finished in){${w + 2}}`);
      warms.push(
        await measure(stateSchema, procs, workers, concurrency, proxy, async () => {
          const res = await fetch(`http://${listen}/api/datasets/bench_w/repair`, {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
            body: "{}",
          });
          if (res.status !== 202) throw new Error(`trigger: ${res.status} ${await res.text()}`);
          await serve.until(finished);
        }),
      );
      await checkConverged(`${workers} worker(s), warm pass ${w + 1}`);
    }
    return { first, warm: warms[0], later: warms.slice(1) };
  } finally {
    for (const p of procs) p.child.kill("SIGTERM");
    await Promise.all(
      procs.map((p) => new Promise((r) => (p.child.exitCode !== null ? r() : p.child.on("exit", r)))),
    );
    if (!process.env.BENCH_WORKERS_KEEP_STATE) await query(`DROP SCHEMA IF EXISTS ${stateSchema} CASCADE`);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Keeps one measurement: printed to stderr as JSON, appended to BENCH_WORKERS_RAW when set. */
function keep(label, run) {
  const line = JSON.stringify({ label, ...run });
  console.error(line);
  if (process.env.BENCH_WORKERS_RAW) appendFileSync(process.env.BENCH_WORKERS_RAW, `${line}\n`);
  return run;
}

const spread = (xs) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
/** The run whose pass time is the median. */
const mid = (runs) => runs.find((x) => x.passSeconds === median(runs.map((y) => y.passSeconds)));
const cpuCell = (m) =>
  `${m.cpu.replicaBackends} / ${m.cpu.stateBackends} / ${m.cpu.postgres} / ${m.cpu.concord} / ${m.cpu.machineBusy} of ${m.cpu.machineCapacity}`;

async function main() {
  await setup();
  const proxy = await delayProxy(PG_URL, DELAY);
  if (process.env.BENCH_WORKERS_STATE_TRACE)
    stateProxy = await delayProxy(PG_URL, 0, process.env.BENCH_WORKERS_STATE_TRACE);
  const lines = [
    `rows ${N.toLocaleString("en-US")}, differences ${DIFFS}, segments ${SEGMENTS}, delay ${DELAY} ms per round trip, ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
    "",
    "| setup | pass | median (s) | runs (s) | vs 1 worker | round trips | model max(latency / k, CPU / cores) (s) | CPU s: replica backends / state backends / all PostgreSQL / concord / machine busy of capacity |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const delayed = new Map(COUNTS.map((k) => [k, { first: [], warm: [] }]));
  try {
    // Repetitions interleave the worker counts, so a change of load on the machine touches each alike.
    // BENCH_WORKERS_SCALEOUT=0: the queue's overhead alone.
    for (let r = 0; r < (process.env.BENCH_WORKERS_SCALEOUT === "0" ? 0 : REPS); r++)
      for (const k of COUNTS) {
        // The same dataset config (so the same jobs) whatever the worker count: only the workers differ.
        const { first, warm, later } = await onePass(proxy.url, k, CONCURRENCY, proxy);
        delayed.get(k).first.push(keep(`delay ${DELAY} ms, ${k} worker(s), first pass`, first));
        delayed.get(k).warm.push(keep(`delay ${DELAY} ms, ${k} worker(s), warm pass`, warm));
        for (const [i, x] of later.entries())
          keep(`delay ${DELAY} ms, ${k} worker(s), warm pass ${i + 2}`, x);
      }
  } finally {
    await proxy.close();
  }
  for (const which of process.env.BENCH_WORKERS_SCALEOUT === "0" ? [] : ["warm", "first"]) {
    const one = mid(delayed.get(COUNTS[0])[which]).passSeconds;
    for (const [k, runs] of delayed) {
      const m = mid(runs[which]);
      lines.push(
        `| ${DELAY} ms delay, ${k} worker(s) | ${which} | ${m.passSeconds.toFixed(1)} | ${spread(runs[which].map((x) => x.passSeconds))} | ${(one / m.passSeconds).toFixed(2)}× | ${m.roundTrips} | ${m.model.seconds} | ${cpuCell(m)} |`,
      );
    }
  }
  if (process.env.BENCH_WORKERS_OVERHEAD === "0") {
    console.log(lines.join("\n"));
    return;
  }
  const all = [];
  const queued = [];
  for (let r = 0; r < REPS; r++) {
    all.push(keep("no delay, serve --role all, warm pass", (await onePass(PG_URL, 0)).warm));
    queued.push(keep("no delay, coordinator + 1 worker, warm pass", (await onePass(PG_URL, 1)).warm));
  }
  const a = mid(all);
  const q = mid(queued);
  lines.push(
    `| no delay, serve --role all | warm | ${a.passSeconds.toFixed(1)} | ${spread(all.map((x) => x.passSeconds))} | | | | ${cpuCell(a)} |`,
  );
  lines.push(
    `| no delay, coordinator + 1 worker | warm | ${q.passSeconds.toFixed(1)} | ${spread(queued.map((x) => x.passSeconds))} | overhead ${((q.passSeconds / a.passSeconds - 1) * 100).toFixed(0)}% | | | ${cpuCell(q)} |`,
  );
  console.log(lines.join("\n"));
}

await main();
process.exit(0);
