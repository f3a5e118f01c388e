/** Real stores vs the anchors: Concord's scan and repair timed side by side with pg_comparator, pt-table-sync and the SQL floors. */
// Usage: npm run bench:stores          (root; PostgreSQL, MariaDB and Redis on this machine)
//   BENCH_RUNS=3                        repetitions of every measurement (1 for a quick run)
//   BENCH_SIZES="1000000:1000 1000000:100000"   N:D pairs (rows, differences)
//   BENCH_DBS="pg my"                   databases
//   BENCH_REDIS=1                       PostgreSQL ↔ Redis scan vs the Redis read floor (at BENCH_REDIS_SIZE)
//   BENCH_REDIS_SIZE=1000000:1000       which size the Redis comparison runs at (must be in BENCH_SIZES)
//   BENCH_REDIS_URL=redis://127.0.0.1:6379/13   a database this benchmark may fill (keys under "stores:")
//   BENCH_SERVERS=1                     run the harness's servers.sh first
//   BENCH_DOCS=1                        write the figures into docs/benchmarks.md (between the stores markers)
//   ANCHORS_DIR=../shared/anchors       the harness (read-only; see its README)
//   CONCORD_DIST=dist                   the compiled Concord to run (what bin/concord.js runs)
//
// Per size and database: the harness builds the tables (`<db>_setup.sh N D`), then each repetition runs,
// through the harness's own timer, peak-RSS sampler and checks, the incumbent tool's detect and sync modes,
// the SQL join floor (`naive`), and Concord through the hooks: custom-detect = `concord scan --json` piped to
// the adapter that prints the differing keys (bench/stores-hook.mjs parse: it starts beside Concord, not
// before), custom-sync = `concord repair` with policy owner: a, resolve: owner. Modes alternate within a repetition, so every ratio compares runs made minutes apart. Results
// (RESULT lines of the harness plus this script's LOAD/CONCORD/REDIS lines) go to
// bench/.data/stores/<timestamp>/results.txt, the report to report.md there (and to docs/benchmarks.md).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SELF = fileURLToPath(import.meta.url);
const ANCHORS = resolve(process.env.ANCHORS_DIR ?? join(ROOT, "..", "shared", "anchors"));
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const SIZES = (process.env.BENCH_SIZES ?? "1000000:1000 1000000:100000")
  .split(/[\s,]+/)
  .filter(Boolean)
  .map((s) => s.split(":").map(Number));
const DBS = (process.env.BENCH_DBS ?? "pg my").split(/[\s,]+/).filter(Boolean);
const REDIS_ON = process.env.BENCH_REDIS !== "0";
const REDIS_SIZE = process.env.BENCH_REDIS_SIZE ?? "1000000:1000";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/13";
const REDIS_PREFIX = "stores:item:";
const REDIS_META = "stores:meta";
const STAMP = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "Z");
const OUT = join(ROOT, "bench", ".data", "stores", STAMP);
const WORK = join(OUT, "work");
const RESULTS = join(OUT, "results.txt");
const PG_URL = "postgres://root@/bench?host=/var/run/postgresql";
const MY_URL = (db) => `mysql://root@localhost/${db}?socket=/run/mysqld/mysqld.sock`;
const HOOK = join(ROOT, "bench", "stores-hook.mjs");

function log(line) {
  process.stderr.write(`${line}\n`);
}

/** Runs a command with output to our stderr; throws on failure. */
function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, {
    cwd: ANCHORS,
    stdio: ["ignore", 2, 2],
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
}

