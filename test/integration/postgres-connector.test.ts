/**
 * The PostgreSQL connector's edges on a real server: one-line errors without credentials (unreachable,
 * authentication, missing database or table, permission, statement timeout), retried reads and unretried
 * writes, read-only opening, a single Client, and the `postgres:` URL scheme.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import {
  openPostgresConnector,
  PostgresConnector,
} from "../../src/connectors/postgres/postgres-connector.js";
import { FULL_RANGE, type RecordShape } from "../../src/core/model.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "payload", type: "text" }],
};

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  const message = (err as Error).message;
  expect(message).not.toContain("\n");
  expect(message).not.toContain("s3cret");
  return err as Error;
}

/** CONCORD_TEST_PG_URL with another user, password and database. */
function urlAs(user: string, database?: string): string {
  const u = new URL(POSTGRES.url);
  u.username = user;
  u.password = "s3cret";
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

describe("PostgresConnector: an unreachable server", () => {
  it("is a one-line ConnectorError naming the replica and the server, password redacted", async () => {
    const c = openPostgresConnector("postgres://concord:s3cret@127.0.0.1:1/app", "items", {
      label: "orders.primary",
    });
    const err = await failure(c.describe());
    expect(err.message).toBe(
      "orders.primary: cannot describe table: cannot reach the PostgreSQL server at postgres://concord:***@127.0.0.1:1/app (ECONNREFUSED)",
    );
    await c.close();
  });

  it("names a URL Node cannot parse (a port that is not a number), password redacted", async () => {
    const c = openPostgresConnector("postgres://concord:s3cret@127.0.0.1:notaport/app", "items", {
      label: "orders.primary",
    });
    const err = await failure(c.describe());
    expect(err.message).toBe(
      "orders.primary: cannot describe table: invalid URL postgres://concord:***@127.0.0.1:notaport/app",
    );
    await c.close();
  });

  it("is opened through the postgres: and postgresql: schemes, which need a table", async () => {
    for (const url of ["postgres://u:s3cret@127.0.0.1:1/db", "postgresql://u:s3cret@127.0.0.1:1/db"]) {
      const c = await openConnector("orders", { name: "pg", url, table: "public.items" });
      expect(c).toBeInstanceOf(PostgresConnector);
      expect(c.kind).toBe("postgres");
      await c.close();
    }
    const err = await failure(openConnector("orders", { name: "pg", url: "postgres://u:s3cret@h/db" }));
    expect(err.message).toBe('orders.pg: postgres replica needs "table" (may be schema.table)');
  });
});

const available = await serviceAvailable(POSTGRES);

describe.skipIf(!available)("PostgresConnector: errors, retries and modes", () => {
  let db: PostgresTestSchema;
  let table: string;

  beforeAll(async () => {
    db = await createPostgresTestSchema();
    table = `"${db.name}".items`;
    await db.admin.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, payload text)`);
    await db.admin.query(`INSERT INTO ${table} SELECT g, 'p' || g FROM generate_series(1, 100) g`);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("reports a failed authentication", async () => {
    const c = openPostgresConnector(urlAs("concord_nobody"), db.table("items"), { label: "ds.pg" });
    const err = await failure(c.count(SHAPE, FULL_RANGE));
    expect(err.message).toMatch(
      /^ds\.pg: cannot describe table: authentication failed at postgres:\/\/concord_nobody:\*\*\*@/,
    );
    await c.close();
  });

  it("reports a missing database and a missing table", async () => {
    const noDb = openPostgresConnector(urlAs("postgres", "concord_no_such_db"), "items", { label: "ds.pg" });
    expect((await failure(noDb.describe())).message).toMatch(
      /^ds\.pg: cannot describe table: database does not exist at /,
    );
    await noDb.close();
    const noTable = openPostgresConnector(POSTGRES.url, `${db.name}.nope`, { label: "ds.pg" });
    expect((await failure(noTable.describe())).message).toBe(
      `ds.pg: cannot describe table: table "${db.name}"."nope" does not exist`,
    );
    expect((await failure(noTable.count(SHAPE, FULL_RANGE))).message).toContain("does not exist");
    await noTable.close();
  });

  it("reports permission denied on the schema and on the table", async () => {
    const role = `concord_noaccess_${process.pid}`;
    await db.admin.query(`DROP ROLE IF EXISTS ${role}`);
    await db.admin.query(`CREATE ROLE ${role} LOGIN`);
    try {
      const c = openPostgresConnector(urlAs(role), db.table("items"), { label: "ds.pg" });
      expect((await failure(c.describe())).message).toBe(
        `ds.pg: cannot describe table: permission denied on "${db.name}"."items": permission denied for schema ${db.name}`,
      );
      await db.admin.query(`GRANT USAGE ON SCHEMA "${db.name}" TO ${role}`);
      expect((await failure(c.count(SHAPE, FULL_RANGE))).message).toBe(
        `ds.pg: count failed: permission denied on "${db.name}"."items": permission denied for table items`,
      );
      await c.close();
    } finally {
      await db.admin.query(`DROP OWNED BY ${role}`);
      await db.admin.query(`DROP ROLE ${role}`);
    }
  });

  it("reports a statement timeout and does not retry it", async () => {
    const c = openPostgresConnector(POSTGRES.url, db.table("items"), {
      label: "ds.pg",
      statementTimeoutMs: 300,
    });
    await c.describe();
    const holder = new pg.Client(POSTGRES.url);
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    try {
      const before = c.stats.queries;
      const err = await failure(c.count(SHAPE, FULL_RANGE));
      expect(err.message).toMatch(
        /^ds\.pg: count failed: statement timed out or was cancelled \(statement_timeout; timeouts\.statement\): canceling statement due to statement timeout/,
      );
      expect(c.stats.queries - before).toBe(1);
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
      await c.close();
    }
  });

  it("retries a read whose connection is terminated, on a new connection; a write is not retried", async () => {
    const app = `concord-retry-${process.pid}`;
    const c = new PostgresConnector(
      new pg.Pool({ connectionString: POSTGRES.url, max: 2, application_name: app }),
      db.table("items"),
      { label: "ds.pg" },
    );
    const holder = new pg.Client(POSTGRES.url);
    await holder.connect();
    const terminateWaiting = async () => {
      for (let i = 0; i < 200; i++) {
        const { rows } = await db.admin.query(
          "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [app],
        );
        if (rows.length > 0) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error("nothing waited");
    };
    try {
      await c.describe();
      await holder.query("BEGIN");
      await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const counted = c.count(SHAPE, FULL_RANGE);
      await terminateWaiting();
      // The retry waits for the lock too; release it once the retry is waiting.
      for (let i = 0; i < 200; i++) {
        const { rows } = await db.admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [app],
        );
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await holder.query("ROLLBACK");
      expect(await counted).toBe(100);

      const seen = (await c.fetchRecords(SHAPE, [["1"]]))[0]!;
      await holder.query("BEGIN");
      await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      // Its failure is awaited from the start: it may reject while the backend is being terminated.
      const written = failure(
        c.applyWrites(SHAPE, [{ key: ["1"], expected: seen.fingerprint, next: ["x"] }]),
      );
      await terminateWaiting();
      const err = await written;
      expect(err.message).toMatch(/^ds\.pg: conditional write failed: /);
      await holder.query("ROLLBACK");
      expect((await c.fetchRecords(SHAPE, [["1"]]))[0]?.values).toEqual(["p1"]);
    } finally {
      await holder.end();
      await c.close();
    }
  });

  it("refuses writes when opened read-only, and its sessions refuse them too", async () => {
    const c = openPostgresConnector(POSTGRES.url, db.table("items"), { label: "ds.pg", readonly: true });
    expect(await c.count(SHAPE, FULL_RANGE)).toBe(100);
    const err = await failure(c.applyWrites(SHAPE, [{ key: ["1"], expected: null, next: ["x"] }]));
    expect(err.message).toBe("ds.pg: conditional write refused: opened read-only");
    await c.close();
  });

  it("estimates rows from the planner's statistics, and counts a table never analyzed", async () => {
    await db.admin.query(`CREATE TABLE ${db.table("fresh")} (id bigint PRIMARY KEY, payload text)`);
    await db.admin.query(`INSERT INTO ${db.table("fresh")} SELECT i, 'x' FROM generate_series(1, 37) i`);
    const c = openPostgresConnector(POSTGRES.url, db.table("fresh"), { label: "ds.pg", readonly: true });
    try {
      expect(await c.estimateCount(SHAPE)).toBe(37);
      await db.admin.query(`INSERT INTO ${db.table("fresh")} SELECT i, 'x' FROM generate_series(38, 50) i`);
      await db.admin.query(`ANALYZE ${db.table("fresh")}`);
      expect(await c.estimateCount(SHAPE)).toBe(50);
    } finally {
      await c.close();
    }
  });

  it("works over a single Client, one transaction at a time", async () => {
    const client = new pg.Client(POSTGRES.url);
    await client.connect();
    const c = new PostgresConnector(client, db.table("items"), { label: "ds.pg" });
    const [r1, r2] = await c.fetchRecords(SHAPE, [["1"], ["2"]]);
    const batches = [r1!, r2!].map((r) =>
      c.applyWrites(SHAPE, [{ key: r.key, expected: r.fingerprint, next: ["c"] }]),
    );
    expect(await Promise.all(batches)).toEqual([["applied"], ["applied"]]);
    expect((await c.fetchRecords(SHAPE, [["1"], ["2"]])).map((r) => r.values)).toEqual([["c"], ["c"]]);
    expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: r1!.fingerprint, next: ["p1"] }])).toEqual([
      "superseded",
    ]);
    await c.close();
    await db.admin.query(`UPDATE ${table} SET payload = 'p' || id WHERE id <= 2`);
  });
});
