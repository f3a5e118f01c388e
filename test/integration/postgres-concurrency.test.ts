/**
 * Conditional writes against concurrent writers on a real PostgreSQL server: a change committed by someone
 * else while a batch runs is never overwritten (the write is `superseded` and their value survives), and
 * concurrent batches on the same keys neither deadlock nor apply twice.
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ConditionalWrite } from "../../src/connectors/connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import type { Key, RecordShape } from "../../src/core/model.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "payload", type: "text" },
    { name: "version", type: "integer" },
  ],
};
const ROWS = 200;
const APP = `concord-concurrency-${process.pid}`;

let db: PostgresTestSchema;
let table: string;
let other: pg.Client;
const opened: PostgresConnector[] = [];

function connector(): PostgresConnector {
  const pool = new pg.Pool({ connectionString: POSTGRES.url, max: 2, application_name: APP });
  const c = new PostgresConnector(pool, db.table("items"), { label: "test.items" });
  opened.push(c);
  return c;
}

/** Resolves once a backend of the connector is waiting for a lock someone else holds. */
async function blockedOnLock(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await db.admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [APP],
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the connector never waited for the concurrent writer's lock");
}

async function payloads(ids: readonly number[]): Promise<Map<number, string>> {
  const { rows } = await db.admin.query(`SELECT id::int, payload FROM ${table} WHERE id = ANY($1)`, [ids]);
  return new Map(rows.map((r: { id: number; payload: string }) => [r.id, r.payload]));
}

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  table = `"${db.name}".items`;
  await db.admin.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, payload text, version bigint)`);
});

afterAll(async () => {
  if (db) await db.drop();
});

beforeEach(async () => {
  if (!available) return;
  await db.admin.query(`TRUNCATE ${table}`);
  await db.admin.query(`INSERT INTO ${table} SELECT g, 'base', 1 FROM generate_series(1, ${ROWS}) g`);
  other = new pg.Client(POSTGRES.url);
  await other.connect();
});

afterEach(async () => {
  if (!available) return;
  await other.end();
  for (const c of opened.splice(0)) await c.close();
});

async function repairs(c: PostgresConnector, ids: readonly number[]): Promise<ConditionalWrite[]> {
  const seen = new Map(
    (
      await c.fetchRecords(
        SHAPE,
        ids.map((id) => [String(id)]),
      )
    ).map((r) => [r.key[0], r]),
  );
  return ids.map((id) => ({
    key: [String(id)],
    expected: seen.get(String(id))?.fingerprint ?? null,
    next: ["ours", "2"],
  }));
}

describe.skipIf(!available)("PostgresConnector: conditional writes under concurrency", () => {
  it("never clobbers rows a concurrent writer changes while the batch runs: superseded, their value survives", async () => {
    const c = connector();
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    const writes = await repairs(c, ids);
    const theirs = [3, 7, 20];
    await other.query("BEGIN");
    await other.query(`UPDATE ${table} SET payload = 'theirs', version = 9 WHERE id = ANY($1)`, [theirs]);
    const outcome = c.applyWrites(SHAPE, writes);
    await blockedOnLock();
    await other.query("COMMIT");
    expect(await outcome).toEqual(ids.map((id) => (theirs.includes(id) ? "superseded" : "applied")));
    const now = await payloads(ids);
    for (const id of ids) expect(now.get(id), `id ${id}`).toBe(theirs.includes(id) ? "theirs" : "ours");
  });

  it("never clobbers a row a concurrent writer deletes, nor revives it", async () => {
    const c = connector();
    const writes = await repairs(c, [5, 6]);
    await other.query("BEGIN");
    await other.query(`DELETE FROM ${table} WHERE id = 5`);
    const outcome = c.applyWrites(SHAPE, writes);
    await blockedOnLock();
    await other.query("COMMIT");
    expect(await outcome).toEqual(["superseded", "applied"]);
    expect([...(await payloads([5, 6])).entries()]).toEqual([[6, "ours"]]);
  });

  it("lets a concurrent insert of a key it meant to insert win: superseded, their row survives", async () => {
    const c = connector();
    const key: Key = [String(ROWS + 1)];
    await other.query("BEGIN");
    await other.query(`INSERT INTO ${table} VALUES ($1, 'theirs', 9)`, [ROWS + 1]);
    const outcome = c.applyWrites(SHAPE, [
      { key, expected: null, next: ["ours", "2"] },
      { key: ["1"], expected: (await repairs(c, [1]))[0]!.expected, next: ["ours", "2"] },
    ]);
    await blockedOnLock();
    await other.query("COMMIT");
    expect(await outcome).toEqual(["superseded", "applied"]);
    expect((await payloads([ROWS + 1])).get(ROWS + 1)).toBe("theirs");
  });

  it("serialises a writer that comes after the lock: it waits for the batch and then writes its own change", async () => {
    const c = connector();
    const writes = await repairs(c, [1, 2]);
    await other.query("BEGIN");
    await other.query(`SELECT 1 FROM ${table} WHERE id = 2 FOR UPDATE`);
    const outcome = c.applyWrites(SHAPE, writes);
    await blockedOnLock();
    // The batch holds row 1 now; a write to it waits for the batch to commit.
    const late = db.admin.query(`UPDATE ${table} SET payload = 'late' WHERE id = 1`);
    await other.query("COMMIT");
    expect(await outcome).toEqual(["applied", "applied"]);
    await late;
    expect([...(await payloads([1, 2])).entries()].sort()).toEqual([
      [1, "late"],
      [2, "ours"],
    ]);
  });

  it("runs the same batch from two connectors at once, in opposite orders: each key applied exactly once, no deadlock", async () => {
    const a = connector();
    const b = connector();
    const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
    const forward = await repairs(a, ids);
    const backward = [...forward].reverse();
    const [ra, rb] = await Promise.all([a.applyWrites(SHAPE, forward), b.applyWrites(SHAPE, backward)]);
    rb.reverse();
    for (let i = 0; i < ids.length; i++)
      expect([ra[i], rb[i]].sort(), `id ${ids[i]}`).toEqual(["applied", "noop"]);
    expect(new Set((await payloads(ids)).values())).toEqual(new Set(["ours"]));
  });
});
