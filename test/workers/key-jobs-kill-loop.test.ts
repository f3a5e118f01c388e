/**
 * Change-feed key batches on a fleet of real processes, killed mid-job: a coordinator (`serve --role
 * coordinator`) watches a SQLite owner's feed and hands each batch of written keys to three `concord worker`s as
 * a key job, which repair a PostgreSQL and a MariaDB replica (PostgreSQL state, Redis queue). While a writer
 * keeps changing rows on the owner, workers are SIGKILLed in the middle of a key job (the queue says which
 * worker runs one) and the coordinator at a random moment, and each is restarted. No scheduled pass runs
 * (the schedule is yearly; the first pass is asked for): the replicas converge from key checks and the
 * re-checks of what they left unsettled (the watch's retry set) alone. Then: every killed key job was taken
 * up by another worker, every repair the killed runs claimed was settled by a key check before the final
 * pass, no repair id was applied twice, nothing is left pending, and the audit chain verifies.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseQueueUrl } from "../../src/config/queue-config.js";
import { seededRandom } from "../../src/core/random.js";
import { queueConnection, segmentQueueName } from "../../src/queue/queue-connection.js";
import { runConcord } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";
import { type FleetProcess, killHard, startConcord } from "./fleet.js";

const available =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

const SEED = Number(process.env.CONCORD_TEST_SEED) || 16;
const ROWS = 600;
const TOKEN = "key-kill-loop-token-0123456789";
/** Worker kills, each in the middle of a key job. */
const WORKER_KILLS = 3;

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
let dir: string;
/** Unique per run: the dataset's name is its queue's name. */
const DATASET = `feed_${randomBytes(3).toString("hex")}`;
const queueConfig = parseQueueUrl(REDIS.url, "CONCORD_TEST_REDIS_URL");

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "concord-key-kill-loop-"));
  const a = new Database(join(dir, "a.db"));
  a.pragma("journal_mode = WAL");
  a.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL)");
  const insert = a.prepare("INSERT INTO items VALUES (?, ?, 1)");
  a.transaction(() => {
    for (let id = 1; id <= ROWS; id++) insert.run(id, `item ${id}`);
  })();
  a.close();
  await pg.admin.query(
    `CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL, version bigint NOT NULL)`,
  );
  await pg.admin.query(
    `INSERT INTO ${pg.table("items")} SELECT g, 'item ' || g, 1 FROM generate_series(1, ${ROWS}) g`,
  );
  await my.admin.query(
    "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, version BIGINT NOT NULL)",
  );
  await my.admin.query("INSERT INTO items VALUES ?", [
    Array.from({ length: ROWS }, (_, i) => [i + 1, `item ${i + 1}`, 1]),
  ]);
});

afterAll(async () => {
  if (!available) return;
  const q = new Queue(segmentQueueName(DATASET), { connection: queueConnection(queueConfig) });
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
  await pg.drop();
  await my.drop();
  rmSync(dir, { recursive: true, force: true });
});

function config(): string {
  const state = `${POSTGRES.url}${POSTGRES.url.includes("?") ? "&" : "?"}schema=${pg.name}`;
  // A slow write rate makes each key job last a few hundred ms: long enough to be killed in the middle.
  return `state: "${state}"
queue: "${REDIS.url}"
workers: { stallAfter: 2s }
serve: { listen: "127.0.0.1:0" }
datasets:
  ${DATASET}:
    key: id
    versions: { counter: version }
    concurrency: 3
    # Scheduled passes are a deployment's safety net; here none runs, so that what converges the replicas
    # is key checks and their re-checks: a repair a killed worker or coordinator left pending (or held, or
    # recovered as not landed) is checked again, with back-off, until it is settled.
    schedule: "@yearly"
    watch: { replicas: [a], batch: 50ms }
    replicas:
      a: { url: "sqlite:a.db", table: items }
      b: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      c: { url: "${my.url}", table: items }
    policy: { owner: a, resolve: highest-version, limits: { writesPerSecond: 20 } }
`;
}