function capture(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

const psql = (sql) => capture("psql", ["-qAtX", "-d", "bench", "-c", sql]);
const mysql = (sql) => capture("mysql", ["-NB", "-e", sql]);

function record(line) {
  writeFileSync(RESULTS, `${line}\n`, { flag: "a" });
}

function load1() {
  return loadavg()[0].toFixed(2);
}

// ------------------------------------------------------------------------------------------- configs

function config(name, replicas, state) {
  const lines = [
    `# written by bench/stores.mjs`,
    `state: sqlite:${state}`,
    `datasets:`,
    `  items:`,
    `    key: id`,
    `    columns: [payload, version, updated_at]`,
    `    replicas:`,
    ...Object.entries(replicas).map(([r, spec]) => `      ${r}: ${JSON.stringify(spec)}`),
    `    policy: { owner: a, resolve: owner, limits: { maxRepairs: 100000000, maxDivergentFraction: 1 } }`,
  ];
  const file = join(OUT, `${name}.yaml`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

function hookCommand(mode, cfg, state) {
  const env = `CONCORD_DIST=${JSON.stringify(DIST)} CONCORD_BENCH_STATE=${JSON.stringify(state)}`;
  const node = JSON.stringify(process.execPath);
  if (mode === "detect" && DIST === resolve(ROOT, "dist")) {
    // The package's executable straight from the shell, its document piped to the adapter, whose own Node
    // start then runs beside Concord's instead of before it (an adapter in front charged its ~50-80 ms to
    // Concord; the incumbents run with none). Exit: Concord's when it failed (2 and up), else the adapter's.
    const s = JSON.stringify(state);
    const bin = JSON.stringify(join(ROOT, "bin", "concord.js"));
    const script =
      `rm -f ${s} ${s}-wal ${s}-shm; ${node} ${bin} scan --json -c ${JSON.stringify(cfg)} | ${node} ${JSON.stringify(HOOK)} parse; ` +
      's=("${PIPESTATUS[@]}"); if [ ${s[0]} -gt 1 ]; then exit ${s[0]}; fi; exit ${s[1]}';
    // The harness runs the command with `bash -c`, so the script is the command itself.
    return script;
  }
  return `${env} ${node} ${JSON.stringify(HOOK)} ${mode} ${JSON.stringify(cfg)}`;
}

function concordConfigs(db) {
  const state = join(OUT, `state-${db}.db`);
  const replicas =
    db === "pg"
      ? { a: { url: PG_URL, table: "a.items" }, b: { url: PG_URL, table: "b.items" } }
      : { a: { url: MY_URL("bench_a"), table: "items" }, b: { url: MY_URL("bench_b"), table: "items" } };
  const cfg = config(db, replicas, state);
  return { detect: hookCommand("detect", cfg, state), sync: hookCommand("repair", cfg, state) };
}

// ------------------------------------------------------------------------------------------- redis

async function redisClient() {
  const { Redis } = await import("ioredis");
  return new Redis(REDIS_URL);
}

/** Loads b.items (the drifted copy: D differences from a.items) into Redis hashes, unless already there. */
async function loadRedis(n, d) {
  const redis = await redisClient();
  const want = JSON.stringify({ n, d, dist: psql("SELECT dist FROM anchors_meta"), layout: 1 });
  if ((await redis.get(REDIS_META)) === want) {
    await redis.quit();
    log(`redis: ${REDIS_URL} already holds b.items (${want})`);
    return;
  }
  const started = performance.now();
  log(`redis: loading b.items into ${REDIS_URL} under ${REDIS_PREFIX} …`);
  await redis.del(REDIS_META);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", "stores:*", "COUNT", 10000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
  const copy = spawn(
    "psql",
    [
      "-qAtX",
      "-d",
      "bench",
      "-c",
      `COPY (SELECT id, payload, version, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM b.items) TO STDOUT`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let p = redis.pipeline();
  let queued = 0;
  const inflight = [];
  let rest = "";
  for await (const chunk of copy.stdout) {
    const lines = (rest + chunk.toString("utf8")).split("\n");
    rest = lines.pop();
    for (const line of lines) {
      const [id, payload, version, at] = line.split("\t");
      p.hset(`${REDIS_PREFIX}${id}`, "payload", payload, "version", version, "updated_at", at);
      if (++queued >= 5000) {
        inflight.push(p.exec());
        p = redis.pipeline();
        queued = 0;
        if (inflight.length >= 8) await inflight.shift();
      }
    }
  }
  inflight.push(p.exec());
  await Promise.all(inflight);
  await redis.set(REDIS_META, want);
  log(`redis: loaded ${await redis.dbsize()} keys in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await redis.quit();
}

/**
 * The Redis floor of bench/scan-redis.mjs: SCAN MATCH prefix* COUNT 1000 and one pipelined HGETALL per key
 * of each page, the next SCAN in the same round trip: reading every Redis record once and nothing else.
 */
async function redisFloorChild() {
  const redis = await redisClient();
  await redis.ping();
  let rows = 0;
  const match = `${REDIS_PREFIX}*`;
  let [cursor, names] = await redis.scan("0", "MATCH", match, "COUNT", 1000);
  for (;;) {
    const p = redis.pipeline();
    for (const name of names) p.hgetall(name);
    if (cursor !== "0") p.scan(cursor, "MATCH", match, "COUNT", 1000);
    const results = await p.exec();
    for (let i = 0; i < names.length; i++) if (results[i][1].payload !== undefined) rows++;
    if (cursor === "0") break;
    [cursor, names] = results.at(-1)[1];
  }
  await redis.quit();
  process.stdout.write(`rows ${rows}\n`);
}

/** Runs a command under GNU time; resolves to wall seconds, peak RSS (MiB), exit code and stdout. */
function timed(cmd) {
  return new Promise((ok, fail) => {
    const timeFile = join(WORK, "time.out");
    const started = performance.now();
    const c = spawn("/usr/bin/time", ["-f", "%M", "-o", timeFile, "bash", "-c", cmd], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const out = [];
    c.stdout.on("data", (x) => out.push(x));
    c.on("error", fail);
    c.on("close", (code) => {
      const wall = (performance.now() - started) / 1000;
      const kib = Number(readFileSync(timeFile, "utf8").trim().split("\n").at(-1));
      ok({ wall, mb: kib / 1024, code, stdout: Buffer.concat(out).toString("utf8") });
    });
  });
}

async function redisRound(n, d, rep) {
  const state = join(OUT, "state-redis.db");
  const cfg = config(
    "pg-redis",
    {
      a: { url: PG_URL, table: "a.items" },
      b: { url: REDIS_URL, prefix: REDIS_PREFIX, format: "hash" },
    },
    state,
  );
  const expected = psql("SELECT kind || ' ' || id FROM anchors_diffs ORDER BY 1")
    .split("\n")
    .sort()
    .join("\n");
  const floor = await timed(`${JSON.stringify(process.execPath)} ${JSON.stringify(SELF)} --redis-floor`);
  const floorRows = Number(floor.stdout.match(/rows (\d+)/)?.[1] ?? -1);
  record(
    `REDIS mode=floor n=${n} d=${d} run=${rep} wall_s=${floor.wall.toFixed(3)} client_mb=${floor.mb.toFixed(1)} rc=${floor.code} rows=${floorRows} load1=${load1()}`,
  );
  const load = load1();
  const scan = await timed(hookCommand("detect", cfg, state));
  const got = scan.stdout
    .split("\n")
    .filter((l) => /^(upd|del|ins) \d+$/.test(l))
    .sort()
    .join("\n");
  const stats = scan.stdout.match(/^# concord (.*)$/m)?.[1];
  const ok = scan.code === 0 && got === expected ? "yes" : "no";
  record(
    `REDIS mode=scan n=${n} d=${d} run=${rep} wall_s=${scan.wall.toFixed(3)} client_mb=${scan.mb.toFixed(1)} rc=${scan.code} found=${got ? got.split("\n").length : 0} ok=${ok} load1=${load}`,
  );
  if (stats) record(`CONCORD db=pg-redis n=${n} d=${d} run=${rep} ${stats}`);
  log(
    `  redis rep ${rep}: floor ${floor.wall.toFixed(2)} s (${floorRows} rows), concord scan ${scan.wall.toFixed(2)} s ok=${ok}`,
  );
}

// ------------------------------------------------------------------------------------------- measuring

function tableBytes(db) {
  if (db === "pg") {
    return {
      heap: Number(psql("SELECT pg_relation_size('a.items')")),
      total: Number(psql("SELECT pg_total_relation_size('a.items')")),
    };
  }
  const [data, index] = mysql(
    "SELECT data_length, index_length FROM information_schema.tables WHERE table_schema='bench_a' AND table_name='items'",
  )
    .split("\t")
    .map(Number);
  return { heap: data, total: data + index };
}

function concordStats(db, n, d, rep) {
  for (const mode of ["custom-detect"]) {
    const file = join(WORK, `${db}_${mode}_1.out`);
    if (!existsSync(file)) continue;
    const line = readFileSync(file, "utf8").match(/^# concord (.*)$/m)?.[1];
    if (line) record(`CONCORD db=${db} n=${n} d=${d} run=${rep} ${line}`);
  }
}

async function measure() {
  mkdirSync(WORK, { recursive: true });
  const env = { RESULTS, ANCHORS_TMP: WORK };
  if (process.env.BENCH_SERVERS !== "0") {
    // servers.sh writes MariaDB's tuning to /etc/mysql/mariadb.conf.d/, which it expects to exist.
    mkdirSync("/etc/mysql/mariadb.conf.d", { recursive: true });
    run(join(ANCHORS, "servers.sh"), []);
  }
  if (DBS.includes("my")) {
    // Where my.cnf does not include mariadb.conf.d the anchors' tuning is not read: apply it to the
    // running server instead (the same values; all of them are dynamic in MariaDB 10.11).
    const pool = Number(mysql("SELECT @@innodb_buffer_pool_size"));
    if (pool < 2 * 1024 ** 3) {
      log("mariadb: applying the anchors' tuning with SET GLOBAL (its config file is not included here)");
      mysql(
        "SET GLOBAL innodb_buffer_pool_size = 2147483648; SET GLOBAL tmp_table_size = 268435456; " +
          "SET GLOBAL max_heap_table_size = 268435456; SET GLOBAL innodb_log_file_size = 1073741824",
      );
    }
  }
  const envInfo = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    mem_gib: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    pg: psql("SHOW server_version"),
    mariadb: DBS.includes("my") ? mysql("SELECT VERSION()") : "",
    git: capture("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]),
    runs: RUNS,
  };
  record(`ENV ${JSON.stringify(envInfo)}`);
  for (const [n, d] of SIZES) {
    for (const db of DBS) {
      log(`=== ${db} N=${n} D=${d} RUNS=${RUNS} ${new Date().toISOString()}`);
      const t0 = performance.now();
      run(join(ANCHORS, `${db}_setup.sh`), [String(n), String(d)]);
      const size = tableBytes(db);
      record(
        `SETUP db=${db} n=${n} d=${d} wall_s=${((performance.now() - t0) / 1000).toFixed(1)} heap_bytes=${size.heap} total_bytes=${size.total}`,
      );
      const hooks = concordConfigs(db);
      const script = join(ANCHORS, `${db}_anchor.sh`);
      for (let rep = 1; rep <= RUNS; rep++) {
        record(`LOAD db=${db} n=${n} d=${d} run=${rep} part=anchors load1=${load1()}`);
        run(script, ["detect", "naive", "sync"], { ...env, RUNS: "1" });
        record(`LOAD db=${db} n=${n} d=${d} run=${rep} part=concord load1=${load1()}`);
        run(script, ["custom-detect", "custom-sync"], {
          ...env,
          RUNS: "1",
          TAG: "concord",
          CUSTOM_DETECT: hooks.detect,
          CUSTOM_SYNC: hooks.sync,
        });
        concordStats(db, n, d, rep);
      }
      if (db === "pg" && REDIS_ON && `${n}:${d}` === REDIS_SIZE) {
        run(join(ANCHORS, "pg_reset_b.sh"), []);
        await loadRedis(n, d);
        for (let rep = 1; rep <= RUNS; rep++) await redisRound(n, d, rep);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------- report

function parse(line) {
  const [kind, ...rest] = line.split(" ");
  const v = { kind };
  const json = line.indexOf(" {");
  const head = json >= 0 ? line.slice(0, json) : line;
  for (const kv of head.split(" ").slice(1)) {
    const i = kv.indexOf("=");
    if (i > 0) v[kv.slice(0, i)] = kv.slice(i + 1);
  }
  if (json >= 0) v.json = JSON.parse(line.slice(json + 1));
  void rest;
  return v;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const sec = (x) => `${fmt(x)} s`;
const verdict = (ok) => (ok ? "**met**" : "**not met**");

function report(resultsFile) {
  const lines = readFileSync(resultsFile, "utf8").split("\n").filter(Boolean).map(parse);
  const env = lines.find((l) => l.kind === "ENV")?.json ?? {};
  const results = lines.filter((l) => l.kind === "RESULT");
  const loads = lines.filter((l) => l.kind === "LOAD" || l.kind === "REDIS").map((l) => Number(l.load1));
  const out = [];
  const targets = [];
  const incumbent = { pg: "pg_comparator", my: "pt-table-sync" };
  const floorName = { pg: "SQL FULL JOIN", my: "SQL LEFT JOIN + anti-join" };
  const dbName = { pg: "PostgreSQL", my: "MariaDB" };
  out.push(
    "| db | N / D | tool | mode | wall median | (min–max) | client peak RSS | correct |",
    "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
  );
  const groups = new Map();
  for (const r of results) {
    const tool = r.tool.replace(/\+concord$/, "");
    const k = `${r.db}|${r.n}|${r.d}|${tool}|${r.mode}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  for (const [k, rs] of groups) {
    const [db, n, d, tool, mode] = k.split("|");
    const walls = rs.map((r) => Number(r.wall_s));
    out.push(
      `| ${db} | ${Number(n).toLocaleString("en-US")} / ${Number(d).toLocaleString("en-US")} | ${tool} | ${mode} | ${sec(median(walls))} | ${fmt(Math.min(...walls))}–${fmt(Math.max(...walls))} | ${fmt(Math.max(...rs.map((r) => Number(r.client_mb))), 0)} MB | ${rs.filter((r) => r.ok === "yes").length}/${rs.length} |`,
    );
  }
  const wall = (db, n, d, mode, tool) =>
    results
      .filter(
        (r) => r.db === db && r.n === n && r.d === d && r.mode === mode && (!tool || r.tool.startsWith(tool)),
      )
      .map((r) => ({ run: r.run_index ?? r.run, wall: Number(r.wall_s), mb: Number(r.client_mb), ok: r.ok }));
  // Pair runs by their order within the size (the harness numbers every invocation's run 1).
  const perRep = (a, b) => a.map((x, i) => (b[i] ? x.wall / b[i].wall : Number.NaN)).filter(Number.isFinite);
  const ratios = [];
  for (const [n0, d0] of SIZES) {
    const n = String(n0);
    const d = String(d0);
    for (const db of DBS) {
      const det = wall(db, n, d, "custom-detect");
      const syn = wall(db, n, d, "custom-sync");
      const inc = wall(db, n, d, "detect");
      const incSync = wall(db, n, d, "sync");
      const floor = wall(db, n, d, "naive");
      if (det.length === 0) continue;
      const m = (xs) => median(xs.map((x) => x.wall));
      const speedup = m(inc) / m(det);
      const overFloor = m(det) / m(floor);
      const repairVs = m(incSync) / m(syn);
      ratios.push(
        `| ${dbName[db]} | ${n0.toLocaleString("en-US")} / ${d0.toLocaleString("en-US")} | ${sec(m(det))} | ${sec(m(inc))} | **${fmt(speedup)}×** (${perRep(
          inc,
          det,
        )
          .map((x) => fmt(x))
          .join(", ")}) | ${sec(m(floor))} | **${fmt(overFloor)}×** (${perRep(det, floor)
          .map((x) => fmt(x))
          .join(
            ", ",
          )}) | ${sec(m(syn))} | ${sec(m(incSync))} | **${fmt(repairVs)}×** | ${fmt(Math.max(...det.map((x) => x.mb)), 0)} / ${fmt(Math.max(...syn.map((x) => x.mb)), 0)} MB |`,
      );
      const small = d0 <= 1000;
      if (small) {
        targets.push(
          `detect ${dbName[db]} ${n0}/${d0}: ≥ 3× faster than ${incumbent[db]}: ${fmt(speedup)}× — ${verdict(speedup >= 3)}`,
        );
        targets.push(
          `detect ${dbName[db]} ${n0}/${d0}: ≤ 1.5× the ${floorName[db]} floor: ${fmt(overFloor)}× — ${verdict(overFloor <= 1.5)}`,
        );
      } else {
        targets.push(
          `detect ${dbName[db]} ${n0}/${d0}: ≥ 2× faster than ${incumbent[db]}: ${fmt(speedup)}× — ${verdict(speedup >= 2)}`,
        );
        const peak = Math.max(...det.map((x) => x.mb), ...syn.map((x) => x.mb));
        targets.push(
          `peak RSS ${dbName[db]} ${n0}/${d0} (scan and repair): ≤ 150 MB: ${fmt(peak, 0)} MB — ${verdict(peak <= 150)}`,
        );
      }
      targets.push(
        `repair ${dbName[db]} ${n0}/${d0}: faster than ${incumbent[db]}'s sync: ${fmt(repairVs)}× — ${verdict(repairVs > 1)}`,
      );
      const ok = [...det, ...syn].every((x) => x.ok === "yes");
      if (!ok)
        targets.push(`correctness ${dbName[db]} ${n0}/${d0}: some Concord run failed the harness's check`);
      if (small) {
        const setup = lines.find((l) => l.kind === "SETUP" && l.db === db && l.n === n && l.d === d);
        const stats = lines.filter((l) => l.kind === "CONCORD" && l.db === db && l.n === n && l.d === d);
        if (setup && stats.length) {
          const bytes = Math.max(...stats.map((s) => s.json.stats.bytesRead));
          const frac = bytes / Number(setup.heap_bytes);
          targets.push(
            `bytes moved ${dbName[db]} ${n0}/${d0}: ≤ 2% of the table: ${bytes.toLocaleString("en-US")} B of ${Number(setup.heap_bytes).toLocaleString("en-US")} B (${fmt(frac * 100, 3)}%) — ${verdict(frac <= 0.02)}`,
          );
        }
      }
    }
  }
  const redis = lines.filter((l) => l.kind === "REDIS");
  let redisLine = "";
  if (redis.length) {
    const fl = redis.filter((r) => r.mode === "floor").map((r) => Number(r.wall_s));
    const sc = redis.filter((r) => r.mode === "scan");
    const ratio = median(sc.map((r) => Number(r.wall_s))) / median(fl);
    const per = sc.map((r, i) => Number(r.wall_s) / fl[i]);
    redisLine =
      `PostgreSQL ↔ Redis (${redis[0].n} records, ${redis[0].d} differences): Concord scan ${sec(median(sc.map((r) => Number(r.wall_s))))} ` +
      `(peak RSS ${fmt(Math.max(...sc.map((r) => Number(r.client_mb))), 0)} MB, correct ${sc.filter((r) => r.ok === "yes").length}/${sc.length}), ` +
      `Redis read floor ${sec(median(fl))}: **${fmt(ratio)}×** (per repetition ${per.map((x) => fmt(x)).join(", ")})`;
    targets.push(
      `PostgreSQL ↔ Redis scan ≤ 1.5× the Redis read floor: ${fmt(ratio)}× — ${verdict(ratio <= 1.5)}`,
    );
  }
  const doc = [
    `Measured ${env.date ?? "?"} on ${env.cpus ?? "?"} cores, ${env.mem_gib ?? "?"} GiB RAM (the shared VM), Node ${env.node ?? "?"}, ` +
      `PostgreSQL ${env.pg ?? "?"}, MariaDB ${env.mariadb || "–"}, Concord at ${env.git ?? "?"}, ` +
      `${env.runs ?? "?"} repetitions. 1-minute load average at the start of each part: median ${fmt(median(loads))} ` +
      `(${fmt(Math.min(...loads))}–${fmt(Math.max(...loads))}).`,
    "",
    "| db | N / D | Concord detect | incumbent detect | incumbent / Concord (per rep.) | SQL join floor | Concord / floor (per rep.) | Concord repair | incumbent sync | sync / repair | Concord peak RSS (scan / repair) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...ratios,
    "",
    ...(redisLine ? [redisLine, ""] : []),
    "Targets:",
    ...targets.map((t) => `- ${t}`),
    "",
    "Every run, median of the repetitions:",
    "",
    ...out,
  ];
  return doc.join("\n");
}

function writeDocs(text) {
  const file = join(ROOT, "docs", "benchmarks.md");
  const begin = "<!-- bench:stores begin (generated by bench/stores.mjs) -->";
  const end = "<!-- bench:stores end -->";
  const doc = readFileSync(file, "utf8");
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < 0) {
    log("docs/benchmarks.md has no bench:stores markers; report left in the results folder only");
    return;
  }
  writeFileSync(file, `${doc.slice(0, i + begin.length)}\n${text}\n${doc.slice(j)}`);
}

async function main() {
  if (process.argv[2] === "--redis-floor") return redisFloorChild();
  if (process.argv[2] === "--report") {
    const text = report(resolve(process.argv[3]));
    process.stdout.write(`${text}\n`);
    if (process.env.BENCH_DOCS === "1") writeDocs(text);
    return;
  }
  if (!existsSync(join(DIST, "cli", "main.js")))
    throw new Error(`no compiled Concord at ${DIST}: npm run build`);
  await measure();
  const text = report(RESULTS);
  writeFileSync(join(OUT, "report.md"), `${text}\n`);
  process.stdout.write(`${text}\n`);
  if (process.env.BENCH_DOCS !== "0") writeDocs(text);
  log(`results: ${RESULTS}`);
}

await main();
