/** Repair benchmark (SQLite): repairs per second with verification, ledger and audit, against the raw-write floor. */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import {
  openSqliteConnector,
  parseConfig,
  planDataset,
  recordPlan,
  repairDataset,
  SqliteStateStore,
  scanDataset,
} from "../dist/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DATA = join(ROOT, "bench", ".data");
const DOCS = join(ROOT, "docs", "benchmarks.md");
const N = Number(process.env.BENCH_REPAIR_ROWS ?? 1_000_000);
const STALE = Number(process.env.BENCH_REPAIR_STALE ?? 10_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);

const TABLE = `CREATE TABLE customers (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, balance DECIMAL(12,2) NOT NULL,
  active BOOLEAN NOT NULL, tier TEXT NOT NULL, updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL)`;
const ROW = `'name ' || i, 'user' || i || '@example.com', round((i * 7919 % 10000000) / 100.0, 2), i % 7 <> 0,
  CASE i % 4 WHEN 0 THEN 'gold' WHEN 1 THEN 'silver' ELSE 'basic' END,
  datetime(1672531200 + (i * 104729) % 31536000, 'unixepoch'), 2 + i % 9`;

/** a (the owner, current) and b0 (pristine copy of the stale replica); b is rebuilt from b0 before each run. */
function generate() {
  mkdirSync(DATA, { recursive: true });
  const a = join(DATA, `repair-${N}-${STALE}-a.db`);
  const b0 = join(DATA, `repair-${N}-${STALE}-b0.db`);
  if (existsSync(a) && existsSync(b0)) return { a, b0 };
  for (const p of [a, b0]) rmSync(p, { force: true });
  const da = new Database(a);
  da.pragma("journal_mode = OFF");
  da.exec(TABLE);
  da.exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${N})
           INSERT INTO customers SELECT i, ${ROW} FROM seq`);
  da.close();
  copyFileSync(a, b0);
  const db = new Database(b0);
  db.pragma("journal_mode = OFF");
  // STALE keys spread over the key space hold an older version (and older values) on b.
  db.exec(`WITH RECURSIVE ks(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM ks WHERE k < ${STALE - 1})
           UPDATE customers SET version = version - 1, balance = round(balance - 1, 2), tier = 'stale'
           WHERE id IN (SELECT (k * 2654435761) % ${N} + 1 FROM ks)`);
  db.close();
  return { a, b0 };
}

/** The floor: the same rows written straight into b in one transaction, no checks, no ledger, no audit. */
function floor(a, b) {
  const src = new Database(a, { readonly: true });
  const dst = new Database(b);
  dst.pragma("journal_mode = WAL");
  const ids = [];
  for (let k = 0; k < STALE; k++) ids.push(Number((BigInt(k) * 2654435761n) % BigInt(N)) + 1);
  const read = src
    .prepare("SELECT name, email, balance, active, tier, updated_at, version FROM customers WHERE id = ?")
    .raw();
  const write = dst.prepare(
    "UPDATE customers SET name = ?, email = ?, balance = ?, active = ?, tier = ?, updated_at = ?, version = ? WHERE id = ?",
  );
  const t = performance.now();
  dst.transaction(() => {
    for (const id of ids) write.run(...read.get(id), id);
  })();
  const ms = performance.now() - t;
  src.close();
  dst.close();
  return ms;
}

/** Wraps the state store so the time spent in ledger and audit calls is measured. */
function timed(state, spent) {
  return new Proxy(state, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return async (...args) => {
        const t = performance.now();
        try {
          return await v.apply(target, args);
        } finally {
          spent[prop] = (spent[prop] ?? 0) + (performance.now() - t);
        }
      };
    },
  });
}

async function run(a, b0) {
  const b = join(DATA, "repair-b.db");
  const stateFile = join(DATA, "repair-state.db");
  for (const p of [b, `${b}-wal`, `${b}-shm`, stateFile, `${stateFile}-wal`, `${stateFile}-shm`])
    rmSync(p, { force: true });
  copyFileSync(b0, b);
  const floorMs = floor(a, b);
  copyFileSync(b0, b);
  for (const p of [`${b}-wal`, `${b}-shm`]) rmSync(p, { force: true });

  const cfg = parseConfig(
    `datasets:
  customers:
    key: id
    versions: { counter: version }
    replicas:
      a: { url: "sqlite:${a}", table: customers }
      b: { url: "sqlite:${b}", table: customers }
    policy: { owner: a, resolve: highest-version }
