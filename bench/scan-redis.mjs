/** Redis benchmark: detection between a SQLite (or in-memory) replica and a Redis one, against the Redis read floor. Reads only. */
// Usage: npm run bench:redis
//   BENCH_SIZE=1000000 BENCH_DIFFS=1000 BENCH_REPS=3 BENCH_OTHER=sqlite|memory
//   BENCH_MODES=floor,ahead,stream,sqlite,detect (which children to run, in this order per repetition)
//   BENCH_SCAN_COUNT=1000 BENCH_READ_AHEAD=16 BENCH_PARTITION_ROWS=<detect's partitionRows>
//   BENCH_REDIS_URL=redis://127.0.0.1:6379/14 (a database the benchmark may fill; its keys are under "bench:")
//   CONCORD_DIST=<compiled src> (default dist/)
//
// Replica a (SQLite file, or a MemoryTable loaded from it) holds N customers with ids 1..N; replica b is
// Redis hashes under "bench:customer:" with D differences at keys k·2654435761 mod N (k mod 10 in 0..3
// updates the record, 4..6 deletes it, 7..9 inserts id N + k + 1). Per repetition, each in its own process:
//   floor   SCAN MATCH bench:customer:* COUNT 1000 and one pipelined HGETALL per page (with the next SCAN
//           in the same round trip): reading every Redis record once and nothing else;
//   ahead   the same reads with the connector's SCAN read-ahead (RedisSession.scanPages), no decoding;
//   stream  RedisConnector.streamFingerprints over the full range (reading, canonicalising and
//           fingerprinting every record);
//   sqlite  the other replica's stream alone (SqliteConnector.streamFingerprints);
//   detect  detectDivergences(a, redis), checked to report exactly the D differing keys.
// Times are measured inside the child around the work (no start-up); CPU is the child's user + system time
// (for memory, including loading the table); peak RSS is the child's maxRSS.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { Redis } from "ioredis";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DATA = join(ROOT, "bench", ".data");
const DIST = resolve(process.env.CONCORD_DIST ?? join(ROOT, "dist"));
const SELF = fileURLToPath(import.meta.url);
const N = Number(process.env.BENCH_SIZE ?? 1_000_000);
const D = Number(process.env.BENCH_DIFFS ?? 1000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const OTHER = process.env.BENCH_OTHER ?? "sqlite";
const URL_ = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/14";
const PREFIX = "bench:customer:";
const SCAN_COUNT = Number(process.env.BENCH_SCAN_COUNT ?? 1000);
const READ_AHEAD = Number(process.env.BENCH_READ_AHEAD ?? 16);
const TUNING = { scanCount: SCAN_COUNT, readAhead: READ_AHEAD };
const MODES = (process.env.BENCH_MODES ?? "floor,ahead,stream,detect").split(",");
const META = "bench:meta";
/** Bump when the generated data changes. */
const LAYOUT = 1;

const SHAPE = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "email", type: "text" },
    { name: "balance", type: "decimal" },
    { name: "active", type: "boolean" },
    { name: "tier", type: "text" },
    { name: "updated_at", type: "timestamp" },
    { name: "version", type: "integer" },
  ],
};

const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Leslie"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Allen"];
const TIERS = ["platinum", "gold", "gold", "silver", "basic", "basic", "basic", "basic", "basic", "basic"];

/** The record of sequence number i (values as an application writes them: SQLite natives, Redis text). */
function row(i, bump = 0) {
  const first = FIRST[i % 10];
  const last = LAST[Math.floor(i / 10) % LAST.length];
  const cents = (i * 7919) % 10_000_000;
  const at = new Date((1672531200 + ((i * 104729) % 31536000) + bump * 3600) * 1000);
  return {
    id: i,
    name: `${first} ${last}`,
    email: `${first.toLowerCase()}.${last.toLowerCase()}${i}@example.com`,
    balance: ((cents + bump * 1050) / 100).toFixed(2),
    active: i % 7 !== 0,
    tier: TIERS[i % 10],
    updated_at: at.toISOString().replace("T", " ").slice(0, 19),
    version: 1 + (i % 9) + bump,
  };
}

/** The differing keys and what replica b (Redis) does to each. */
function diffs() {
  const out = new Map();
  for (let k = 0; k < D; k++) {
    const id = ((k * 2654435761) % N) + 1;
    const kind = k % 10 < 4 ? "update" : k % 10 < 7 ? "delete" : "insert";
    if (kind === "insert") out.set(N + k + 1, kind);
    else out.set(id, kind);
  }
  return out;
}

function hashFields(r) {
  return [
    "id",
    String(r.id),
    "name",
    r.name,
    "email",
    r.email,
    "balance",
    r.balance,
    "active",
    r.active ? "true" : "false",
    "tier",
    r.tier,
    "updated_at",
    r.updated_at,
    "version",
    String(r.version),
  ];
}

