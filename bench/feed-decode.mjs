/**
 * What logical decoding costs the PostgreSQL server per write for Concord's publication: the whole row
 * against a column list of the key, on a narrow (3 columns) and a wide table (20 columns: jsonb, a 500-byte
 * text, numerics, timestamps, texts).
 *
 * Usage: node bench/feed-decode.mjs   (needs pgbench; BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test,
 *   BENCH_DECODE_WRITES=50000 single-row UPDATE transactions, BENCH_DECODE_REPS=3 slots per variant)
 *
 * In a database of its own (created and dropped here, so other sessions' transactions are not decoded in
 * full), each variant's slots are created, the writes made once (pgbench, 2 clients), and then each slot
 * decoded by `pg_logical_slot_get_binary_changes` (pgoutput, proto 1) in a backend of its own, whose CPU
 * (utime + stime from /proc, 10 ms ticks) is the figure: the walsender's work for the slot without the
 * streaming around it. Slots of the variants alternate, so all read the same WAL under the same load.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

const BASE = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const N = Number(process.env.BENCH_DECODE_WRITES ?? 50_000);
const REPS = Number(process.env.BENCH_DECODE_REPS ?? 3);
const DB = `concord_bench_decode_${process.pid}`;
const url = new URL(BASE);
const admin = new pg.Client({ connectionString: BASE });
await admin.connect();
await admin.query(`CREATE DATABASE ${DB}`);
url.pathname = `/${DB}`;
const c = new pg.Client({ connectionString: url.toString() });
const dir = mkdtempSync(join(tmpdir(), "concord-bench-decode-"));
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const results = [];
try {
  await c.connect();
  const wide = Array.from({ length: 16 }, (_, i) => [
    `c${i}`,
    ["numeric", "timestamptz", "text", "text"][i % 4],
    ["g * 1.25", "now()", "'text ' || g", "'text ' || g"][i % 4],
  ]);
  await c.query(`CREATE TABLE narrow (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL);
    INSERT INTO narrow SELECT g, 'item ' || g, 0 FROM generate_series(1, 100000) g;
    CREATE TABLE wide (id bigint PRIMARY KEY, n bigint NOT NULL, doc jsonb, body text,
      ${wide.map(([n, t]) => `${n} ${t}`).join(", ")});
    INSERT INTO wide SELECT g, 0, jsonb_build_object('a', g, 'b', repeat('x', 200), 'c', jsonb_build_array(1, 2, 3, 'four')),
      repeat('body ', 100), ${wide.map(([, , v]) => v).join(", ")} FROM generate_series(1, 100000) g;`);
  for (const table of ["narrow", "wide"]) {
    await c.query(`CREATE PUBLICATION ${table}_row FOR TABLE ${table}`);
    await c.query(`CREATE PUBLICATION ${table}_key FOR TABLE ${table} (id)`);
    const slots = [];
    for (let r = 0; r < REPS; r++)
      for (const variant of ["row", "key"]) slots.push({ slot: `${table}_${variant}_${r}`, variant });
    for (const s of slots)
      await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [s.slot]);
    const script = join(dir, `${table}.sql`);
    writeFileSync(script, `\\set id random(1, 100000)\nUPDATE ${table} SET n = n + 1 WHERE id = :id;\n`);
    const run = spawnSync(
      "pgbench",
      [
        "-h",
        url.hostname,
        "-p",
        url.port || "5432",
        "-U",
        url.username || "postgres",
        "-n",
        "-c",
        "2",
      ].concat(["-t", String(N / 2), "-f", script, DB]),
      { encoding: "utf8" },
    );
    if (run.status !== 0) throw new Error(`pgbench failed: ${run.stderr}`);
    for (const s of slots) {
      const d = new pg.Client({ connectionString: url.toString() });
      await d.connect();
      const { rows } = await d.query("SELECT pg_backend_pid() AS pid");
      const before = cpuMs(rows[0].pid);
      const { rows: got } = await d.query(
        `SELECT count(*)::int AS messages, coalesce(sum(length(data)), 0)::bigint AS bytes
           FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`,
        [s.slot, `${table}_${s.variant}`],
      );
      const ms = cpuMs(rows[0].pid) - before;
      await d.end();
      await c.query("SELECT pg_drop_replication_slot($1)", [s.slot]);
      results.push({
        table,
        variant: s.variant,
        writes: N,
        cpuMs: ms,
        bytes: Number(got[0].bytes),
        messages: got[0].messages,
      });
    }
    for (const variant of ["row", "key"]) {
      const mine = results.filter((r) => r.table === table && r.variant === variant);
      console.log(
        `${table}, publication of the ${variant === "row" ? "whole row" : "key (id)"}: ` +
          `${mine.map((r) => ((1000 * r.cpuMs) / N).toFixed(1)).join(", ")} µs of CPU a write; ` +
          `${(mine[0].bytes / N).toFixed(0)} bytes a write`,
      );
    }
  }
} finally {
  await c.end().catch(() => {});
  await admin.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1",
    [DB],
  );
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ writes: N, reps: REPS, results }));
