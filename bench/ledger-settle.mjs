/** A ledger's settlement alone: 100k claimed repairs settled in batches of 2,000, no audit entries. */
// Usage: node bench/ledger-settle.mjs [unique|twice]
//   CONCORD_DIST=/path/to/dist   the build to measure (default: this checkout's dist/)
//   BENCH_STATE=postgres://…     a PostgreSQL state store (a schema of its own, bench_ledger_<pid>, dropped after);
//                                default a SQLite file in /tmp
//   BENCH_REPAIRS=100000         repairs claimed (untimed) and then settled (timed)
//   unique (default): each batch settles 2,000 ids once, as executeRepairs does; twice: each batch names every
//   id twice (failed, then applied), the batch shape that took the ledger's older path before 2026-12-07.
// Prints one JSON line: CPU (user+system, ms) and wall (ms) of the settlements, and of the claims before them.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const DIST = resolve(process.env.CONCORD_DIST ?? join(import.meta.dirname, "..", "dist"));
const N = Number(process.env.BENCH_REPAIRS ?? 100_000);
const shape = process.argv[2] ?? "unique";
const file = `/tmp/concord-ledger-settle-${process.pid}.db`;
const pgUrl = process.env.BENCH_STATE;
const schema = `bench_ledger_${process.pid}`;
const { openStateStore } = await import(pathToFileURL(join(DIST, "index.js")).href);

const runId = "20261207T140000Z-bench0";
const at = 1796589190374;
const id = (n) => createHash("sha256").update(String(n)).digest("hex").slice(0, 24);
const state = await openStateStore(
  pgUrl ? `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}` : `sqlite:${file}`,
);
const batches = [];
let claimCpu = 0;
let claimWall = 0;
for (let from = 0; from < N; from += 2000) {
  const entries = Array.from({ length: Math.min(2000, N - from) }, (_, i) => ({
    id: id(from + i),
    runId,
    dataset: "items",
    key: [String(from + i)],
    target: "b",
    expected: "00ff00ff00ff00ff",
    nextFingerprint: "0123456789abcdef",
    before: ["x", "1"],
    after: ["y", "2"],
    outcome: "pending",
    attempts: 1,
    updatedAt: at,
  }));
  const cc = process.cpuUsage();
  const cw = performance.now();
  await state.claimRepairs(entries);
  const cd = process.cpuUsage(cc);
  claimCpu += cd.user + cd.system;
  claimWall += performance.now() - cw;
  const settle = (outcome) => entries.map((e) => ({ id: e.id, runId, outcome, attempts: 1, updatedAt: at }));
  batches.push(shape === "twice" ? [...settle("failed"), ...settle("applied")] : settle("applied"));
}
const c0 = process.cpuUsage();
const w0 = performance.now();
for (const b of batches) await state.settleRepairs(b, []);
const d = process.cpuUsage(c0);
const wallMs = performance.now() - w0;
const applied = (await state.listRepairs({ outcome: "applied" })).length;
await state.close();
if (pgUrl) {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
} else for (const s of ["", "-wal", "-shm"]) rmSync(`${file}${s}`, { force: true });
console.log(
  JSON.stringify({
    dist: DIST,
    state: pgUrl ? "postgres" : "sqlite",
    shape,
    repairs: N,
    applied,
    cpuMs: Math.round((d.user + d.system) / 1000),
    wallMs: Math.round(wallMs),
    claimCpuMs: Math.round(claimCpu / 1000),
    claimWallMs: Math.round(claimWall),
    load1: Number((await import("node:os")).loadavg()[0].toFixed(1)),
  }),
);
