/**
 * Change-log replay benchmark: a replica that missed a backlog of the owner's changes, caught up by
 * `concord replay` (the owner's change log, in batches) against a full `concord repair` of the same
 * divergence, in the same run, alternated.
 *
 * Usage: npm run build && node bench/replay.mjs
 *   BENCH_REPLAY_ROWS=200000 BENCH_REPLAY_CHANGES=100000 BENCH_REPLAY_BATCH=5000 BENCH_REPLAY_REPEAT=3
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306
 *
 * A PostgreSQL table (the owner, `resolve: replay`) copied to MariaDB. `concord watch` (bin/concord.js, the
 * dataset in scan mode: it logs and checks the owner's changes but repairs nothing, as a team whose own
 * replication is paused would run it) sees BENCH_REPLAY_CHANGES updates on PostgreSQL, every
 * (ROWS/CHANGES)-th row, in transactions of 1,000, none of them copied to MariaDB; it is stopped once the
 * change log holds them all. The state file is then kept as a base. Each round restores MariaDB's missed state
 * and the base state, and times, as users run them: `concord replay -d … --replica maria --batch N`
 * (the log from cursor 0) and `concord repair -d …` under `resolve: owner` with a fresh state file
 * (the full pass a replica without a log needs). Repairs applied and rows read come from the runs each
 * recorded in its state file. Reported: medians of wall time, changes/s, rows read;
 * every raw run; the load before and after (`uptime`).
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = join(ROOT, "bin", "concord.js");
const ROWS = Number(process.env.BENCH_REPLAY_ROWS ?? 200_000);
const CHANGES = Number(process.env.BENCH_REPLAY_CHANGES ?? 100_000);
const BATCH = Number(process.env.BENCH_REPLAY_BATCH ?? 5000);
const REPEAT = Number(process.env.BENCH_REPLAY_REPEAT ?? 3);
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";
const NAME = `concord_bench_replay_${process.pid}`;
const STEP = Math.floor(ROWS / CHANGES);
if (STEP < 1) throw new Error("BENCH_REPLAY_CHANGES must not exceed BENCH_REPLAY_ROWS");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const uptime = () => execFileSync("uptime").toString().trim();

/** Runs bin/concord.js to its end (exit 0 or 1); resolves with its wall time. */
function concord(args) {
  return new Promise((resolveRun, reject) => {
    const began = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`concord ${args.join(" ")} exited ${code}: ${err}`));
      else resolveRun(performance.now() - began);
    });
  });
}

/** What a state file's runs of `command` came to: repairs applied and rows read, summed. */
function runFigures(path, command) {
  const db = new Database(path, { readonly: true });
  try {
    let applied = 0;
    let rowsRead = 0;
    for (const { stats } of db.prepare("SELECT stats FROM runs WHERE command LIKE ?").all(`${command}%`)) {
      const s = JSON.parse(stats);
      applied += s["repairs.applied"] ?? 0;
      rowsRead += s.rowsRead ?? 0;
    }
    return { applied, rowsRead };
  } finally {
    db.close();
  }
}

const pgPool = new pg.Pool({ connectionString: PG_URL, max: 4 });
const server = await mysql.createConnection({ uri: MYSQL_URL });
await server.query(`CREATE DATABASE ${NAME}`);
await server.end();
const myUrl = `${MYSQL_URL.replace(/\/$/, "")}/${NAME}`;
const my = mysql.createPool({ uri: myUrl, connectionLimit: 4 });
const dir = mkdtempSync(join(tmpdir(), "concord-bench-replay-"));
let watcher;

