/**
 * The PostgreSQL state store's connections prepare each statement with parameters once per connection (the
 * state ports send the same few dozen per segment), and a connection whose prepared statement went stale
 * (another process added columns to its table) is dropped, so the next call prepares it afresh. Real server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pg } from "../../src/state/postgres/node-postgres.js";
import { PostgresStateConnections } from "../../src/state/postgres/postgres-state-connection.js";
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
});
