/**
 * The distributed roles end to end, as real processes: a coordinator (`serve --role coordinator`) and three
 * `concord worker`s over PostgreSQL state and a Redis queue, repairing two datasets — PostgreSQL ↔ MariaDB
 * (segmented) and PostgreSQL ↔ Redis. Workers and the coordinator are SIGKILLed at random moments (a seeded
 * PRNG picks after how many finished segments and how long after) and restarted, several times. Then: every
 * replica agrees, no repair id was applied twice (audit) and none is left pending (ledger), the audit chain
 * verifies, and every finished pass folded each of its segments exactly once over every row.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseQueueUrl } from "../../src/config/queue-config.js";
import { seededRandom } from "../../src/core/random.js";
import { queueConnection } from "../../src/queue/queue-connection.js";
import { runConcord } from "../cli/helpers.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { createRedisTestPrefix, type RedisTestPrefix } from "../support/redis-test-prefix.js";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";
import { type FleetProcess, killHard, startConcord } from "./fleet.js";

const available =
  (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));

const SEED = Number(process.env.CONCORD_TEST_SEED) || 16;
const ROWS = 2400;
/** Stale on MariaDB: every 4th id (600); missing on Redis: every 6th id (400). */
const STALE_EVERY = 4;
const MISSING_EVERY = 6;
const TOKEN = "kill-loop-token-0123456789";

let pg: PostgresTestSchema;
let my: MysqlTestDatabase;
let rd: RedisTestPrefix;
let dir: string;
/** Unique per run: the datasets' names are their queues' names. */
const tag = randomBytes(3).toString("hex");
const ITEMS = `items_${tag}`;
const CACHED = `cached_${tag}`;

beforeAll(async () => {
  if (!available) return;
  pg = await createPostgresTestSchema();
  my = await createMysqlTestDatabase();
  rd = createRedisTestPrefix("kill-loop");
  dir = mkdtempSync(join(tmpdir(), "concord-kill-loop-"));
  await pg.admin.query(
    `CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL, qty integer NOT NULL, version bigint NOT NULL)`,
  );
  await pg.admin.query(
    `INSERT INTO ${pg.table("items")} SELECT g, 'item ' || g, g % 97, 2 FROM generate_series(1, ${ROWS}) g`,
  );
  await my.admin.query(
    "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, qty INT NOT NULL, version BIGINT NOT NULL)",
  );
  const values = Array.from({ length: ROWS }, (_, i) => {
    const id = i + 1;
    return id % STALE_EVERY === 0 ? [id, `old ${id}`, id % 97, 1] : [id, `item ${id}`, id % 97, 2];
  });
  await my.admin.query("INSERT INTO items VALUES ?", [values]);
  const multi = rd.admin.multi();
  for (let id = 1; id <= ROWS; id++)
    if (id % MISSING_EVERY !== 0)
      multi.hset(`${rd.prefix}${id}`, { name: `item ${id}`, qty: String(id % 97), version: "2" });
  await multi.exec();
});

afterAll(async () => {
  if (!available) return;
  const connection = queueConnection(parseQueueUrl(REDIS.url, "CONCORD_TEST_REDIS_URL"));
  for (const ds of [ITEMS, CACHED]) {
    const q = new Queue(`concord-segments-${ds}`, { connection });
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
    const keys = await rd.admin.keys(`concord:writes:${ds}:*`);
    if (keys.length) await rd.admin.del(...keys);
  }
  await pg.drop();
  await my.drop();
  await rd.drop();
  rmSync(dir, { recursive: true, force: true });
});

