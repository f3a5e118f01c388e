/**
 * What receiving a logical-replication stream costs the consumer's process, per write: Concord's way
 * (pg-logical-replication's service and pgoutput parser, as src/connectors/postgres/postgres-feed.ts uses them),
 * the node-postgres client alone (the CopyData messages counted, nothing parsed), and `pg_recvlogical` (C,
 * to /dev/null), alternated, each on a slot of its own over one publication.
 *
 * Usage: node bench/feed-intake.mjs [rounds=3]
 *   BENCH_INTAKE_WRITES=4000 BENCH_INTAKE_RATE=200 BENCH_INTAKE_NAME=concord_bench_intake
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test BENCH_INTAKE_WRITE_ACK=1
 * The writer runs here (pinned to CPU 0 when the machine has 2+ cores); each consumer is pinned to the last CPU.
 * BENCH_INTAKE_WRITE_ACK=1 makes the node-postgres consumer answer each keepalive with a status update whose
 * write position is the keepalive's WAL end (flush left unset, so the slot does not move): the walsender sends
 * a keepalive whenever it waits for WAL while the client's reported write and flush positions are behind what
 * it sent, about twice a write here. The database it creates (BENCH_INTAKE_NAME) is dropped at the end.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { LogicalReplicationService, PgoutputPlugin } from "pg-logical-replication";

const NAME = process.env.BENCH_INTAKE_NAME ?? "concord_bench_intake";
const BASE = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const url = new URL(BASE);
url.pathname = `/${NAME}`;
const DB_URL = url.toString();
const WRITES = Number(process.env.BENCH_INTAKE_WRITES ?? 4000);
const RATE = Number(process.env.BENCH_INTAKE_RATE ?? 200);
const LAST_CPU = String(cpus().length - 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A process's user and system CPU seconds so far, from /proc. */
function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
}

const [mode, slot] = process.argv.slice(2);
if (mode === "concord") {
  // As the feed streams: no automatic acknowledgement, proto_version 1, one publication.
  const service = new LogicalReplicationService(
    { connectionString: DB_URL },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  );
  let commits = 0;
  service.on("data", (_lsn, m) => {
    if (m.tag === "commit") commits++;
  });
  service.on("heartbeat", () => {});
  process.on("SIGTERM", () => {
    console.error(`  commits ${commits}`);
    process.exit(0);
  });
  await service.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [NAME] }), slot);
} else if (mode === "pg") {
  const client = new pg.Client({ connectionString: DB_URL, replication: "database" });
  await client.connect();
  const seen = { commits: 0, messages: 0, keepalives: 0, reads: 0 };
  let reported = 0n;
  client.connection.stream.on("data", () => seen.reads++);
  client.connection.on("copyData", ({ chunk }) => {
    seen.messages++;
    if (chunk[0] === 0x77 && chunk[25] === 0x43) seen.commits++;
    if (chunk[0] !== 0x6b) return;
    seen.keepalives++;
    const end = chunk.readBigUInt64BE(1);
    if (process.env.BENCH_INTAKE_WRITE_ACK !== "1" || end <= reported) return;
    reported = end;
    const status = Buffer.alloc(34);
    status[0] = 0x72; // 'r': write, flush (0: unset), apply, clock, no reply
    status.writeBigUInt64BE(end, 1);
    status.writeBigInt64BE(BigInt(Date.now() - 946684800000) * 1000n, 25);
    client.connection.sendCopyFromChunk(status);
  });
  process.on("SIGTERM", () => {
    const per = (n) => (n / Math.max(1, seen.commits)).toFixed(2);
    console.error(
      `  a write: ${per(seen.messages)} messages (${per(seen.keepalives)} keepalives), ${per(seen.reads)} socket reads`,
    );
    process.exit(0);
  });
  void client.query(
    `START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names '${NAME}')`,
    () => {},
  );
} else {
  if (cpus().length > 1) spawnSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)]);
  const admin = new pg.Client({ connectionString: BASE });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${NAME}`);
  const c = new pg.Client({ connectionString: DB_URL });
  await c.connect();
  const figures = { concord: [], pg: [], pg_recvlogical: [] };
  try {
    await c.query(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL);
      INSERT INTO items SELECT g, 'item ' || g, 0 FROM generate_series(1, 10000) g;
      CREATE PUBLICATION ${NAME} FOR TABLE items`);
    const kinds = ["concord", "pg", "pg_recvlogical"];
    for (let round = 0; round < Number(mode ?? 3); round++) {
      for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
        const slotName = `${NAME}_${kind}`;
        await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotName]);
        const argv =
          kind === "pg_recvlogical"
            ? ["pg_recvlogical", "-d", DB_URL, "--slot", slotName, "--start", "-o", "proto_version=1"].concat(
                ["-o", `publication_names=${NAME}`, "-f", "/dev/null", "-F", "1", "-s", "1"],
              )
            : [process.execPath, fileURLToPath(import.meta.url), kind, slotName];
        const child = spawn("taskset", ["-c", LAST_CPU, ...argv], {
          stdio: ["ignore", "inherit", "inherit"],
        });
        await sleep(1500);
        const before = cpuOf(child.pid);
        const t0 = performance.now();
        for (let i = 0; i < WRITES; i++) {
          const wait = t0 + (i * 1000) / RATE - performance.now();
          if (wait > 0) await sleep(wait);
          await c.query("UPDATE items SET n = $2 WHERE id = $1", [1 + Math.floor(Math.random() * 10000), i]);
        }
        await sleep(500);
        const after = cpuOf(child.pid);
        const user = ((after.user - before.user) / WRITES) * 1e6;
        const system = ((after.system - before.system) / WRITES) * 1e6;
        figures[kind].push(user + system);
        console.log(
          `${kind}: ${(user + system).toFixed(0)} µs CPU a write (user ${user.toFixed(0)}, system ${system.toFixed(0)})`,
        );
        child.kill(kind === "pg_recvlogical" ? "SIGINT" : "SIGTERM");
        if (child.exitCode === null) await new Promise((r) => child.once("close", r));
        await sleep(300);
        await c.query("SELECT pg_drop_replication_slot($1)", [slotName]);
      }
    }
    for (const [kind, xs] of Object.entries(figures))
      console.log(`${kind}: ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} µs a write`);
  } finally {
    await c
      .query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1", [
        `${NAME}_%`,
      ])
      .catch(() => {});
    await c.end();
    for (let i = 0; i < 20; i++) {
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${NAME}`);
        break;
      } catch {
        await sleep(300);
      }
    }
    await admin.end();
  }
}
