/**
 * What only the PostgreSQL state store does: schemas, migrations under concurrent start-up, pools, URL
 * wiring and connection errors. Everything the port promises runs in state-store-conformance.test.ts.
 */
import pg from "pg";
import { afterAll, describe, expect, it, vi } from "vitest";
import { verifyAuditChain } from "../../src/core/audit-chain.js";
import { openStateStore, StateStoreError } from "../../src/state/open-state-store.js";
import { POSTGRES_STATE_VERSION } from "../../src/state/postgres/migrate-postgres-state.js";
import { PostgresStateStore } from "../../src/state/postgres/postgres-state-store.js";
import type { LedgerEntry } from "../../src/state/state-store.js";
import { POSTGRES } from "../support/services.js";
import {
  dropPostgresSchema,
  PG_SCHEMA_PREFIX,
  postgresFactory,
  postgresSql,
  postgresUrl,
} from "./state-store-factories.js";

describe("PostgresStateStore: connection errors", () => {
  it.each([
    [
      "postgres://concord:s3cret@127.0.0.1:1/state?schema=x",
      "postgres://concord:***@127.0.0.1:1/state?schema=x",
    ],
    ["postgresql://concord:s3cret@127.0.0.1:1/state", "postgresql://concord:***@127.0.0.1:1/state"],
  ])("names the store with the password redacted, on one line: %s", async (url, shown) => {
    const err = await openStateStore(url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StateStoreError);
    const message = (err as Error).message;
    expect(message).toMatch(new RegExp(`^state ${shown.replace(/[?*.]/g, "\\$&")}: .*ECONNREFUSED`));
    expect(message).not.toContain("s3cret");
    expect(message).not.toContain("\n");
  });

  it("refuses an empty schema name before connecting", async () => {
    await expect(PostgresStateStore.open("postgres://u:pw@127.0.0.1:1/db?schema=")).rejects.toThrow(
      new StateStoreError("state postgres://u:***@127.0.0.1:1/db?schema=: schema must be 1 to 63 bytes long"),
    );
  });

  it("uses the concord schema unless told otherwise, and sends nothing before first use", async () => {
    const pool = new pg.Pool({ connectionString: "postgres://u@127.0.0.1:1/db" });
    expect(new PostgresStateStore(pool).schema).toBe("concord");
    expect(new PostgresStateStore(pool, { schema: "ops" }).schema).toBe("ops");
    expect(pool.totalCount).toBe(0);
    await pool.end();
  });
});

const available = await postgresFactory.available();