function config(): string {
  const state = `${POSTGRES.url}${POSTGRES.url.includes("?") ? "&" : "?"}schema=${pg.name}`;
  return `state: "${state}"
queue: "${REDIS.url}"
workers: { stallAfter: 3s }
serve: { listen: "127.0.0.1:0" }
datasets:
  ${ITEMS}:
    key: id
    versions: { counter: version }
    checkpointRows: 200
    concurrency: 3
    schedule: 1s
    replicas:
      a: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      b: { url: "${my.url}", table: items }
    policy: { owner: a, resolve: highest-version, limits: { writesPerSecond: 150 } }
  ${CACHED}:
    key: id
    versions: { counter: version }
    schedule: 1s
    replicas:
      a: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      c: { url: "${REDIS.url}", prefix: "${rd.prefix}", format: hash }
    policy: { owner: a, resolve: highest-version, limits: { writesPerSecond: 150 } }
`;
}

describe.skipIf(!available)("a coordinator and three workers, killed at random moments", () => {
  it("converges with no repair applied twice, a verified audit chain and no segment lost", {
    timeout: 240_000,
  }, async () => {
    const file = join(dir, "concord.yaml");
    writeFileSync(file, config());
    const random = seededRandom(SEED);
    const history: string[] = [`seed ${SEED} (CONCORD_TEST_SEED replays it)`];
    const t0 = Date.now();
    const note = (line: string) => history.push(`+${Date.now() - t0} ms ${line}`);
    const env = { CONCORD_TOKEN: TOKEN };

    // Every finished segment line of any worker, dead or alive, counts: the kills wait on this progress.
    let segmentsLogged = 0;
    const waiting = new Set<() => void>();
    const onLine = (line: string) => {
      if (/ segment \d+\/\d+ of pass /.test(line) && / ms$/.test(line)) {
        segmentsLogged++;
        for (const w of waiting) w();
      }
    };
    const segmentsReach = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (segmentsLogged < n) return;
          waiting.delete(check);
          resolve();
        };
        waiting.add(check);
        check();
      });

    const all: FleetProcess[] = [];
    let serial = 0;
    const startWorker = async () => {
      const p = startConcord(`worker${++serial}`, ["worker", "-c", file], env, onLine);
      all.push(p);
      await p.until(/ ready: taking segment jobs/);
      return p;
    };
    const startCoordinator = async () => {
      const p = startConcord(
        `coordinator${++serial}`,
        ["serve", "--role", "coordinator", "-c", file],
        env,
        onLine,
      );
      all.push(p);
      await p.until(/coordinator: leading as /);
      return p;
    };

    const started = await Promise.all([startCoordinator(), startWorker(), startWorker(), startWorker()]);
    let coordinator = started[0];
    const workers = started.slice(1);
    note("fleet ready");
    const report = () =>
      `${history.join("\n")}\n${all.map((p) => `--- ${p.name}\n${p.stderr()}`).join("\n")}`;

    try {
      // Four kills: coordinator, worker, coordinator, worker (which worker: the PRNG); each after 1–3 more
      // finished segments and a random 0–600 ms on top, so they land in scans, in writes and between passes.
      const victims = ["coordinator", "worker", "coordinator", "worker"] as const;
      for (const victim of victims) {
        const after = segmentsLogged + 1 + Math.floor(random() * 3);
        await segmentsReach(after);
        const delay = Math.floor(random() * 600);
        await new Promise((r) => setTimeout(r, delay));
        if (victim === "coordinator") {
          note(`kill -9 ${coordinator.name} after ${after} segments + ${delay} ms`);
          await killHard(coordinator);
          coordinator = await startCoordinator();
        } else {
          const i = Math.floor(random() * workers.length);
          note(`kill -9 ${workers[i]!.name} after ${after} segments + ${delay} ms`);
          await killHard(workers[i]!);
          workers[i] = await startWorker();
        }
      }
      const lastKill = Date.now();
      note("last replacement ready");

      // Converged: a pass of each dataset that began after the last kill finished ok.
      const passes = (ds: string) =>
        coordinator.until(
          new RegExp(
            `${ds}: pass \\S+ \\(repair\\) finished in [\\d.]+ s: 0 divergent, 0 repaired, 0 remaining`,
          ),
        );
      const waitOk = async (ds: string) => {
        for (;;) {
          const { rows } = await pg.admin.query(
            `SELECT 1 FROM "${pg.name}".runs WHERE dataset = $1 AND status = 'ok' AND started_at > $2 LIMIT 1`,
            [ds, lastKill],
          );
          if (rows.length) return;
          await passes(ds);
        }
      };
      await Promise.all([waitOk(ITEMS), waitOk(CACHED)]);
      note("converged");

      // The coordinator shows the fleet: segments per worker, queue depth and age (API and metrics).
      const [, address] = (await coordinator.until(/listening on (http:\/\/\S+) as a coordinator/))!;
      const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
      const queue = (await (await fetch(`${address}/api/queue`, auth)).json()) as {
        role: string;
        datasets: { dataset: string; waiting: number; failed: number }[];
        workers: { worker: string; dataset: string; segments: number }[];
      };
      expect(queue.role).toBe("coordinator");
      expect(queue.datasets.map((d) => d.dataset).sort()).toEqual([CACHED, ITEMS].sort());
      expect(
        queue.workers.some((w) => w.dataset === ITEMS && w.segments > 0),
        JSON.stringify(queue),
      ).toBe(true);
      const metrics = await (await fetch(`${address}/metrics`)).text();
      for (const name of [
        "concord_worker_segments_total",
        "concord_segment_duration_seconds_count",
        "concord_queue_jobs",
        "concord_queue_oldest_waiting_seconds",
      ])
        expect(metrics).toContain(`${name}{`);

      for (const p of [coordinator, ...workers]) p.child.kill("SIGTERM");
      for (const p of [coordinator, ...workers]) expect((await p.exited).code, report()).toBe(0);
      note("stopped");
      if (process.env.CONCORD_TEST_VERBOSE) console.log(history.join("\n"));

      // Every replica agrees (read by a fresh single-process scan).
      const scan = await runConcord(["scan", "-c", file], { env });
      expect(scan.code, `${scan.stdout}${scan.stderr}\n${report()}`).toBe(0);

      // No repair id applied twice, every divergence repaired exactly once, nothing left pending.
      const { rows: applied } = await pg.admin.query(
        `SELECT data::json->>'repair' AS id, count(*)::int AS n FROM "${pg.name}".audit WHERE type = 'applied' GROUP BY 1`,
      );
      const twice = applied.filter((r) => r.n > 1);
      expect(twice, report()).toEqual([]);
      const expected = ROWS / STALE_EVERY + ROWS / MISSING_EVERY;
      expect(applied.length, report()).toBe(expected);
      const { rows: pending } = await pg.admin.query(
        `SELECT count(*)::int AS n FROM "${pg.name}".ledger WHERE outcome = 'pending'`,
      );
      expect(pending[0].n, report()).toBe(0);

      // The audit chain (and the ledger against it) verifies.
      const verify = await runConcord(["audit", "verify", "-c", file], { env });
      expect(verify.code, `${verify.stdout}${verify.stderr}`).toBe(0);

      // No segment lost: every finished pass folded each of its segments once, over every row of a.
      const { rows: runs } = await pg.admin.query(
        `SELECT dataset, status, stats FROM "${pg.name}".runs WHERE command = 'serve repair' AND status IN ('ok', 'diverged')`,
      );
      expect(runs.length).toBeGreaterThanOrEqual(2);
      for (const r of runs) {
        const stats = JSON.parse(r.stats) as Record<string, number>;
        expect(stats["segments.folded"], `${r.dataset} ${r.stats}`).toBe(stats.segments);
        expect(stats["rows.a"], `${r.dataset} ${r.stats}`).toBe(ROWS);
        if (r.dataset === ITEMS) expect(stats.segments).toBeGreaterThan(1);
      }
    } finally {
      await Promise.all(all.map((p) => killHard(p)));
    }
  });
});
