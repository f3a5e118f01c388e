/** Times the SQLite state store's divergence rows alone: a 1M/100k scan's 100,000 divergences into a fresh state file. */
// Usage: node bench/state-divergence-rows.mjs DIST_ROOT [N=100000] [PIECE=10000]
// Builds N divergences shaped like bench/memory/pg-setup.sh's (40% updated: both rows, every column differing;
// 30% deleted, 30% inserted: one row), then records them a piece at a time as a scan's segments do (one
// `recordStage` per piece), into a new state file. Prints one RESULT line: CPU (user, system) and wall of the
// recording alone, the file's size, and an MD5 of the divergences as `listDivergences` reads them back.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(process.argv[2] ?? ".");
const n = Number(process.argv[3] ?? 100_000);
const piece = Number(process.argv[4] ?? 10_000);
const { openStateStore } = await import(join(root, "dist/state/open-state-store.js"));
const { fingerprintRow } = await import(join(root, "dist/core/fingerprint.js"));

const hex = (s) => createHash("md5").update(s).digest("hex");
const row = (id, tweak) => {
  const payload = hex(String(id)) + hex(`${id}x`) + hex(`${id}y`) + String(id % 10000).padStart(4, "0");
  const values = tweak
    ? [
        `X${payload.slice(1)}`,
        String(2 + (id % 5)),
        new Date(Date.UTC(2024, 0, 2) + id * 1000).toISOString().replace("Z", "000Z"),
      ]
    : [
        payload,
        String(1 + (id % 5)),
        new Date(Date.UTC(2024, 0, 1) + id * 1000).toISOString().replace("Z", "000Z"),
      ];
  const key = [String(id)];
  return { present: true, fingerprint: fingerprintRow(key, values), values };
};
const divergences = [];
for (let i = 0; i < n; i++) {
  const id = 2 * i + (i % 10 >= 7 ? 1 : 0);
  const kind = i % 10 < 4 ? "upd" : i % 10 < 7 ? "del" : "ins";
  const replicas =
    kind === "upd"
      ? { a: row(id, false), b: row(id, true) }
      : kind === "del"
        ? { a: row(id, false), b: { present: false } }
        : { a: { present: false }, b: row(id, false) };
  divergences.push({
    key: [String(id)],
    replicas,
    class: kind === "upd" ? "unversioned" : "missing",
    columns: kind === "upd" ? ["payload", "version", "updated_at"] : [],
    newest: kind === "upd" ? [] : [kind === "del" ? "a" : "b"],
    regressed: [],
  });
}

const dir = mkdtempSync(join(tmpdir(), "concord-divrows-"));
const file = join(dir, "state.db");
const state = await openStateStore(`sqlite:${file}`);
const runId = "run-0000000000000000";
await state.beginRun({ id: runId, dataset: "items", command: "scan", startedAt: 1 });
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < n; i += piece) {
  const part = divergences.slice(i, i + piece).map((d) => ({
    runId,
    dataset: "items",
    key: d.key,
    class: d.class,
    detail: { replicas: d.replicas, columns: d.columns, newest: d.newest, regressed: d.regressed },
  }));
  await state.recordStage({ versions: [], divergences: part });
}
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
const back = await state.listDivergences(runId);
const md5 = createHash("md5");
for (const d of back) md5.update(`${JSON.stringify(d)}\n`);
await state.close();
const bytes = statSync(file).size;
rmSync(dir, { recursive: true, force: true });
console.log(
  `RESULT user_ms=${(cpu.user / 1000).toFixed(0)} sys_ms=${(cpu.system / 1000).toFixed(0)} wall_ms=${wall.toFixed(0)} rows=${back.length} file_mb=${(bytes / 1e6).toFixed(1)} md5=${md5.digest("hex")}`,
);