/** Every row of a replica as `id name version` lines, in id order. */
async function snapshot(replica: "a" | "b" | "c"): Promise<string[]> {
  const line = (r: { id: unknown; name: unknown; version: unknown }) => `${r.id} ${r.name} ${r.version}`;
  if (replica === "a") {
    const a = new Database(join(dir, "a.db"), { readonly: true });
    try {
      return (a.prepare("SELECT id, name, version FROM items ORDER BY id").all() as never[]).map(line);
    } finally {
      a.close();
    }
  }
  if (replica === "b")
    return (await pg.admin.query(`SELECT id, name, version FROM ${pg.table("items")} ORDER BY id`)).rows.map(
      line,
    );
  const [rows] = await my.admin.query("SELECT id, name, version FROM items ORDER BY id");
  return (rows as never[]).map(line);
}

describe.skipIf(!available)("key jobs on a fleet whose workers and coordinator are killed mid-job", () => {
  it("retries killed key jobs on other workers, converges, applies no repair twice, and the audit verifies", {
    timeout: 420_000,
  }, async () => {
    const file = join(dir, "concord.yaml");
    writeFileSync(file, config());
    const random = seededRandom(SEED);
    const history: string[] = [`seed ${SEED} (CONCORD_TEST_SEED replays it)`];
    const t0 = Date.now();
    const note = (line: string) => {
      history.push(`+${Date.now() - t0} ms ${line}`);
      if (process.env.CONCORD_TEST_VERBOSE) console.log(history.at(-1));
    };
    const env = { CONCORD_TOKEN: TOKEN };
    const all: FleetProcess[] = [];
    let serial = 0;
    const startWorker = async () => {
      const p = startConcord(`worker${++serial}`, ["worker", "-c", file], env);
      all.push(p);
      await p.until(/ ready: taking segment jobs/);
      return p;
    };
    const startCoordinator = async () => {
      const p = startConcord(`coordinator${++serial}`, ["serve", "--role", "coordinator", "-c", file], env);
      all.push(p);
      await p.until(/watching its change feed/);
      return p;
    };
    const report = () =>
      `${history.join("\n")}\n${all.map((p) => `--- ${p.name}\n${p.stderr()}`).join("\n")}`;
    const queue = new Queue(segmentQueueName(DATASET), { connection: queueConnection(queueConfig) });

    // A writer on the owner, below what the fleet repairs (20 writes/s per replica): every 400 ms two to six
    // random rows get a new name and version. It starts once the first pass is done.
    const owner = new Database(join(dir, "a.db"));
    owner.pragma("busy_timeout = 5000");
    const bump = owner.prepare("UPDATE items SET name = ?, version = version + 1 WHERE id = ?");
    let writes = 0;
    let writing = true;
    let writer: Promise<void> = Promise.resolve();
    const write = async () => {
      while (writing && writes < 600) {
        const ids = Array.from(
          { length: 2 + Math.floor(random() * 5) },
          () => 1 + Math.floor(random() * ROWS),
        );
        owner.transaction(() => {
          for (const id of ids) bump.run(`write ${++writes} of ${id}`, id);
        })();
        await new Promise((r) => setTimeout(r, 400));
      }
    };

    try {
      let coordinator = await startCoordinator();
      const workers = await Promise.all([startWorker(), startWorker(), startWorker()]);
      const repairPass = async (p: FleetProcess): Promise<RegExpExecArray> => {
        const [, address] = (await p.until(/listening on (http:\/\/\S+) as a coordinator/))!;
        const from = p.stderr().length;
        const res = await fetch(`${address}/api/datasets/${DATASET}/repair`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: "{}",
        });
        expect(res.status, report()).toBe(202);
        return p.until(
          /pass (\S+) \(repair\) finished in [\d.]+ s: (\d+) divergent, \d+ repaired, (\d+) remaining/,
          from,
        );
      };
      const [, firstPass] = await repairPass(coordinator);
      note("fleet ready, first pass done");
      writer = write();

      /** A key job running now, and the worker process running it (by the pid in its BullMQ name). */
      const runningKeyJob = async () => {
        for (const job of await queue.getJobs(["active"])) {
          if (job.name !== "keys" || !job.processedBy) continue;
          const pid = Number(job.processedBy.split(":").at(-2));
          const i = workers.findIndex((w) => w.child.pid === pid);
          if (i >= 0) return { runId: String(job.data.runId), i };
        }
        return undefined;
      };
      const killed: { runId: string; worker: FleetProcess }[] = [];
      for (let k = 0; k < WORKER_KILLS; k++) {
        const end = Date.now() + 60_000;
        let found = await runningKeyJob();
        while (!found) {
          if (Date.now() > end) throw new Error(`no key job ran within a minute:\n${report()}`);
          await new Promise((r) => setTimeout(r, 20));
          found = await runningKeyJob();
        }
        // Somewhere in its first 100 ms (its reads, its ledger claims or its writes), if it still runs then.
        await new Promise((r) => setTimeout(r, Math.floor(random() * 100)));
        const still = await runningKeyJob();
        if (still?.runId !== found.runId || still.i !== found.i) {
          k--;
          continue;
        }
        const victim = workers[found.i]!;
        note(`kill -9 ${victim.name} in key job of run ${found.runId}`);
        await killHard(victim);
        killed.push({ runId: found.runId, worker: victim });
        workers[found.i] = await startWorker();
        if (k === 1) {
          // And the coordinator, at a random moment between key jobs or in one.
          await new Promise((r) => setTimeout(r, Math.floor(random() * 800)));
          note(`kill -9 ${coordinator.name}`);
          await killHard(coordinator);
          coordinator = await startCoordinator();
        }
      }
      // A little more traffic after the last kill, then the writer stops.
      await new Promise((r) => setTimeout(r, 1500));
      writing = false;
      await writer;
      owner.close();
      note(`writer stopped after ${writes} writes`);

      // Converged: both replicas hold what the owner holds.
      const want = await snapshot("a");
      const end = Date.now() + 180_000;
      for (;;) {
        const [b, c] = [await snapshot("b"), await snapshot("c")];
        if (JSON.stringify(b) === JSON.stringify(want) && JSON.stringify(c) === JSON.stringify(want)) break;
        if (Date.now() > end) {
          const off = want.filter((w, i) => b[i] !== w || c[i] !== w).slice(0, 5);
          throw new Error(`replicas did not converge (first differing: ${off.join("; ")}):\n${report()}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      note("converged");

      // Every killed key job is taken up by another worker (run there, or found its run finished) once the
      // queue finds it stalled; a scheduled pass may have converged the replicas before that.
      const takenBy = Date.now() + 120_000;
      for (const { runId, worker } of killed) {
        const elsewhere = all.filter((p) => p !== worker && p.name.startsWith("worker"));
        const taken = () =>
          elsewhere.some(
            (p) => p.stderr().includes(`keys of run ${runId}`) || p.stderr().includes(`key of run ${runId}`),
          );
        while (!taken() && Date.now() < takenBy) await new Promise((r) => setTimeout(r, 500));
        expect(taken(), `key job of run ${runId} after ${worker.name} died\n${report()}`).toBe(true);
      }

      // Nothing is pending once the key checks are done: every claim the killed runs made was settled by a
      // key check (their own retried job, or a re-check that recovered it), none is left for a pass to settle.
      const settledBy = Date.now() + 120_000;
      const pendingNow = async () =>
        (await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.name}".ledger WHERE outcome = 'pending'`))
          .rows[0].n as number;
      while ((await pendingNow()) > 0 && Date.now() < settledBy) await new Promise((r) => setTimeout(r, 500));
      expect(await pendingNow(), report()).toBe(0);
      const { rows: beforeFinal } = await pg.admin.query(
        `SELECT id, command FROM "${pg.name}".runs WHERE id <> $1 ORDER BY started_at`,
        [firstPass],
      );
      // The only pass was the first: everything since was a key check or a re-check.
      expect(
        beforeFinal.filter((r) => r.command !== "watch" && r.command !== "watch retry"),
        report(),
      ).toEqual([]);
      const rechecks = beforeFinal.filter((r) => r.command === "watch retry").length;
      note(`${beforeFinal.length} key checks kept (quiet ones are pruned), ${rechecks} of them re-checks`);
      // Every repair the killed runs claimed was settled by a key check (their retried job, or a later check
      // or re-check that recovered it): each of its outcomes in the audit is a watch run's. One recovered as
      // not landed is repaired by a check of its key (or landed after all: a worker still at work on the dead
      // coordinator's run), which the convergence above shows.
      const killedRuns = killed.map((k) => k.runId);
      const { rows: settlements } = await pg.admin.query(
        `SELECT l.id, l.key, l.target, l.outcome, a.type, r.command, a.seq
           FROM "${pg.name}".ledger l
           JOIN "${pg.name}".audit a ON a.data::json->>'repair' = l.id AND a.type IN ('applied', 'failed', 'superseded')
           JOIN "${pg.name}".runs r ON r.id = a.run_id
          WHERE l.run_id = ANY($1)`,
        [killedRuns],
      );
      expect(
        settlements.filter((s) => s.command !== "watch" && s.command !== "watch retry"),
        report(),
      ).toEqual([]);
      const byKind = new Map<string, number>();
      for (const x of settlements)
        byKind.set(`${x.type} by ${x.command}`, (byKind.get(`${x.type} by ${x.command}`) ?? 0) + 1);
      note(
        `${settlements.length} settlements of the killed runs' claims: ${[...byKind].map(([k, n]) => `${n} ${k}`).join(", ")}`,
      );

      // A repair pass finds nothing left to repair.
      const [, , divergent, remaining] = await repairPass(coordinator);
      expect([divergent, remaining], report()).toEqual(["0", "0"]);
      note("final pass clean");

      for (const p of [coordinator, ...workers]) p.child.kill("SIGTERM");
      for (const p of [coordinator, ...workers]) expect((await p.exited).code, report()).toBe(0);

      // No repair id applied twice; nothing left pending.
      const { rows: applied } = await pg.admin.query(
        `SELECT data::json->>'repair' AS id, count(*)::int AS n FROM "${pg.name}".audit WHERE type = 'applied' GROUP BY 1`,
      );
      expect(applied.length, report()).toBeGreaterThan(0);
      expect(
        applied.filter((r) => r.n > 1),
        report(),
      ).toEqual([]);
      const { rows: pending } = await pg.admin.query(
        `SELECT count(*)::int AS n FROM "${pg.name}".ledger WHERE outcome = 'pending'`,
      );
      expect(pending[0].n, report()).toBe(0);
      // The key runs were the workers': some of the applied repairs came from watch runs.
      const { rows: watched } = await pg.admin.query(
        `SELECT count(*)::int AS n FROM "${pg.name}".audit a JOIN "${pg.name}".runs r ON r.id = a.run_id WHERE a.type = 'applied' AND r.command = 'watch'`,
      );
      expect(watched[0].n, report()).toBeGreaterThan(0);

      // The audit chain (and the ledger against it) verifies.
      const verify = await runConcord(["audit", "verify", "-c", file], { env });
      expect(verify.code, `${verify.stdout}${verify.stderr}`).toBe(0);
    } finally {
      writing = false;
      await writer.catch(() => {});
      if (owner.open) owner.close();
      await queue.close();
      await Promise.all(all.map((p) => killHard(p)));
    }
  });
});