`,
    join(DATA, "concord.yaml"),
  );
  const ds = cfg.datasets[0];
  const replicas = [
    { name: "a", connector: openSqliteConnector(a, "customers") },
    { name: "b", connector: openSqliteConnector(b, "customers") },
  ];
  const spent = {};
  const raw = SqliteStateStore.open(stateFile);
  const state = timed(raw, spent);
  const ctx = { runId: "bench", state, now: Date.now, command: "repair" };
  const t0 = performance.now();
  const scan = await scanDataset(ds, replicas, ctx);
  const t1 = performance.now();
  const plan = planDataset(ds, scan);
  await recordPlan(plan, ctx);
  const t2 = performance.now();
  const results = await profiled(() => repairDataset(plan, replicas, ctx));
  const t3 = performance.now();
  const applied = results.filter((r) => r.outcome === "applied").length;
  const check = await scanDataset(ds, replicas, { ...ctx, runId: "check" });
  for (const r of replicas) await r.connector.close();
  await raw.close();
  if (applied !== STALE || check.divergences.length !== 0) {
    throw new Error(
      `expected ${STALE} applied and a clean rescan, got ${applied} applied, ${check.divergences.length} left`,
    );
  }
  const stateMs = Object.entries(spent)
    .filter(([k]) =>
      [
        "appendAudit",
        "settleRepairs",
        "recordRepairs",
        "getRepairs",
        "openEscalations",
        "recordDivergences",
        "rememberVersions",
        "lastSeenVersions",
      ].includes(k),
    )
    .reduce((n, [, ms]) => n + ms, 0);
  return {
    floorMs,
    scanMs: t1 - t0,
    planMs: t2 - t1,
    repairMs: t3 - t2,
    totalMs: t3 - t0,
    stateMs,
    auditLedgerMs:
      (spent.appendAudit ?? 0) +
      (spent.settleRepairs ?? 0) +
      (spent.recordRepairs ?? 0) +
      (spent.getRepairs ?? 0),
  };
}

/** With BENCH_PROFILE=file.cpuprofile, records a V8 CPU profile of the execute phase (the last rep's). */
async function profiled(work) {
  const out = process.env.BENCH_PROFILE;
  if (!out) return work();
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await work();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(out, JSON.stringify(profile));
    session.disconnect();
  }
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function main() {
  const { a, b0 } = generate();
  const runs = [];
  for (let i = 0; i < REPS; i++) {
    const r = await run(a, b0);
    runs.push(r);
    console.error(
      `rep ${i + 1}: scan ${(r.scanMs / 1000).toFixed(2)} s, plan+record ${(r.planMs / 1000).toFixed(2)} s, repair ${(r.repairMs / 1000).toFixed(2)} s, floor ${(r.floorMs / 1000).toFixed(2)} s`,
    );
  }
  const m = (k) => median(runs.map((r) => r[k]));
  const repairsPerSec = STALE / (m("repairMs") / 1000);
  const runPerSec = STALE / ((m("planMs") + m("repairMs")) / 1000);
  const share = median(runs.map((r) => r.auditLedgerMs / r.totalMs));
  const text = `## Repair (SQLite)

${N.toLocaleString("en-US")}-row replicas, ${STALE.toLocaleString("en-US")} rows stale on one side (older version, spread over the key
space), policy \`owner: a, resolve: highest-version\`. Measured in-process through the engine (scan → plan →
record plan → conditional writes → re-read to verify → ledger + audit), median of ${REPS}. The floor is the same
${STALE.toLocaleString("en-US")} rows written straight into the replica in one transaction (read from the owner, no check,
no verification, no ledger, no audit), measured in the same run. Every run is checked: ${STALE.toLocaleString("en-US")} applied and a
clean re-scan.

Reproduce: \`npm run bench:repair\` (\`BENCH_REPAIR_ROWS\`, \`BENCH_REPAIR_STALE\`, \`BENCH_REPS\`).

| phase | median | per repair |
| --- | ---: | ---: |
| scan (detect + classify ${STALE.toLocaleString("en-US")} keys) | ${(m("scanMs") / 1000).toFixed(2)} s | |
| plan + record (decisions, audit \`detected\`/\`decided\`) | ${(m("planMs") / 1000).toFixed(2)} s | ${((m("planMs") * 1000) / STALE).toFixed(0)} µs |
| execute (ledger pending → conditional write → verify → ledger + audit) | ${(m("repairMs") / 1000).toFixed(2)} s | ${((m("repairMs") * 1000) / STALE).toFixed(0)} µs |
| floor: raw writes of the same rows | ${(m("floorMs") / 1000).toFixed(2)} s | ${((m("floorMs") * 1000) / STALE).toFixed(0)} µs |

- **Repairs per second with verification: ${Math.round(repairsPerSec).toLocaleString("en-US")}/s** (execute phase; target ≥ 10,000/s: ${repairsPerSec >= 10_000 ? "met" : "not met"}); ${Math.round(runPerSec).toLocaleString("en-US")}/s including planning and recording the plan.
- Execute / floor: ${(m("repairMs") / m("floorMs")).toFixed(1)}× (the price of the conditional check, verification, ledger and audit).
- Audit + ledger: ${(share * 100).toFixed(0)}% of the whole run (scan included).
`;
  console.log(text);
  if (process.env.BENCH_DOCS !== "0") {
    const heading = "## Repair (SQLite)";
    let doc = existsSync(DOCS) ? readFileSync(DOCS, "utf8") : "# Benchmarks\n";
    const at = doc.indexOf(heading);
    if (at >= 0) {
      const next = doc.indexOf("\n## ", at + heading.length);
      doc = doc.slice(0, at) + text + (next >= 0 ? doc.slice(next) : "");
    } else doc = `${doc.trimEnd()}\n\n${text}`;
    writeFileSync(DOCS, `${doc.trimEnd()}\n`);
  }
}

await main();
