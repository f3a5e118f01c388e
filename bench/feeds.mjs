/**
 * Change-feed benchmark: how soon a lost write is repaired and verified, and what watching costs.
 *
 * Usage: npm run build && node bench/feeds.mjs
 *   BENCH_FEED_ROWS=1000000 BENCH_FEED_RATE=200 BENCH_FEED_SECONDS=30 BENCH_FEED_LOSS=0.01
 *   BENCH_FEED_PAIRS=3 BENCH_FEED_ARM_SECONDS=5 BENCH_FEED_WRITERS=4 BENCH_FEED_BATCH=50ms
 *   BENCH_FEED_PROF=<dir for --cpu-prof> BENCH_CONCORD_ROOTS=<root>,<root> BENCH_FEED_ROUNDS=1
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306
 *   BENCH_REDIS_URL=redis://127.0.0.1:6379/14 BENCH_FEED_PIN=1 BENCH_FEED_OWN_DB=1 BENCH_FEED_COUNT=1
 *   BENCH_FEED_NAME=concord_bench_feed (prefix of the schema, databases, slot and Redis keys it creates)
 *   BENCH_FEED_BARE=1 (a third arm: a bare logical-decoding consumer, pg_recvlogical, instead of Concord)
 *
 * A table of BENCH_FEED_ROWS rows in PostgreSQL (the owner; generate_series), copied to MariaDB (its
 * Sequence engine: INSERT … SELECT FROM seq_1_to_N) and to Redis hashes (pipelines of 10,000 HSETs): one
 * dataset, so PostgreSQL → MariaDB and PostgreSQL → Redis are checked by the same watcher. A writer applies
 * each write to PostgreSQL and then, standing in for replication, to MariaDB and Redis — except a fraction
 * BENCH_FEED_LOSS of them, which it never copies (a lossy replication). `concord watch` (bin/concord.js, the
 * package's executable) runs as a separate process on the PostgreSQL feed (no window: 0 s, `batch: BENCH_FEED_BATCH`).
 * Reported:
 *   - the writer's throughput unthrottled (BENCH_FEED_WRITERS concurrent writers, the same code in both
 *     arms), BENCH_FEED_PAIRS pairs of BENCH_FEED_ARM_SECONDS arms with and without `concord watch`,
 *     alternated (ABBA…: without, with, with, without, …). Between arms concord is stopped (SIGTERM, its
 *     position stored) or started again and given time to catch up and go quiet, so no arm pays for another's
 *     backlog or for the start-up; the ratio is the median of the pairs' ratios;
 *   - the steady phase: BENCH_FEED_RATE writes/s for BENCH_FEED_SECONDS, LOSS of them lost: lost write →
 *     verified repair, from the PostgreSQL commit of a lost write until both replicas hold it (polled every
 *     10 ms, so up to 10 ms late), p50 / p99 / max; and Concord's CPU (from /proc: user + system / wall).
 * BENCH_FEED_PIN=1 stands in for Concord running on its own host: `concord watch` is pinned to the last CPU
 * and everything else (this process with the writers, the PostgreSQL, MariaDB and Redis servers and every
 * backend they fork, the walsender included) to the others, in both arms alike (taskset; restored at the
 * end). What Concord makes the stores do (decoding the WAL, answering its reads, its repairs) still runs
 * beside the writer, as it would on the stores' hosts; only Concord's own CPU moves off the writer's cores.
 * The store side of watching, in the steady phase, per write: the CPU of the walsender decoding for Concord's
 * slot (and, measured over BENCH_FEED_IDLE_SECONDS without writes just before, what it spends anyway reading
 * the server's WAL: other sessions' and other databases' records are read too), and the CPU of the
 * PostgreSQL backends and MariaDB threads serving Concord's own connections (found by its sockets' ports:
 * /proc, pg_stat_activity, information_schema.PROCESSLIST.TID). BENCH_FEED_COUNT=1 also counts Concord's
 * statements and commands per store (bench/count-store-calls.mjs, preloaded into concord). BENCH_FEED_OWN_DB=1
 * puts the PostgreSQL table in a database of its own (created and dropped here): the walsender then decodes
 * only the benchmark's transactions in full, where in a shared database it decodes every other session's too.
 * BENCH_FEED_BARE=1 adds the floor: a third throughput arm, alternated with the two others, and a steady phase
 * before Concord's, where the only consumer is `pg_recvlogical` (on CPU of Concord's under BENCH_FEED_PIN)
 * streaming a pgoutput slot of its own from a publication of the same table (proto_version 1, as Concord
 * asks; status every second, as Concord acknowledges) to /dev/null: what logical decoding alone costs the
 * writer and the walsender, with no check, no read-back and no repair.
 * The raw figures go to bench/.data/feeds-<time>.json. Everything the benchmark creates (schema, database,
 * keys, the slot) is dropped at the end.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROWS = Number(process.env.BENCH_FEED_ROWS ?? 1_000_000);
const RATE = Number(process.env.BENCH_FEED_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_FEED_SECONDS ?? 30);
const LOSS = Number(process.env.BENCH_FEED_LOSS ?? 0.01);
const PAIRS = Number(process.env.BENCH_FEED_PAIRS ?? 3);
const ARM_SECONDS = Number(process.env.BENCH_FEED_ARM_SECONDS ?? 5);
const WRITERS = Number(process.env.BENCH_FEED_WRITERS ?? 4);
const PROF = process.env.BENCH_FEED_PROF;
const BATCH = process.env.BENCH_FEED_BATCH ?? "50ms";
// The packages whose executable is timed, comma-separated roots (e.g. a baseline build, then this one).
const ROOTS = (process.env.BENCH_CONCORD_ROOTS ?? ROOT).split(",");
const ROUNDS = Number(process.env.BENCH_FEED_ROUNDS ?? 1);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/14";
const PIN = process.env.BENCH_FEED_PIN === "1";
const OWN_DB = process.env.BENCH_FEED_OWN_DB === "1";
const COUNT = process.env.BENCH_FEED_COUNT === "1";
const IDLE_SECONDS = Number(process.env.BENCH_FEED_IDLE_SECONDS ?? 5);
const BARE = process.env.BENCH_FEED_BARE === "1";
const CPUS = cpus().length;
const CONCORD_CPU = String(CPUS - 1);
const REST_CPUS = CPUS > 2 ? `0-${CPUS - 2}` : "0";

/** Sets the CPUs of this process and of every store server process (all their threads) to `list`. */
function pinStores(list) {
  const found = spawnSync("pgrep", ["-x", "postgres|mariadbd|mysqld|redis-server"], { encoding: "utf8" });
  const pids = [String(process.pid), ...found.stdout.split("\n").filter(Boolean)];
  for (const pid of pids) {
    const r = spawnSync("taskset", ["-a", "-p", "-c", list, pid], { encoding: "utf8" });
    if (r.status !== 0 && pid === String(process.pid)) throw new Error(`taskset failed: ${r.stderr.trim()}`);
  }
  return pids.length;
}
/** A process's CPU (user + system) in seconds, from /proc (NaN once it is gone). */
function procCpu(path) {
  try {
    const f = readFileSync(`${path}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** A process's user and system CPU seconds so far, from /proc. */
function userSys(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return [Number(f[11]) / 100, Number(f[12]) / 100];
}

/** The local TCP ports of a process's sockets (its connections to the stores). */
function localPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]);
    } catch {}
  }
  const ports = new Set();
  for (const table of ["tcp", "tcp6"]) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9])) ports.add(Number.parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports;
}

/**
 * The CPU seconds so far of each PostgreSQL backend (the walsender excepted) and MariaDB thread serving one
 * of `pid`'s connections, by backend pid / thread id.
 */
async function servingCpu(pid) {
  const ports = [...localPorts(pid)];
  const pgBackends = await pgPool.query(
    "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND backend_type <> 'walsender'",
    [ports],
  );
  const pgCpu = new Map(pgBackends.rows.map((r) => [r.pid, procCpu(`/proc/${r.pid}`)]));
  const [threads] = await my.query("SELECT TID AS tid, HOST AS host FROM information_schema.PROCESSLIST");
  const mariadbd = spawnSync("pgrep", ["-x", "mariadbd|mysqld"], { encoding: "utf8" }).stdout.split("\n")[0];
  const mariaCpu = new Map();
  for (const t of threads)
    if (ports.includes(Number(String(t.host).split(":").at(-1))))
      mariaCpu.set(t.tid, procCpu(`/proc/${mariadbd}/task/${t.tid}`));
  return { pg: pgCpu, maria: mariaCpu };
}

/** Statements per check, in total and by kind. */
function perCheck(byKind, checks) {
  const total = Object.values(byKind).reduce((a, b) => a + b, 0);
  const kinds = Object.entries(byKind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${(v / Math.max(1, checks)).toFixed(2)} × ${JSON.stringify(k)}`);
  return `${(total / Math.max(1, checks)).toFixed(2)} (${kinds.join(", ")})`;
}

/** Calls made between two snapshots of count-store-calls.mjs's totals. */
function diffCounts(a, b) {
  const per = (x, y) =>
    Object.fromEntries(
      Object.entries(y)
        .map(([k, v]) => [k, v - (x[k] ?? 0)])
        .filter(([, v]) => v > 0),
    );
  return {
    pg: per(a.pg, b.pg),
    mysql: per(a.mysql, b.mysql),
    sqlite: per(a.sqlite ?? {}, b.sqlite ?? {}),
    redis: {
      commands: b.redis.commands - a.redis.commands,
      pipelines: b.redis.pipelines - a.redis.pipelines,
      byCommand: per(a.redis.byCommand, b.redis.byCommand),
    },
  };
}

// BENCH_FEED_NAME: the prefix of everything the run creates (a private one beside other users of the servers).
const NAME = `${process.env.BENCH_FEED_NAME ?? "concord_bench_feed"}_${process.pid}`;
const PREFIX = `${NAME}:`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
const median = (xs) =>
  pct(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
const load = () => loadavg()[0];

let pgUrl = PG_URL;
if (OWN_DB) {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${NAME}`);
  await admin.end();
  const u = new URL(PG_URL);
  u.pathname = `/${NAME}`;
  pgUrl = u.toString();
}
const pgPool = new pg.Pool({ connectionString: pgUrl, max: WRITERS + 2 });
const server = await mysql.createConnection({ uri: MYSQL_URL });
await server.query(`CREATE DATABASE ${NAME}`);
await server.end();
const myUrl = `${MYSQL_URL.replace(/\/$/, "")}/${NAME}`;
const my = mysql.createPool({ uri: myUrl, connectionLimit: WRITERS + 2 });
const redis = new Redis(REDIS_URL);
const dir = mkdtempSync(join(tmpdir(), "concord-bench-feed-"));
const raw = {
  roots: ROOTS,
  batch: BATCH,
  rows: ROWS,
  rate: RATE,
  seconds: SECONDS,
  loss: LOSS,
  ownDb: OWN_DB,
  cores: cpus().length,
  load: [load()],
};
let concord;

try {
  console.log(`setting up ${ROWS} rows in PostgreSQL, MariaDB and Redis…`);
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
  await my.query(`INSERT INTO items SELECT seq, CONCAT('item ', seq), 0 FROM seq_1_to_${ROWS}`);
  for (let from = 1; from <= ROWS; from += 10_000) {
    const p = redis.pipeline();
    for (let id = from; id < Math.min(ROWS + 1, from + 10_000); id++)
      p.hset(`${PREFIX}${id}`, "id", String(id), "name", `item ${id}`, "n", "0");
    await p.exec();
  }
  raw.loadSeconds = (performance.now() - t0) / 1000;
  console.log(`loaded in ${raw.loadSeconds.toFixed(1)} s`);
  if (PIN) {
    raw.pinned = { concord: CONCORD_CPU, rest: REST_CPUS, processes: pinStores(REST_CPUS) };
    console.log(
      `pinned: concord on CPU ${CONCORD_CPU}; the writers and ${raw.pinned.processes - 1} store processes on ${REST_CPUS}`,
    );
  }
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
  // WRITERS writers at once, as an application's connection pool would; the same code in both arms.
  const unthrottled = async (seconds) => {
    let count = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (performance.now() < until) {
          await write(false);
          count++;
        }
      }),
    );
    return count / seconds;
  };

  /**
   * RATE writes/s for SECONDS, each started on schedule whatever the last one's latency (up to 32 in flight),
   * like independent clients; LOSS of them lost when `lossy` (each passed to `onLost`). Returns the rate achieved.
   */
  const steadyWrites = async (lossy, onLost) => {
    const total = RATE * SECONDS;
    const start = performance.now();
    const inFlight = new Set();
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      while (inFlight.size >= 32) await Promise.race(inFlight);
      const lost = lossy && Math.random() < LOSS;
      const p = write(lost).then((w) => {
        if (lost) onLost(w);
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
    return total / ((performance.now() - start) / 1000);
  };

  // Each build is measured in turn on the same tables (its own dataset name, slot and state file), and the
  // turns repeated BENCH_FEED_ROUNDS times, alternating the builds' order.
  const measure = async (root, turn) => {
    const bin = join(resolve(root), "bin", "concord.js");
    const dataset = `${NAME}_${turn}`;
    const config = join(dir, `concord-${turn}.yaml`);
    writeFileSync(
      config,
      `state: sqlite:${join(dir, `state-${turn}.db`)}
datasets:
  ${dataset}:
    key: id
    replicas:
      pg: { url: "${pgUrl}", table: ${NAME}.items }
      maria: { url: "${myUrl}", table: items }
      cache: { url: "${REDIS_URL}", prefix: "${PREFIX}" }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: ${BATCH} }
`,
    );
    const loads = [load()];
    const countFile = join(dir, `counts-${turn}.json`);
    /** Concord's running call counts per store (BENCH_FEED_COUNT), written by the preload on SIGUSR2. */
    const readCounts = async () => {
      if (!COUNT) return undefined;
      rmSync(countFile, { force: true });
      concord.kill("SIGUSR2");
      for (let i = 0; i < 200; i++) {
        try {
          return JSON.parse(readFileSync(countFile, "utf8"));
        } catch {
          await sleep(10);
        }
      }
      return undefined;
    };
    // concord watch, started (again) at its stored position; resolves once it is watching and has gone
    // quiet (no check printed for 1.5 s), so a backlog of the previous arm is not counted in the next one.
    let out = "";
    let lastLine = 0;
    const startConcord = async () => {
      const prof = PROF ? ["--cpu-prof", "--cpu-prof-dir", resolve(PROF, String(turn))] : [];
      const counting = COUNT ? ["--import", join(ROOT, "bench", "count-store-calls.mjs")] : [];
      const argv = [...prof, ...counting, bin, "watch", "-c", config];
      // taskset execs node in place: the child's pid is concord's own (its CPU is read from /proc below).
      concord = spawn(
        PIN ? "taskset" : process.execPath,
        PIN ? ["-c", CONCORD_CPU, process.execPath, ...argv] : argv,
        {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, BENCH_COUNT_OUT: countFile },
        },
      );
      let stderr = "";
      concord.stderr.on("data", (s) => {
        stderr += s;
      });
      concord.stdout.on("data", (s) => {
        out += s;
        lastLine = performance.now();
      });
      while (!stderr.includes("watching from")) {
        if (concord.exitCode !== null) throw new Error(`concord watch exited: ${stderr}`);
        await sleep(20);
      }
      lastLine = performance.now();
      while (performance.now() - lastLine < 1500) await sleep(100);
    };
    const stopConcord = async () => {
      const c = concord;
      concord = undefined;
      c.kill("SIGTERM");
      if (c.exitCode === null) await new Promise((r) => c.once("close", r));
    };
    // The bare consumer (BENCH_FEED_BARE): pg_recvlogical on its own slot, started once it streams.
    let bare;
    const bareSlot = `${NAME}_bare_${turn}`;
    const recvArgs = ["-d", pgUrl, "--slot", bareSlot];
    const startBare = async () => {
      const argv = [...recvArgs, "--start", "-o", "proto_version=1", "-o", `publication_names=${bareSlot}`];
      argv.push("-f", "/dev/null", "-F", "1", "-s", "1", "--no-loop");
      bare = spawn(
        PIN ? "taskset" : "pg_recvlogical",
        PIN ? ["-c", CONCORD_CPU, "pg_recvlogical", ...argv] : argv,
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      for (let i = 0; i < 500; i++) {
        const { rows } = await pgPool.query(
          "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
          [bareSlot],
        );
        if (rows[0]?.active_pid) return rows[0].active_pid;
        if (bare.exitCode !== null) throw new Error("pg_recvlogical exited");
        await sleep(20);
      }
      throw new Error("pg_recvlogical did not start streaming");
    };
    const stopBare = async () => {
      const b = bare;
      bare = undefined;
      b.kill("SIGINT");
      if (b.exitCode === null) await new Promise((r) => b.once("close", r));
    };
    /** BENCH_FEED_RATE writes/s for BENCH_FEED_SECONDS with only the bare consumer: walsender and writer CPU. */
    const bareSteadyPhase = async () => {
      const walsender = await startBare();
      try {
        await sleep(1500);
        const idle0 = procCpu(`/proc/${walsender}`);
        await sleep(IDLE_SECONDS * 1000);
        const walsenderIdlePerSecond = (procCpu(`/proc/${walsender}`) - idle0) / IDLE_SECONDS;
        const sender0 = procCpu(`/proc/${walsender}`);
        const recv0 = procCpu(`/proc/${bare.pid}`);
        const self0 = process.cpuUsage();
        const t0 = performance.now();
        await steadyWrites(false);
        const wall = (performance.now() - t0) / 1000;
        const used = process.cpuUsage(self0);
        return {
          walsenderSeconds: procCpu(`/proc/${walsender}`) - sender0,
          walsenderIdlePerSecond,
          consumerSeconds: procCpu(`/proc/${bare.pid}`) - recv0,
          writerSeconds: (used.user + used.system) / 1e6,
          wall,
        };
      } finally {
        await stopBare();
      }
    };
    if (BARE) {
      await pgPool.query(`CREATE PUBLICATION ${bareSlot} FOR TABLE ${NAME}.items`);
      await pgPool.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [bareSlot]);
    }
    try {
      // The throughput arms, alternated: without, with, with, without, …
      await startConcord(); // creates the slot and stores its first position
      await stopConcord();
      const arms = { without: [], with: [], ...(BARE ? { bare: [] } : {}) };
      const pairs = [];
      const barePairs = [];
      // With a bare consumer: three arms a round, the order rotated (without, bare, with · bare, with, without…).
      const names = BARE ? ["without", "bare", "with"] : undefined;
      for (let p = 0; p < PAIRS; p++) {
        const order = names
          ? [...names.slice(p % 3), ...names.slice(0, p % 3)]
          : p % 2 === 0
            ? ["without", "with"]
            : ["with", "without"];
        const got = {};
        for (const arm of order) {
          if (arm !== "with" && concord) await stopConcord();
          if (arm !== "bare" && bare) await stopBare();
          if (arm === "with" && !concord) await startConcord();
          if (arm === "bare" && !bare) await startBare();
          got[arm] = await unthrottled(ARM_SECONDS);
          arms[arm].push(got[arm]);
          loads.push(load());
        }
        pairs.push(got.with / got.without);
        if (BARE) barePairs.push(got.bare / got.without);
      }
      if (bare) await stopBare();
      // The floor's steady phase: the same writes, the bare consumer the only one.
      const bareSteady = BARE ? await bareSteadyPhase() : undefined;

      // The steady phase: RATE writes/s, LOSS of them lost; each lost write polled until both replicas hold it.
      if (!concord) await startConcord();
      const cpu = () => {
        const f = readFileSync(`/proc/${concord.pid}/stat`, "utf8").split(") ")[1].split(" ");
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
      };
      const lines0 = out.split("\n").length;
      // The walsender decoding the WAL for concord's slot, and this process (the writer), for comparison.
      const { rows: senders } = await pgPool.query(
        "SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL",
        [`concord_${dataset}_pg`],
      );
      const walsender = senders.length === 1 ? senders[0].pid : undefined;
      // What the walsender spends with no write of ours: reading the server's WAL (every session's records).
      const idle0 = walsender ? procCpu(`/proc/${walsender}`) : Number.NaN;
      // And Concord with no write of ours: the walsender's keepalives (it pings whenever it waits for WAL
      // while the client's reported positions are behind what it read, every session's WAL included).
      const concordIdle0 = cpu();
      await sleep(IDLE_SECONDS * 1000);
      const concordIdlePerSecond = (cpu() - concordIdle0) / IDLE_SECONDS;
      const walsenderIdlePerSecond = walsender
        ? (procCpu(`/proc/${walsender}`) - idle0) / IDLE_SECONDS
        : Number.NaN;
      const serving0 = await servingCpu(concord.pid);
      const counts0 = await readCounts();
      const sender0 = walsender ? procCpu(`/proc/${walsender}`) : Number.NaN;
      const self0 = process.cpuUsage();
      const cpu0 = cpu();
      const [user0, sys0] = userSys(concord.pid);
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
      const achieved = await steadyWrites(true, (w) => pending.push(watchLost(w)));
      await Promise.all(pending);
      const wall = (performance.now() - wall0) / 1000;
      const cpuSeconds = cpu() - cpu0;
      const [user1, sys1] = userSys(concord.pid);
      const cpuUserSeconds = user1 - user0;
      const cpuSystemSeconds = sys1 - sys0;
      const walsenderSeconds = walsender ? procCpu(`/proc/${walsender}`) - sender0 : Number.NaN;
      const serving1 = await servingCpu(concord.pid);
      const counts1 = await readCounts();
      // CPU of the backends and threads serving concord's connections: those open at the end, from their
      // figure at the start (or from their start, when opened since).
      const servingSeconds = { pg: 0, maria: 0 };
      for (const store of ["pg", "maria"])
        for (const [id, seconds] of serving1[store])
          servingSeconds[store] += seconds - (serving0[store].get(id) ?? 0);
      const calls = counts1 && counts0 && diffCounts(counts0, counts1);
      const used = process.cpuUsage(self0);
      const writerSeconds = (used.user + used.system) / 1e6;
      const cpuPct = (cpuSeconds / wall) * 100;
      const steadyLines = out.split("\n").slice(lines0 - 1);
      const checks = steadyLines.filter((l) => l.includes(" checked in ")).length;
      // Each check's duration as concord printed it (from taking the batch to the end of its check).
      const checkMs = steadyLines
        .map((l) => Number(l.match(/ checked in (\d+) ms/)?.[1]))
        .filter((n) => Number.isFinite(n))
        .sort((a, b) => a - b);
      latencies.sort((a, b) => a - b);
      loads.push(load());
      return {
        root,
        turn,
        arms,
        pairs,
        ratio: median(pairs),
        barePairs,
        bareSteady,
        latencies,
        cpuPct,
        cpuSeconds,
        cpuUserSeconds,
        cpuSystemSeconds,
        walsenderSeconds,
        walsenderIdlePerSecond,
        concordIdlePerSecond,
        servingSeconds,
        calls,
        writerSeconds,
        wall,
        achieved,
        checks,
        checkMs,
        loads,
      };
    } finally {
      if (concord) await stopConcord();
      if (bare) await stopBare();
      if (BARE) {
        await pgPool.query("SELECT pg_drop_replication_slot($1)", [bareSlot]).catch(() => {});
        await pgPool.query(`DROP PUBLICATION IF EXISTS ${bareSlot}`).catch(() => {});
      }
      // The turn's slot and publication go: no idle slot retains WAL through the next turns.
      spawnSync(process.execPath, [bin, "watch", "--drop", "-c", config], { stdio: "ignore" });
    }
  };

  const runs = [];
  let turn = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ROOTS : [...ROOTS].reverse();
    for (const root of order) {
      const m = await measure(root, turn++);
      runs.push(m);
      const l = m.latencies;
      const writes = RATE * SECONDS;
      const idleShare = m.walsenderIdlePerSecond * m.wall;
      console.log(
        `store side per write (µs of CPU): walsender ${((1e6 * m.walsenderSeconds) / writes).toFixed(0)} ` +
          `(${((1e6 * (m.walsenderSeconds - idleShare)) / writes).toFixed(0)} above its idle rate of ` +
          `${(m.walsenderIdlePerSecond * 1000).toFixed(0)} ms/s), concord's PostgreSQL backends ` +
          `${((1e6 * m.servingSeconds.pg) / writes).toFixed(0)}, MariaDB threads ${((1e6 * m.servingSeconds.maria) / writes).toFixed(0)}` +
          (m.calls
            ? `; calls per check: PostgreSQL ${perCheck(m.calls.pg, m.checks)}, MariaDB ${perCheck(m.calls.mysql, m.checks)}, ` +
              `Redis ${(m.calls.redis.commands / Math.max(1, m.checks)).toFixed(1)} commands in ` +
              `${(m.calls.redis.pipelines / Math.max(1, m.checks)).toFixed(2)} pipelines, ` +
              `SQLite state store ${perCheck(m.calls.sqlite, m.checks)}`
            : ""),
      );
      if (m.bareSteady) {
        const b = m.bareSteady;
        const idle = b.walsenderIdlePerSecond * b.wall;
        console.log(
          `bare consumer (pg_recvlogical), steady ${RATE} writes/s, per write (µs of CPU): walsender ` +
            `${((1e6 * b.walsenderSeconds) / writes).toFixed(0)} (${((1e6 * (b.walsenderSeconds - idle)) / writes).toFixed(0)} above its idle rate of ` +
            `${(b.walsenderIdlePerSecond * 1000).toFixed(0)} ms/s), pg_recvlogical ${((1e6 * b.consumerSeconds) / writes).toFixed(0)}, ` +
            `the writer process ${((1e6 * b.writerSeconds) / writes).toFixed(0)}; unthrottled bare ` +
            `${m.arms.bare.map((x) => x.toFixed(0)).join("/")} writes/s, bare / without ${m.barePairs.map((x) => x.toFixed(2)).join("/")} ` +
            `(median ${median(m.barePairs).toFixed(2)})`,
        );
      }
      console.log(
        `${root} (round ${round + 1}): repair p50 ${pct(l, 0.5)?.toFixed(0)} ms, p99 ${pct(l, 0.99)?.toFixed(0)} ms, ` +
          `max ${l.at(-1)?.toFixed(0)} ms (${l.length} lost); CPU ${m.cpuPct.toFixed(1)}% (${m.checks} checks, ` +
          `${((RATE * SECONDS) / Math.max(1, m.checks)).toFixed(1)} writes a check, ` +
          `${((1000 * m.cpuSeconds) / (RATE * SECONDS)).toFixed(2)} ms CPU a write, ` +
          `${(m.concordIdlePerSecond * 100).toFixed(1)}% of a core idle before (user ` +
          `${((1000 * m.cpuUserSeconds) / (RATE * SECONDS)).toFixed(2)}, system ` +
          `${((1000 * m.cpuSystemSeconds) / (RATE * SECONDS)).toFixed(2)}; walsender ` +
          `${((1000 * m.walsenderSeconds) / (RATE * SECONDS)).toFixed(2)}, the writer process ` +
          `${((1000 * m.writerSeconds) / (RATE * SECONDS)).toFixed(2)}), check p50 ` +
          `${pct(m.checkMs, 0.5)} ms, p99 ${pct(m.checkMs, 0.99)} ms); writer achieved ` +
          `${m.achieved.toFixed(0)}/s; unthrottled without ` +
          `${m.arms.without.map((x) => x.toFixed(0)).join("/")}, with ${m.arms.with.map((x) => x.toFixed(0)).join("/")} ` +
          `writes/s, pair ratios ${m.pairs.map((x) => x.toFixed(2)).join("/")}; load ${m.loads.map((x) => x.toFixed(1)).join(" ")}`,
      );
    }
  }
  console.log(
    `\n${ROWS} rows (loaded in ${raw.loadSeconds.toFixed(1)} s), steady ${RATE} writes/s for ${SECONDS} s, ` +
      `${(LOSS * 100).toFixed(1)}% lost, batch ${BATCH}; ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), shared`,
  );
  console.log("| build | repair p50 | repair p99 | CPU (% of a core) | writer with / without | load |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const root of ROOTS) {
    const mine = runs.filter((m) => m.root === root);
    const all = mine.flatMap((m) => m.latencies).sort((a, b) => a - b);
    const cpu = mine.map((m) => m.cpuPct);
    const ratios = mine.flatMap((m) => m.pairs);
    const loads = mine.flatMap((m) => m.loads);
    console.log(
      `| ${root} | ${pct(all, 0.5)?.toFixed(0)} ms | ${pct(all, 0.99)?.toFixed(0)} ms (${all.length} lost) | ` +
        `${median(cpu).toFixed(1)} (${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)}) | ` +
        (ratios.length
          ? `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}, ${ratios.length} pairs) | `
          : "– | ") +
        `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} |`,
    );
  }
  mkdirSync(join(ROOT, "bench", ".data"), { recursive: true });
  const file = join(ROOT, "bench", ".data", `feeds-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify({ ...raw, runs }, null, 1)}\n`);
  console.log(`raw: ${file}`);
} finally {
  if (PIN) pinStores(`0-${CPUS - 1}`);
  if (concord) {
    concord.kill("SIGTERM");
    if (concord.exitCode === null) await new Promise((r) => concord.once("close", r));
  }
  await pgPool
    .query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 OR slot_name LIKE $2",
      [`concord_${NAME}%`, `${NAME}_bare_%`],
    )
    .catch(() => {});
  const pubs = await pgPool.query(
    "SELECT pubname FROM pg_publication WHERE pubname LIKE $1 OR pubname LIKE $2",
    [`concord_${NAME}%`, `${NAME}_bare_%`],
  );
  for (const { pubname } of pubs.rows) await pgPool.query(`DROP PUBLICATION "${pubname}"`).catch(() => {});
  await pgPool.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`);
  await pgPool.end();
  if (OWN_DB) {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${NAME}`);
    await admin.end();
  }
  await my.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await my.end();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 10_000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== "0");
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
