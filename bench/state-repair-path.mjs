/** The state store's share of a repair, alone: the writes a 100k-difference repair makes, timed per phase. */
// Usage: node bench/state-repair-path.mjs [STATE_URL]   (default: a fresh SQLite file under /tmp)
//   CONCORD_DIST=/path/to/dist   the build to measure (default: this checkout's dist/)
//   BENCH_REPAIRS=100000         repairs (each: one divergence, a detected and a decided entry, a ledger
//                                claim with before/after images, a settlement with its applied entry)
//   BENCH_IDS=hashed             repair ids as a repair makes them (24 hex digits of a SHA-256, so the ledger's
//                                primary-key index takes them in no order); default sequential (`r000…`), as
//                                the runs recorded before 2026-12-07 (eleventh session) were made
// Mirrors what engine/record-plan.ts and execute/execute-repairs.ts send for the bench/memory items table:
// stages of 1,000 decisions (divergences + their audit entries), claims and settlements of 2,000. Prints one
// JSON line: CPU (user+system, ms) and wall (ms) per phase, and the totals.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const DIST = resolve(process.env.CONCORD_DIST ?? join(import.meta.dirname, "..", "dist"));
const N = Number(process.env.BENCH_REPAIRS ?? 100_000);
const file = `/tmp/concord-state-path-${process.pid}.db`;
const url = process.argv[2] ?? `sqlite:${file}`;
const { openStateStore } = await import(pathToFileURL(join(DIST, "index.js")).href);

const runId = "20261206T203309Z-bench0";
const dataset = "items";
const columns = ["payload", "version", "updated_at"];
const payload = (id, mark) =>
  `${mark}${"8251ae27e5832c49b05263a6c701a83815caed45b56c60d85d817b520d71715aebfce6ad69426e80ffb8cc025ec75e9"}${id}`;
const values = (id, mark, v) => [payload(id, mark), String(v), "2024-01-08T13:49:44.000000Z"];
const fp = (id, s) => (id * 2654435761 + s).toString(16).padStart(16, "0").slice(-16);
const at = 1796589190374;

const phases = {};
async function timed(name, work) {
  const c = process.cpuUsage();
  const w = performance.now();
  await work();
  const d = process.cpuUsage(c);
  phases[name] ??= { cpuMs: 0, wallMs: 0 };
  const p = phases[name];
  p.cpuMs += (d.user + d.system) / 1000;
  p.wallMs += performance.now() - w;
}

const state = await openStateStore(url);
await state.beginRun({ id: runId, dataset, command: "repair", startedAt: at });
const c0 = process.cpuUsage();
const w0 = performance.now();
for (let from = 0; from < N; from += 1000) {
  const ids = Array.from({ length: Math.min(1000, N - from) }, (_, i) => 2 * (from + i) + 2);
  const divergences = ids.map((id) => ({
    runId,
    dataset,
    key: [String(id)],
    class: "unversioned",
    detail: {
      replicas: {
        a: { present: true, fingerprint: fp(id, 1), values: values(id, "c", 3), version: {} },
        b: { present: true, fingerprint: fp(id, 2), values: values(id, "X", 4), version: {} },
      },
      columns,
      newest: [],
      regressed: [],
    },
  }));
  const audit = ids.flatMap((id) => [
    {
      ts: at,
      runId,
      type: "detected",
      dataset,
      key: `["${id}"]`,
      data: { class: "unversioned", columns, keyJson: [id], observed: { a: fp(id, 1), b: fp(id, 2) } },
    },
    {
      ts: at,
      runId,
      type: "decided",
      dataset,
      key: `["${id}"]`,
      data: {
        action: "propagate",
        ambiguity: 0,
        policyVersion: "975252c353e0",
        reason: "unversioned under resolve: owner: owner a's record wins",
        rule: "resolve: owner",
        source: "a",
        targets: ["b"],
      },
    },
  ]);
  await timed("plan stage (divergences + detected/decided)", () => state.recordStage({ divergences, audit }));
}
for (let from = 0; from < N; from += 2000) {
  const ids = Array.from({ length: Math.min(2000, N - from) }, (_, i) => 2 * (from + i) + 2);
  const entries = ids.map((id) => ({
    id:
      process.env.BENCH_IDS === "hashed"
        ? createHash("sha256").update(String(id)).digest("hex").slice(0, 24)
        : `r${id.toString(16).padStart(23, "0")}`,
    runId,
    dataset,
    key: [String(id)],
    target: "b",
    expected: fp(id, 2),
    nextFingerprint: fp(id, 1),
    before: values(id, "X", 4),
    after: values(id, "c", 3),
    outcome: "pending",
    attempts: 1,
    updatedAt: at,
  }));
  await timed("claim (ledger with images)", () => state.claimRepairs(entries));
  await timed("settle (outcome + applied entry)", () =>
    state.settleRepairs(
      entries.map((e) => ({ id: e.id, runId, outcome: "applied", attempts: 1, updatedAt: at })),
      entries.map((e) => ({
        ts: at,
        runId,
        type: "applied",
        dataset,
        key: `["${e.key[0]}"]`,
        // In the members' sorted order, as execute-repairs.ts builds it.
        data: {
          action: "propagate",
          after: e.after,
          before: e.before,
          columns,
          expected: e.expected,
          keyJson: [Number(e.key[0])],
          repair: e.id,
          target: "b",
          written: e.nextFingerprint,
        },
      })),
    ),
  );
}
const d = process.cpuUsage(c0);
const total = { cpuMs: (d.user + d.system) / 1000, wallMs: performance.now() - w0 };
await state.close();
if (!process.argv[2]) for (const s of ["", "-wal", "-shm"]) rmSync(`${file}${s}`, { force: true });
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v)]));
console.log(
  JSON.stringify({
    dist: DIST,
    state: url.split(":")[0],
    repairs: N,
    ids: process.env.BENCH_IDS === "hashed" ? "hashed" : "sequential",
    total: round(total),
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, round(v)])),
    load1: Number((await import("node:os")).loadavg()[0].toFixed(1)),
  }),
);