const sqlitePath = () => join(DATA, `redis-bench-${N}.db`);

async function generate() {
  mkdirSync(DATA, { recursive: true });
  const want = JSON.stringify({ n: N, d: D, layout: LAYOUT });
  const redis = new Redis(URL_);
  const started = performance.now();
  const d = diffs();
  if ((await redis.get(META)) !== want) {
    log(`loading ${N} records into ${URL_} under ${PREFIX} …`);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", "bench:*", "COUNT", 10000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
    const inflight = [];
    let p = redis.pipeline();
    let queued = 0;
    const flush = async () => {
      inflight.push(p.exec());
      p = redis.pipeline();
      queued = 0;
      if (inflight.length >= 8) await inflight.shift();
    };
    const put = async (r) => {
      p.hset(PREFIX + r.id, ...hashFields(r));
      if (++queued >= 5000) await flush();
    };
    for (let i = 1; i <= N; i++) {
      const kind = d.get(i);
      if (kind === "delete") continue;
      await put(row(i, kind === "update" ? 1 : 0));
    }
    for (const [id, kind] of d) if (kind === "insert") await put(row(id));
    await flush();
    await Promise.all(inflight);
    await redis.set(META, want);
    log(`  loaded in ${sec(performance.now() - started)}`);
  }
  await redis.quit();

  if (!existsSync(sqlitePath())) {
    const tmp = `${sqlitePath()}.tmp`;
    rmSync(tmp, { force: true });
    const db = new Database(tmp);
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
      balance DECIMAL(12,2) NOT NULL, active BOOLEAN NOT NULL, tier TEXT NOT NULL,
      updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL)`);
    const insert = db.prepare("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= N; i++) {
        const r = row(i);
        insert.run(r.id, r.name, r.email, r.balance, r.active ? 1 : 0, r.tier, r.updated_at, r.version);
      }
    })();
    db.close();
    const { renameSync } = await import("node:fs");
    renameSync(tmp, sqlitePath());
  }
  return d;
}

// ---------------------------------------------------------------------------------------------- children

async function floorChild() {
  const redis = new Redis(URL_);
  await redis.ping();
  const started = performance.now();
  let rows = 0;
  let [cursor, names] = await redis.scan("0", "MATCH", `${PREFIX}*`, "COUNT", 1000);
  for (;;) {
    const p = redis.pipeline();
    for (const name of names) p.hgetall(name);
    if (cursor !== "0") p.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1000);
    const results = await p.exec();
    for (let i = 0; i < names.length; i++) if (results[i][1].id !== undefined) rows++;
    if (cursor === "0") break;
    [cursor, names] = results.at(-1)[1];
  }
  const ms = performance.now() - started;
  await redis.quit();
  return { rows, ms };
}

/** The floor again, with the connector's SCAN read-ahead (RedisSession.scanPages) and HGETALL: no decoding. */
async function floorAheadChild() {
  const { RedisSession } = await import(
    pathToFileURL(join(DIST, "connectors", "redis", "redis-session.js")).href
  );
  const { emptyStats } = await import(pathToFileURL(join(DIST, "connectors", "connector.js")).href);
  const client = new Redis(URL_);
  await client.ping();
  const redis = new RedisSession(client, "", emptyStats(), "");
  const started = performance.now();
  let rows = 0;
  const reader = {
    read: (p, names) => {
      for (const name of names) p.hgetall(name);
    },
    split: (results) => results,
  };
  for await (const page of redis.scanPages(`${PREFIX}*`, SCAN_COUNT, READ_AHEAD, reader)) {
    for (const r of page.replies) if (r.id !== undefined) rows++;
  }
  const ms = performance.now() - started;
  await client.quit();
  return { rows, ms };
}

async function streamChild() {
  const { openRedisConnector } = await import(
    pathToFileURL(join(DIST, "connectors", "redis", "redis-connector.js")).href
  );
  const redis = await openRedisConnector(URL_, { prefix: PREFIX, label: "bench.redis", ...TUNING });
  const started = performance.now();
  let rows = 0;
  for await (const batch of redis.streamFingerprints(SHAPE, { lo: null, hi: null }, 1000))
    rows += batch.length;
  const ms = performance.now() - started;
  await redis.close();
  return { rows, ms };
}

/** The other replica alone: SqliteConnector.streamFingerprints over its full range. */
async function sqliteChild() {
  const { openSqliteConnector } = await import(
    pathToFileURL(join(DIST, "connectors", "sqlite", "sqlite-connector.js")).href
  );
  const a = openSqliteConnector(sqlitePath(), "customers", { readonly: true });
  const started = performance.now();
  let rows = 0;
  for await (const batch of a.streamFingerprints(SHAPE, { lo: null, hi: null }, 1000)) rows += batch.length;
  const ms = performance.now() - started;
  await a.close();
  return { rows, ms };
}

async function detectChild() {
  const import_ = (p) => import(pathToFileURL(join(DIST, ...p.split("/"))).href);
  const { openRedisConnector } = await import_("connectors/redis/redis-connector.js");
  const { openSqliteConnector } = await import_("connectors/sqlite/sqlite-connector.js");
  const { MemoryConnector, MemoryTable } = await import_("connectors/memory/memory-connector.js");
  const { detectDivergences } = await import_("detect/detect-divergences.js");
  let a;
  if (OTHER === "memory") {
    const table = new MemoryTable(SHAPE.key, SHAPE.columns);
    const sqlite = openSqliteConnector(sqlitePath(), "customers", { readonly: true });
    const all = [...SHAPE.key, ...SHAPE.columns];
    // Canonical rows through the SQLite connector's own reading, so both replicas hold the same values.
    const ids = [];
    for await (const batch of sqlite.streamFingerprints(SHAPE, { lo: null, hi: null }, 10000))
      for (const kf of batch) ids.push(kf.key);
    for (let i = 0; i < ids.length; i += 10000) {
      for (const rec of await sqlite.fetchRecords(SHAPE, ids.slice(i, i + 10000))) {
        table.put(Object.fromEntries(all.map((c, j) => [c.name, [...rec.key, ...rec.values][j]])));
      }
    }
    await sqlite.close();
    a = new MemoryConnector(table);
  } else {
    a = openSqliteConnector(sqlitePath(), "customers", { readonly: true });
  }
  const b = await openRedisConnector(URL_, { prefix: PREFIX, label: "bench.redis", ...TUNING });
  const options = process.env.BENCH_PARTITION_ROWS
    ? { partitionRows: Number(process.env.BENCH_PARTITION_ROWS) }
    : {};
  const started = performance.now();
  const keys = [];
  for await (const batch of detectDivergences(
    SHAPE,
    [
      { name: "a", connector: a },
      { name: "b", connector: b },
    ],
    options,
  )) {
    for (const o of batch) keys.push(Number(o.key[0]));
  }
  const ms = performance.now() - started;
  await a.close();
  await b.close();
  return { rows: keys.length, keys: keys.sort((x, y) => x - y), ms, stats: b.stats };
}

function child(mode) {
  return new Promise((ok, fail) => {
    const c = spawn(process.execPath, [SELF, `--${mode}`], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const out = [];
    c.stdout.on("data", (x) => out.push(x));
    c.on("error", fail);
    c.on("close", (code) => {
      if (code !== 0) return fail(new Error(`${mode} exited ${code}`));
      ok(JSON.parse(Buffer.concat(out).toString("utf8")));
    });
  });
}

// ---------------------------------------------------------------------------------------------- report

function log(line) {
  process.stderr.write(`${line}\n`);
}
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

async function main() {
  const mode = process.argv[2]?.replace(/^--/, "");
  if (mode) {
    const run = {
      floor: floorChild,
      ahead: floorAheadChild,
      stream: streamChild,
      sqlite: sqliteChild,
      detect: detectChild,
    }[mode];
    const cpu = process.cpuUsage();
    const result = await run();
    const used = process.cpuUsage(cpu);
    result.cpuMs = (used.user + used.system) / 1000;
    result.rssKiB = process.resourceUsage().maxRSS;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const d = await generate();
  const expected = [...d.keys()].sort((x, y) => x - y);
  log(`N=${N}, D=${D}, other replica: ${OTHER}, ${cpus().length} CPUs, node ${process.version}`);
  const runs = Object.fromEntries(MODES.map((m) => [m, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const mode of MODES) {
      const r = await child(mode);
      if (mode === "detect") {
        const same = r.keys.length === expected.length && r.keys.every((k, i) => k === expected[i]);
        if (!same) throw new Error(`detect reported ${r.keys.length} keys, expected ${expected.length}`);
      }
      runs[mode].push(r);
      log(
        `  rep ${rep + 1} ${mode.padEnd(6)} ${sec(r.ms)} (cpu ${sec(r.cpuMs)})  rows ${r.rows}  peak RSS ${mib(r.rssKiB)}`,
      );
    }
  }
  const base = runs.floor ?? runs[MODES[0]];
  const f = median(base.map((r) => r.ms));
  const fc = median(base.map((r) => r.cpuMs));
  for (const mode of MODES) {
    const t = median(runs[mode].map((r) => r.ms));
    const c = median(runs[mode].map((r) => r.cpuMs));
    log(
      `median ${mode.padEnd(6)} ${sec(t)} (${(t / f).toFixed(2)}× floor)  cpu ${sec(c)} (${(c / fc).toFixed(2)}×)  ` +
        `peak RSS ${mib(median(runs[mode].map((r) => r.rssKiB)))}`,
    );
  }
  if (runs.detect.length) log(`redis stats of the last detect: ${JSON.stringify(runs.detect.at(-1).stats)}`);
}

await main();