describe.skipIf(!available)("PostgresStateStore: schemas and migrations", () => {
  const schemas: string[] = [];
  const fresh = (name: string) => {
    const schema = `${PG_SCHEMA_PREFIX}_${name}`;
    schemas.push(schema);
    return schema;
  };

  afterAll(async () => {
    for (const schema of schemas) await dropPostgresSchema(schema);
  });

  it("creates its tables once when several processes open a new schema at the same time", async () => {
    const schema = fresh("race");
    const stores = await Promise.all(
      Array.from({ length: 6 }, () => PostgresStateStore.open(postgresUrl(schema))),
    );
    try {
      expect(await postgresSql(schema, "SELECT version FROM schema_migrations ORDER BY version")).toEqual(
        ALL_VERSIONS,
      );
      const tables = await postgresSql(
        schema,
        `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY 1`,
      );
      expect(tables.map((t) => t.table_name)).toEqual([
        "audit",
        "change_log",
        "change_log_heads",
        "checkpoints",
        "dirty_keys",
        "dirty_segments",
        "divergences",
        "divergent_keys",
        "escalations",
        "evidence",
        "feed_positions",
        "leases",
        "ledger",
        "observed_versions",
        "policy_current",
        "policy_versions",
        "replay_cursors",
        "rollouts",
        "run_segments",
        "runs",
        "samples",
        "schema_migrations",
        "segment_summaries",
        "segment_tree_nodes",
        "segment_trees",
      ]);
      await Promise.all(stores.map((s, i) => s.appendAudit([eventAt(i)])));
      expect((await stores[0]!.readAudit()).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      for (const s of stores) await s.close();
    }
    // Opening again finds nothing to do.
    const again = await PostgresStateStore.open(postgresUrl(schema));
    await again.close();
    expect(await postgresSql(schema, "SELECT count(*)::int AS n FROM schema_migrations")).toEqual([
      { n: POSTGRES_STATE_VERSION },
    ]);
  });

  // A server restart (or pg_terminate_backend) ends a statement in flight with SQLSTATE 57P01, not a socket
  // error: the command must still stop with the one line naming the state store, not an "internal error".
  it("names the store when the server terminates its connection mid-statement", async () => {
    const schema = fresh("terminated");
    const store = await PostgresStateStore.open(postgresUrl(schema));
    const admin = new pg.Client({ connectionString: POSTGRES.url });
    await admin.connect();
    try {
      await store.readAudit();
      await admin.query("BEGIN");
      await admin.query(`LOCK TABLE "${schema}".audit IN ACCESS EXCLUSIVE MODE`);
      const read = store.readAudit().then(
        () => undefined,
        (e: unknown) => e,
      );
      let killed = 0;
      for (let i = 0; i < 100 && killed === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const { rows } = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE $1`,
          [`%${schema}%`],
        );
        killed = rows.length;
      }
      expect(killed).toBe(1);
      const err = await read;
      expect(err).toBeInstanceOf(StateStoreError);
      expect((err as Error).message).toMatch(
        /^state postgres(ql)?:\/\/[^\n]*: connection lost: terminating connection/,
      );
    } finally {
      await admin.query("ROLLBACK").catch(() => undefined);
      await admin.end();
      await store.close();
    }
  });

  it("upgrades a version-1 schema to the latest and keeps what it held", async () => {
    const schema = fresh("upgrade");
    // A schema as the first release left it: version 1's tables with a run and an audit log in them.
    const first = await PostgresStateStore.open(postgresUrl(schema));
    await first.beginRun({ id: "run-1", dataset: "users", command: "scan", startedAt: 1 });
    await first.appendAudit([eventAt(1), eventAt(2), eventAt(3)]);
    await first.close();
    await postgresSql(
      schema,
      `DROP TABLE "${schema}".checkpoints, "${schema}".samples, "${schema}".divergent_keys, "${schema}".leases;
       ALTER TABLE "${schema}".runs DROP COLUMN heartbeat_at;
       ${dropQueueFacets(schema)}
       DELETE FROM "${schema}".schema_migrations WHERE version >= 2`,
    );
    expect(await postgresSql(schema, "SELECT max(version) AS v FROM schema_migrations")).toEqual([{ v: 1 }]);

    const upgraded = await PostgresStateStore.open(postgresUrl(schema));
    try {
      expect(await postgresSql(schema, "SELECT version FROM schema_migrations ORDER BY version")).toEqual(
        ALL_VERSIONS,
      );
      expect((await upgraded.getRun("run-1")).map((r) => r.command)).toEqual(["scan"]);
      const log = await upgraded.readAudit();
      expect(log.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(verifyAuditChain(log)).toEqual({ ok: true, count: 3 });
      // Version 2's tables work: a checkpoint, samples, divergent keys.
      const checkpoint = {
        dataset: "users",
        runId: "run-2",
        mode: "scan",
        bounds: [["100"]],
        done: 1,
        totals: { counts: {} },
        startedAt: 5,
        updatedAt: 6,
      };
      await upgraded.putCheckpoint(checkpoint);
      expect(await upgraded.getCheckpoint("users")).toEqual(checkpoint);
      await upgraded.markDivergent("users", ['["1"]'], 7);
      expect(await upgraded.takeDivergent("users", ['["1"]'])).toEqual(new Map([['["1"]', 7]]));
      await upgraded.appendAudit([eventAt(4)]);
      expect(verifyAuditChain(await upgraded.readAudit())).toEqual({ ok: true, count: 4 });
    } finally {
      await upgraded.close();
    }
  });

  it("upgrades a version-2 schema (runs without heartbeats) to the latest: a run's start stands for its heartbeat", async () => {
    const schema = fresh("upgrade_v2");
    const first = await PostgresStateStore.open(postgresUrl(schema));
    await first.beginRun({ id: "old-run", dataset: "users", command: "repair", startedAt: 1000 });
    await first.recordRepairs([pendingRepair("r1", "old-run")]);
    await first.close();
    await postgresSql(
      schema,
      `DROP TABLE "${schema}".leases;
       ALTER TABLE "${schema}".runs DROP COLUMN heartbeat_at;
       ${dropQueueFacets(schema)}
       DELETE FROM "${schema}".schema_migrations WHERE version >= 3`,
    );

    const upgraded = await PostgresStateStore.open(postgresUrl(schema));
    try {
      expect(await postgresSql(schema, "SELECT version FROM schema_migrations ORDER BY version")).toEqual(
        ALL_VERSIONS,
      );
      expect(await upgraded.getRun("old-run")).toEqual([
        {
          id: "old-run",
          dataset: "users",
          command: "repair",
          startedAt: 1000,
          status: "running",
          counts: {},
          stats: {},
        },
      ]);
      expect(await upgraded.listAbandonedRepairs("users", { staleBefore: 1000 })).toEqual([]);
      expect((await upgraded.listAbandonedRepairs("users", { staleBefore: 1001 })).map((e) => e.id)).toEqual([
        "r1",
      ]);
      expect(await upgraded.heartbeatRun("old-run", 5000)).toBe(true);
      expect(await upgraded.listAbandonedRepairs("users", { staleBefore: 5000 })).toEqual([]);
      expect(await upgraded.acquireLease("pass:users", "me", 1, 10)).toBe(true);
    } finally {
      await upgraded.close();
    }
  });

  it("upgrades a version-3 schema (escalations without facets): each groups by its class", async () => {
    const schema = fresh("upgrade_v3");
    const first = await PostgresStateStore.open(postgresUrl(schema));
    const old = {
      id: "old",
      dataset: "users",
      key: ["7"],
      class: "conflict",
      reason: "both changed",
      options: ["a", "b"],
      detail: { observed: { a: "00", b: "11" } },
      status: "open" as const,
      runId: "run-1",
      createdAt: 100,
    };
    await first.openEscalations([old]);
    await first.close();
    await postgresSql(
      schema,
      `${dropQueueFacets(schema)} DELETE FROM "${schema}".schema_migrations WHERE version >= 4`,
    );
    const upgraded = await PostgresStateStore.open(postgresUrl(schema));
    try {
      expect(await upgraded.getEscalation("old")).toEqual(old);
      expect(await upgraded.groupEscalations({ status: "open" })).toEqual([
        {
          dataset: "users",
          class: "conflict",
          pattern: '["conflict"]',
          count: 1,
          first: "old",
          oldestAt: 100,
          newestAt: 100,
        },
      ]);
      expect(await upgraded.countEscalations({ column: "name" })).toBe(0);
    } finally {
      await upgraded.close();
    }
  });

  it("keeps schemas apart: each has a log of its own", async () => {
    const [a, b] = [fresh("apart_a"), fresh("apart_b")];
    const storeA = await PostgresStateStore.open(postgresUrl(a));
    const storeB = await PostgresStateStore.open(postgresUrl(b));
    try {
      await storeA.appendAudit([eventAt(1), eventAt(2)]);
      await storeB.appendAudit([eventAt(3)]);
      expect((await storeA.readAudit()).map((e) => e.seq)).toEqual([1, 2]);
      expect(await storeB.readAudit()).toMatchObject([{ seq: 1, ts: 3 }]);
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });

  it("is opened by openStateStore for postgres: and postgresql: URLs", async () => {
    const schema = fresh("wired");
    for (const url of [postgresUrl(schema), postgresUrl(schema).replace(/^postgres:/, "postgresql:")]) {
      const store = await openStateStore(url);
      expect(store).toBeInstanceOf(PostgresStateStore);
      expect((store as PostgresStateStore).schema).toBe(schema);
      await store.close();
    }
  });

  it("works over a pool it was given, creates its tables on first use, and leaves the pool open", async () => {
    const schema = fresh("given_pool");
    const pool = new pg.Pool({ connectionString: POSTGRES.url });
    try {
      const store = new PostgresStateStore(pool, { schema });
      await store.beginRun({ id: "run-1", dataset: "users", command: "scan", startedAt: 1 });
      await store.close();
      expect((await pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      expect(await new PostgresStateStore(pool, { schema }).getRun("run-1")).toMatchObject([{ id: "run-1" }]);
    } finally {
      await pool.end();
    }
  });

  it("reports a database that does not exist as a StateStoreError naming the store", async () => {
    const url = new URL(POSTGRES.url);
    url.pathname = "/concord_no_such_database";
    await expect(PostgresStateStore.open(url.toString())).rejects.toThrow(
      /^state postgres(ql)?:\/\/.*concord_no_such_database: .*does not exist/,
    );
  });
});

describe.skipIf(!available)("PostgresStateStore: ledger statements", () => {
  afterAll(async () => {
    await dropPostgresSchema(`${PG_SCHEMA_PREFIX}_ledger_statements`);
  });

  // The ledger rules in SQL (a conditional upsert, a conditional UPDATE, RETURNING what they changed): each id
  // is looked up by the statement that decides it, not first by a SELECT of every row (owners and images).
  it("claims and settles a batch in one ledger statement each (rows it did not claim read after)", async () => {
    const store = await PostgresStateStore.open(postgresUrl(`${PG_SCHEMA_PREFIX}_ledger_statements`));
    const spy = vi.spyOn(pg.Client.prototype, "query");
    try {
      await store.claimRepairs([pendingRepair("held", "run-0")]);
      const ledgerStatements = async (work: () => Promise<unknown>) => {
        spy.mockClear();
        await work();
        return spy.mock.calls
          .map(([q]) => String(typeof q === "string" ? q : (q as { text?: string }).text))
          .filter((text) => /\b(FROM|UPDATE|INTO)\s+"[^"]+"\.ledger\b/.test(text))
          .map((text) => text.trim().split(/\s+/)[0]);
      };
      const claims = ["r1", "r2", "r3"].map((id) => pendingRepair(id, "run-1"));
      expect(await ledgerStatements(() => store.claimRepairs(claims))).toEqual(["INSERT"]);
      // A held id is read after the claim, to report who holds it.
      expect(
        await ledgerStatements(() =>
          store.claimRepairs([pendingRepair("r4", "run-1"), pendingRepair("held", "run-1")]),
        ),
      ).toEqual(["INSERT", "SELECT"]);
      const settle = (id: string, outcome: "applied" | "failed") => ({
        id,
        key: ["1"],
        runId: "run-1",
        outcome,
        attempts: 1,
        updatedAt: 2000,
      });
      const settlements = [settle("r1", "failed"), settle("r2", "applied"), settle("r3", "applied")];
      expect(await ledgerStatements(() => store.settleRepairs(settlements, []))).toEqual(["UPDATE"]);
      // An id settled twice in one call: a second statement, after the first.
      expect(
        await ledgerStatements(() =>
          store.settleRepairs([settle("r4", "failed"), settle("r4", "applied")], []),
        ),
      ).toEqual(["UPDATE", "UPDATE"]);
      expect((await store.listRepairs({})).map((e) => [e.id, e.outcome])).toEqual([
        ["held", "pending"],
        ["r1", "failed"],
        ["r2", "applied"],
        ["r3", "applied"],
        ["r4", "applied"],
      ]);
    } finally {
      spy.mockRestore();
      await store.close();
    }
  });
});

const ALL_VERSIONS = Array.from({ length: POSTGRES_STATE_VERSION }, (_, i) => ({ version: i + 1 }));

function pendingRepair(id: string, runId: string): LedgerEntry {
  return {
    id,
    runId,
    dataset: "users",
    key: ["1"],
    target: "b",
    expected: null,
    nextFingerprint: "0123456789abcdef",
    before: null,
    after: ["x"],
    outcome: "pending",
    attempts: 1,
    updatedAt: 1000,
  };
}

function eventAt(ts: number) {
  return { ts, runId: "run-1", type: "detected" as const, dataset: "users", key: null, data: null };
}

/**
 * SQL taking version 4's escalation facets and the later tables (policy registry, feed positions, run segments,
 * rollouts, evidence, segment summaries, the change log and replay cursors, segment trees, the ledger's
 * `undoes` and `before_native`, key-grain dirty marks, the escalations' list-order index) away again.
 */
function dropQueueFacets(schema: string): string {
  return `DROP TABLE "${schema}".feed_positions, "${schema}".policy_versions, "${schema}".policy_current,
      "${schema}".run_segments, "${schema}".rollouts, "${schema}".evidence, "${schema}".segment_summaries,
      "${schema}".dirty_segments, "${schema}".change_log, "${schema}".change_log_heads,
      "${schema}".replay_cursors, "${schema}".segment_tree_nodes, "${schema}".segment_trees,
      "${schema}".dirty_keys;
    DROP INDEX "${schema}".escalations_queue;
    DROP INDEX "${schema}".escalations_order;
    ALTER TABLE "${schema}".escalations DROP COLUMN columns, DROP COLUMN absent, DROP COLUMN involved,
      DROP COLUMN pattern;
    ALTER TABLE "${schema}".ledger DROP COLUMN undoes, DROP COLUMN before_native;`;
}
