/**
 * Latency-aware backpressure on the real servers: a repair run PostgreSQL → MariaDB whose first write batch
 * waits on a lock another MariaDB session holds; the replica's write rate is halved after that slow batch,
 * climbs back while batches are quick, and the run still converges every row.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load-config.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { runDataset } from "../../src/engine/run-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));
const ROWS = 2000;

describe.skipIf(!up)("backpressure: repair writes follow the replica's health", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    dir = mkdtempSync(join(tmpdir(), "concord-backpressure-"));
    await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await pg.admin.query(
      `INSERT INTO ${pg.table("items")} SELECT i, 'item ' || i FROM generate_series(1, ${ROWS}) i`,
    );
    await my.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
    // A row past the range the repair inserts, so the other session's lock covers the gap before it.
    await my.admin.query("INSERT INTO items VALUES (100000, 'sentinel')");
    await pg.admin.query(`INSERT INTO ${pg.table("items")} VALUES (100000, 'sentinel')`);
  });
  afterAll(async () => {
    await pg.drop();
    await my.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("halves the rate after a batch that waited on a lock, raises it again, and converges", async () => {
    const cfg = parseConfig(
      `state: sqlite:state.db
datasets:
  items:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner, limits: { writesPerSecond: 400, maxDivergentFraction: 1 } }
    backpressure: { latency: 300ms, minWritesPerSecond: 20 }
`,
      join(dir, "concord.yaml"),
    );
    const ds = cfg.datasets[0]!;
    expect(ds.backpressure).toEqual({ latencyMs: 300, minWritesPerSecond: 20 });
    const state = await openStateStore(cfg.state);
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas)
      replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
    // Another session holds next-key locks over the whole gap the repair inserts into, until a repair write waits on them.
    const locker = await my.admin.getConnection();
    await locker.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    await locker.beginTransaction();
    await locker.query("SELECT * FROM items WHERE id <= 100000 FOR UPDATE");
    // Released 800 ms after a repair write is seen waiting on it (or after 10 s, so nothing hangs).
    let waiting = true;
    const deadline = setTimeout(() => void locker.commit().catch(() => {}), 10_000);
    const watcher = (async () => {
      while (waiting) {
        // In this test's database only: another test's (or process's) lock wait on the shared server would
        // release the locker before the repair got to it.
        const [rows] = (await my.admin.query(
          `SELECT count(*) AS n FROM information_schema.innodb_trx t
           JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
           WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ?`,
          [my.name],
        )) as unknown as [{ n: number }[]];
        if (Number(rows[0]!.n) > 0) {
          await new Promise((r) => setTimeout(r, 800));
          await locker.commit();
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const rates: [string, number | undefined][] = [];
    try {
      const run = await runDataset(
        ds,
        replicas,
        { state, now: Date.now },
        {
          runId: "bp-1",
          command: "repair",
          mode: "repair",
          guard: { onRate: (replica, rate) => rates.push([replica, rate]) },
        },
      );
      expect(run.status).toBe("ok");
      expect(run.totals.repairs).toEqual({ applied: ROWS });
    } finally {
      waiting = false;
      clearTimeout(deadline);
      await watcher;
      await locker.commit().catch(() => {});
      locker.release();
      for (const r of replicas) await r.connector.close();
      await state.close();
    }
    const maria = rates.filter(([r]) => r === "maria").map(([, n]) => n);
    // Starts at the configured rate; the batch that waited on the lock halved it; quick ones raised it.
    expect(maria[0]).toBe(400);
    expect(maria).toContain(200);
    const low = maria.indexOf(200);
    expect(maria.slice(low + 1).some((n) => (n ?? 0) > 200)).toBe(true);
    const [[{ n }]] = (await my.admin.query("SELECT count(*) AS n FROM items")) as unknown as [
      [{ n: number }],
    ];
    expect(Number(n)).toBe(ROWS + 1);
  }, 60_000);
});