try {
  const before = uptime();
  console.log(`setting up ${ROWS} rows in PostgreSQL and MariaDB…`);
  await pgPool.query(`CREATE SCHEMA ${NAME}`);
  await pgPool.query(
    `CREATE TABLE ${NAME}.items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL)`,
  );
  await pgPool.query(
    `INSERT INTO ${NAME}.items SELECT g, 'item ' || g, 0 FROM generate_series(1, ${ROWS}) g`,
  );
  await pgPool.query(`ANALYZE ${NAME}.items`);
  await my.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL)");
  for (let from = 1; from <= ROWS; from += 5000) {
    const rows = [];
    for (let id = from; id < Math.min(ROWS + 1, from + 5000); id++) rows.push([id, `item ${id}`, 0]);
    await my.query("INSERT INTO items VALUES ?", [rows]);
  }
  await my.query("ANALYZE TABLE items");

  const dataset = (policy, state) => `state: sqlite:${state}
datasets:
  ${NAME}:
    key: id
    mode: scan
    replicas:
      pg: { url: "${PG_URL}", table: ${NAME}.items }
      maria: { url: "${myUrl}", table: items }
    policy: ${policy}
    watch: { replicas: [pg], batch: 200ms, maxKeys: ${BATCH}, logKeys: ${Math.max(1_000_000, CHANGES)} }
`;
  const replayCfg = join(dir, "replay.yaml");
  const repairCfg = join(dir, "repair.yaml");
  const replayState = join(dir, "replay.db");
  const baseState = join(dir, "base.db");
  const repairState = join(dir, "repair.db");
  writeFileSync(replayCfg, dataset("{ owner: pg, resolve: replay }", replayState));
  writeFileSync(repairCfg, dataset("{ owner: pg, resolve: owner }", repairState));

  console.log(`logging ${CHANGES} changes on PostgreSQL through concord watch (scan mode)…`);
  watcher = spawn(process.execPath, [BIN, "watch", "-c", replayCfg], { stdio: ["ignore", "ignore", "pipe"] });
  let watchErr = "";
  watcher.stderr.on("data", (d) => {
    watchErr += d;
  });
  while (!/watching from now/.test(watchErr)) {
    if (watcher.exitCode !== null) throw new Error(`concord watch exited: ${watchErr}`);
    await sleep(50);
  }
  const changedIds = `id % ${STEP} = 0`;
  for (let from = 1; from <= ROWS; from += 1000 * STEP)
    await pgPool.query(
      `UPDATE ${NAME}.items SET n = n + 1, name = 'changed ' || id WHERE id BETWEEN $1 AND $2 AND ${changedIds}`,
      [from, from + 1000 * STEP - 1],
    );
  const logged = () => {
    if (!existsSync(replayState)) return 0;
    const db = new Database(replayState, { readonly: true, timeout: 5000 });
    try {
      return db.prepare("SELECT last_seq FROM change_log_heads").get()?.last_seq ?? 0;
    } catch {
      return 0;
    } finally {
      db.close();
    }
  };
  const changes = Math.floor(ROWS / STEP);
  while (logged() < changes) await sleep(500);
  watcher.kill("SIGINT");
  await new Promise((r) => watcher.once("close", r));
  watcher = undefined;
  const db = new Database(replayState);
  db.exec(`VACUUM INTO '${baseState}'`);
  db.close();
  console.log(`${logged()} changes logged`);

  /** MariaDB back to the state that missed the changes; the replay's state back to the base (cursor 0). */
  const reset = async () => {
    await my.query(`UPDATE items SET n = 0, name = CONCAT('item ', id) WHERE n <> 0`);
    for (const f of [
      replayState,
      `${replayState}-wal`,
      `${replayState}-shm`,
      repairState,
      `${repairState}-wal`,
      `${repairState}-shm`,
    ])
      rmSync(f, { force: true });
    copyFileSync(baseState, replayState);
  };
  const raw = { replay: [], repair: [] };
  for (let i = 0; i < REPEAT; i++) {
    for (const kind of i % 2 === 0 ? ["replay", "repair"] : ["repair", "replay"]) {
      await reset();
      const args =
        kind === "replay"
          ? ["replay", "-c", replayCfg, "-d", NAME, "--replica", "maria", "--batch", String(BATCH)]
          : ["repair", "-c", repairCfg, "-d", NAME];
      const ms = await concord(args);
      const { applied, rowsRead } = runFigures(
        kind === "replay" ? replayState : repairState,
        kind === "replay" ? "replay" : "repair",
      );
      raw[kind].push({ ms: Math.round(ms), applied, rowsRead });
      console.log(`${kind} ${i + 1}: ${Math.round(ms)} ms, ${applied} applied, rows read ${rowsRead}`);
      if (applied !== changes) throw new Error(`${kind} applied ${applied} repairs, expected ${changes}`);
    }
  }
  const after = uptime();
  const med = (k) => median(raw[k].map((r) => r.ms));
  console.log("");
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), shared with other work`);
  console.log(`uptime before: ${before}`);
  console.log(`uptime after:  ${after}`);
  console.log(
    `PostgreSQL owner → MariaDB replica, ${ROWS} rows, ${changes} changes missed, replay batch ${BATCH}`,
  );
  console.log("| run | median wall | changes/s | rows read | runs (ms) |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const k of ["replay", "repair"])
    console.log(
      `| ${k === "replay" ? "concord replay (change log)" : "concord repair (full pass, resolve: owner)"} | ${(med(k) / 1000).toFixed(1)} s | ${Math.round(changes / (med(k) / 1000))} | ${raw[k][0].rowsRead} | ${raw[k].map((r) => r.ms).join(", ")} |`,
    );
  console.log(
    `replay / repair time: ${(med("replay") / med("repair")).toFixed(2)} (load 1-min ${loadavg()[0].toFixed(2)})`,
  );
  console.log(JSON.stringify({ rows: ROWS, changes, batch: BATCH, raw }));
} finally {
  watcher?.kill("SIGKILL");
  await pgPool
    .query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active",
      [`concord_${NAME}%`],
    )
    .catch(() => {});
  const pubs = await pgPool
    .query("SELECT pubname FROM pg_publication WHERE pubname LIKE $1", [`concord_${NAME}%`])
    .catch(() => ({ rows: [] }));
  for (const { pubname } of pubs.rows) await pgPool.query(`DROP PUBLICATION "${pubname}"`).catch(() => {});
  await pgPool.query(`DROP SCHEMA IF EXISTS ${NAME} CASCADE`);
  await pgPool.end();
  await my.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await my.end();
  rmSync(dir, { recursive: true, force: true });
}
