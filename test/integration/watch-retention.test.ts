/**
 * Runs made per change stay bounded: a watcher over PostgreSQL → MariaDB checks many separate writes, each a
 * `watch` run; quiet ones beyond `watch.keepRuns` are pruned, while every run that repaired something stays,
 * and the ledger and the audit chain still verify.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAudit } from "../../src/audit/verify-audit.js";
import { parseConfig } from "../../src/config/load-config.js";
import { openChangeFeed } from "../../src/connectors/open-change-feed.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { feedOptions, type WatchCheck, watchDataset } from "../../src/engine/watch-dataset.js";
import { openStateStore } from "../../src/state/open-state-store.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const up = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));

describe.skipIf(!up)("watch run retention", () => {
  let pg: PostgresTestSchema;
  let my: MysqlTestDatabase;
  let dir: string;

  beforeAll(async () => {
    pg = await createPostgresTestSchema();
    my = await createMysqlTestDatabase();
    dir = mkdtempSync(join(tmpdir(), "concord-retention-"));
    await pg.admin.query(`CREATE TABLE ${pg.table("items")} (id bigint PRIMARY KEY, name text NOT NULL)`);
    await my.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL)");
  });
  afterAll(async () => {
    await pg.admin.query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 AND NOT active",
      [`concord_${pg.name}%`],
    );
    const pubs = await pg.admin.query<{ pubname: string }>(
      "SELECT pubname FROM pg_publication WHERE pubname LIKE $1",
      [`concord_${pg.name}%`],
    );
    for (const { pubname } of pubs.rows) await pg.admin.query(`DROP PUBLICATION "${pubname}"`);
    await pg.drop();
    await my.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("prunes quiet watch runs beyond keepRuns and keeps every run that repaired, with ledger and audit intact", async () => {
    const cfg = parseConfig(
      `state: sqlite:state.db
datasets:
  ${pg.name}:
    key: id
    replicas:
      pg: { url: "${POSTGRES.url}", table: ${pg.table("items")} }
      maria: { url: "${my.url}", table: items }
    policy: { owner: pg, resolve: owner }
    watch: { replicas: [pg], batch: 0s, keepRuns: 3 }
`,
      join(dir, "concord.yaml"),
    );
    const ds = cfg.datasets[0]!;
    const state = await openStateStore(cfg.state);
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas)
      replicas.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
    const stop = new AbortController();
    const checks: WatchCheck[] = [];
    let started = false;
    let n = 0;
    const watching = watchDataset(
      ds,
      replicas,
      [{ replica: "pg", open: () => openChangeFeed(ds.replicas[0]!, feedOptions(ds, "pg")) }],
      { state, now: Date.now },
      {
        signal: stop.signal,
        newRunId: () => `w-${String(++n).padStart(3, "0")}`,
        observer: {
          onStarted: () => {
            started = true;
          },
          onChecked: (c) => {
            checks.push(c);
          },
        },
      },
    );
    try {
      await waitFor(async () => started);
      // 45 writes, one at a time: every fifth one "lost" on the way to MariaDB (a repair), the rest copied
      // (before the write to the watched replica, so no check can run before the copy lands).
      for (let i = 1; i <= 45; i++) {
        // Counted before the write: a check may be done before the INSERT's answer reaches this client.
        const before = checks.length;
        if (i % 5 !== 0) await my.admin.query("INSERT INTO items VALUES (?, ?)", [i, `item ${i}`]);
        await pg.admin.query(`INSERT INTO ${pg.table("items")} VALUES ($1, $2)`, [i, `item ${i}`]);
        await waitFor(async () => checks.length > before);
      }
      const repaired = checks
        .filter((c) => (c.result.totals.repairs.applied ?? 0) > 0)
        .map((c) => c.result.runId);
      expect(repaired).toHaveLength(9);
      const runs = await state.listRuns({ dataset: ds.name, limit: 1000 });
      // 45 checks made 45 runs; after the prunes at checks 20 and 40 only the repairs and the newest remain.
      expect(checks).toHaveLength(45);
      expect(runs.length).toBeLessThanOrEqual(9 + 3 + 5);
      expect(runs.length).toBeLessThan(45);
      const ids = new Set(runs.map((r) => r.id));
      for (const id of repaired) expect(ids.has(id)).toBe(true);
      const ledger = await state.listRepairs({ dataset: ds.name });
      expect(ledger.filter((e) => e.outcome === "applied")).toHaveLength(9);
      const verified = await verifyAudit(state, cfg.audit);
      expect(verified.ok).toBe(true);
    } finally {
      stop.abort();
      await watching;
      for (const r of replicas) await r.connector.close();
      await state.close();
    }
  }, 120_000);
});

async function waitFor(condition: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
