/**
 * The PostgreSQL state store's connections prepare each statement with parameters once per connection (the
 * state ports send the same few dozen per segment), and a connection whose prepared statement went stale
 * (another process added columns to its table) is dropped, so the next call prepares it afresh. A transaction
 * sends its BEGIN with its locks in one message, and nothing at all when it has nothing to send; a lock and
 * the read it guards (the audit chain's tail) go in one message. Real server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pg } from "../../src/state/postgres/node-postgres.js";
import { PostgresStateConnections } from "../../src/state/postgres/postgres-state-connection.js";
import { PostgresStateDb } from "../../src/state/postgres/postgres-state-db.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const up = await serviceAvailable(POSTGRES);
const SCHEMA = `concord_state_conn_${process.pid}`;

describe.skipIf(!up)("PostgresStateConnections", () => {
  // One connection: every call below goes to the same backend.
  const pool = new pg.Pool({ connectionString: POSTGRES.url, max: 1 });
  const connections = new PostgresStateConnections(pool, "test");

  beforeAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await pool.query(`CREATE SCHEMA ${SCHEMA}`);
    await pool.query(`CREATE TABLE ${SCHEMA}.t (id int PRIMARY KEY, a text)`);
    await pool.query(`INSERT INTO ${SCHEMA}.t VALUES (1, 'one')`);
  });

  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await connections.end();
  });

  const prepared = async () =>
    (
      await connections.query<{ statement: string }>(
        "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'concord_state_%' AND statement LIKE $1",
        [`%${SCHEMA}.t %`],
      )
    ).rows.map((r) => r.statement);

  it("prepares a statement with parameters once, and runs it again by name", async () => {
    const text = `SELECT a FROM ${SCHEMA}.t WHERE id = $1`;
    expect((await connections.query(text, [1])).rows).toEqual([{ a: "one" }]);
    expect((await connections.query(text, [1])).rows).toEqual([{ a: "one" }]);
    expect(await prepared()).toEqual([text]);
  });

  it("drops a connection whose prepared statement went stale; the next call prepares it afresh", async () => {
    const text = `SELECT * FROM ${SCHEMA}.t WHERE id = $1`;
    expect((await connections.query(text, [1])).rows).toEqual([{ id: 1, a: "one" }]);
    // Another process upgrades the table: the statement prepared above now returns another row type.
    const other = new pg.Client({ connectionString: POSTGRES.url });
    await other.connect();
    await other.query(`ALTER TABLE ${SCHEMA}.t ADD COLUMN b text NOT NULL DEFAULT 'bee'`);
    await other.end();
    // Inside a transaction (as PostgresStateDb.transaction runs one): the statement fails, ROLLBACK tells
    // whether the connection is still fit to go back to the pool.
    const { client, release } = await connections.checkout();
    await client.query("BEGIN");
    await expect(client.query(text, [1])).rejects.toThrow(/cached plan/);
    const broken = await client.query("ROLLBACK").then(
      () => undefined,
      (err: Error) => err,
    );
    release(broken);
    expect((await connections.query(text, [1])).rows).toEqual([{ id: 1, a: "one", b: "bee" }]);
  });

  it("sends a transaction's BEGIN with its locks, and no BEGIN or COMMIT for a transaction that sends nothing", async () => {
    const sent: string[] = [];
    const logged = new pg.Pool({ connectionString: POSTGRES.url, max: 1 });
    logged.on("connect", (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        const text = typeof args[0] === "string" ? args[0] : (args[0] as { text: string }).text;
        sent.push(text);
        return query(...args);
      };
    });
    const db = new PostgresStateDb(logged, `${SCHEMA}_db`, "test");
    try {
      await db.ready();
      sent.length = 0;
      const got = await db.transaction(async (c) => {
        await db.lock(c, "b", "a");
        return (await c.query<{ x: number }>("SELECT $1::int AS x", [7])).rows[0]?.x;
      });
      expect(got).toBe(7);
      expect(sent).toEqual([
        `BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(hashtextextended('concord:${SCHEMA}_db:a', 0)), pg_advisory_xact_lock(hashtextextended('concord:${SCHEMA}_db:b', 0))`,
        "SELECT $1::int AS x",
        "COMMIT",
      ]);
      // A statement first: BEGIN goes just before it. A failure rolls back what was begun.
      sent.length = 0;
      await expect(
        db.transaction(async (c) => {
          await c.query("SELECT $1::int AS x", [1]);
          await db.lock(c, "a");
          throw new Error("stop");
        }),
      ).rejects.toThrow("stop");
      expect(sent).toEqual([
        "BEGIN ISOLATION LEVEL READ COMMITTED",
        "SELECT $1::int AS x",
        `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
        "ROLLBACK",
      ]);
      sent.length = 0;
      expect(await db.transaction(async () => "nothing")).toBe("nothing");
      expect(sent).toEqual([]);
      // A lock and the read it guards in one message: with the BEGIN when first, else after the statements.
      const lockA = `SELECT pg_advisory_xact_lock(hashtextextended('concord:${SCHEMA}_db:a', 0))`;
      sent.length = 0;
      const read = await db.transaction(async (c) => {
        const first = await db.lockThen<{ x: number }>(c, "a", "SELECT 1 AS x");
        await c.query("SELECT $1::int AS x", [2]);
        const second = await db.lockThen<{ x: number }>(c, "a", "SELECT 3 AS x");
        return [first.rows, second.rows];
      });
      expect(read).toEqual([[{ x: 1 }], [{ x: 3 }]]);
      expect(sent).toEqual([
        `BEGIN ISOLATION LEVEL READ COMMITTED; ${lockA}; SELECT 1 AS x`,
        "SELECT $1::int AS x",
        `${lockA}; SELECT 3 AS x`,
        "COMMIT",
      ]);
    } finally {
      await db.connections.end();
      await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_db CASCADE`);
    }
  });
});
