/**
 * The PostgreSQL connector's kept description: a describe after the first is one statement (the catalog
 * stamp, with the row estimate the pass's split points then take), and a table altered between two describes
 * — as between a long-lived coordinator's passes — is described afresh, so the pass sees the change.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatasetConfig } from "../../src/config/load-config.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { FULL_RANGE } from "../../src/core/model.js";
import { describeDataset } from "../../src/engine/describe-dataset.js";
import type { OpenReplica } from "../../src/engine/run-context.js";
import { segmentBounds } from "../../src/engine/segments.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

let db: PostgresTestSchema;
const replicas: OpenReplica[] = [];

function dataset(): DatasetConfig {
  return {
    name: "items",
    key: ["id"],
    types: {},
    versions: { counter: "version" },
    replicas: [
      { name: "a", url: POSTGRES.url, table: db.table("items_a") },
      { name: "b", url: POSTGRES.url, table: db.table("items_b") },
    ],
    detect: {},
    mode: "repair",
    intensity: 1,
    checkpointRows: 100,
    policy: { owner: "a", merge: {}, tolerance: {}, limits: {} },
  } as DatasetConfig;
}

/** Statements each replica's connector sent during `fn`. */
async function statements(fn: () => Promise<unknown>): Promise<number[]> {
  // The pair's connections, connected in the background once it was accepted, are set up first: their
  // session statements are not the pass's.
  for (const r of replicas) await (r.connector as PostgresConnector).warmed();
  const before = replicas.map((r) => r.connector.stats.queries);
  await fn();
  return replicas.map((r, i) => r.connector.stats.queries - before[i]!);
}

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
  for (const t of ["items_a", "items_b"]) {
    await db.admin.query(
      `CREATE TABLE ${db.table(t)} (id bigint PRIMARY KEY, name text NOT NULL, version bigint NOT NULL)`,
    );
    await db.admin.query(`INSERT INTO ${db.table(t)} SELECT i, 'n' || i, 1 FROM generate_series(1, 1000) i`);
    await db.admin.query(`ANALYZE ${db.table(t)}`);
  }
  for (const name of ["a", "b"])
    replicas.push({
      name,
      connector: new PostgresConnector(db.pool(2), db.table(`items_${name}`), { label: name }),
    });
});

afterAll(async () => {
  for (const r of replicas.splice(0)) await r.connector.close();
  if (db) await db.drop();
});

describe.skipIf(!available)("PostgreSQL connector: the kept description", () => {
  it("is checked with one statement per pass and described afresh once the table changed", async () => {
    const ds = dataset();
    const first = await describeDataset(ds, replicas);
    expect(first.issues).toEqual([]);
    expect(first.notes).toEqual([]); // compared inside PostgreSQL: the pair's facts are read
    const bounds = await segmentBounds(replicas, first.shape, ds.checkpointRows, { inStore: true });
    expect(bounds).toHaveLength(9);

    // A pass on the same connectors with nothing changed: its describe is the stamp (one statement a
    // replica, the pair's facts kept), read with the row estimate and the first and last keys its split
    // points then take.
    let again!: Awaited<ReturnType<typeof describeDataset>>;
    expect(await statements(async () => (again = await describeDataset(ds, replicas)))).toEqual([1, 1]);
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(
      await statements(async () => {
        expect(await segmentBounds(replicas, again.shape, ds.checkpointRows, { inStore: true })).toEqual(
          bounds,
        );
      }),
    ).toEqual([0, 0]);
    // Taken once: asked again, the connector reads them.
    expect(await statements(() => replicas[0]!.connector.estimateCount!(again.shape))).toEqual([1, 0]);
    expect(await statements(() => replicas[0]!.connector.keyBounds!(again.shape, FULL_RANGE))).toEqual([
      1, 0,
    ]);

    // Rows added past the last key: the next pass's split points span them (read with its stamp, not kept).
    await db.admin.query(
      `INSERT INTO ${db.table("items_a")} SELECT i, 'n' || i, 1 FROM generate_series(1001, 1100) i`,
    );
    await describeDataset(ds, replicas);
    const grown = await segmentBounds(replicas, again.shape, ds.checkpointRows, { inStore: true });
    expect(grown).not.toEqual(bounds);
    expect(Number(grown.at(-1)![0])).toBeGreaterThan(Number(bounds.at(-1)![0]));

    // A column added on b between passes: the next pass's describe sees it, as a schema issue.
    await db.admin.query(`ALTER TABLE ${db.table("items_b")} ADD COLUMN note text`);
    const altered = await describeDataset(ds, replicas);
    expect(altered.fingerprint).not.toBe(first.fingerprint);
    expect(altered.issues).toHaveLength(1);
    expect(JSON.stringify(altered.issues[0])).toContain("note");
    expect((await replicas[1]!.connector.describe()).columns.map((c) => c.name)).toContain("note");

    // A column's type changed on a (no column added or dropped): seen too.
    await db.admin.query(`ALTER TABLE ${db.table("items_a")} ALTER COLUMN name TYPE varchar(40)`);
    const retyped = await replicas[0]!.connector.describe();
    expect(retyped.columns.find((c) => c.name === "name")?.nativeType).toMatch(/character varying\(40\)/);

    // The table dropped and created again under the same name, without its primary key: described afresh,
    // so reading it refuses the key it no longer keeps unique instead of using the old index.
    await db.admin.query(`DROP TABLE ${db.table("items_b")}`);
    await db.admin.query(
      `CREATE TABLE ${db.table("items_b")} (id bigint NOT NULL, name text NOT NULL, version bigint NOT NULL)`,
    );
    await describeDataset(ds, replicas, { pushdown: false });
    await expect(replicas[1]!.connector.count(altered.shape, FULL_RANGE)).rejects.toThrow(/unique/);

    // The key column renamed on a, whose describe reads the first and last keys with its stamp: that
    // statement fails on the old name, and the table is described afresh.
    const current = await describeDataset(ds, replicas, { pushdown: false });
    expect(await replicas[0]!.connector.keyBounds!(current.shape, FULL_RANGE)).toEqual({
      first: ["1"],
      last: ["1100"],
    });
    await db.admin.query(`ALTER TABLE ${db.table("items_a")} RENAME COLUMN id TO ident`);
    const renamed = await replicas[0]!.connector.describe();
    expect(renamed.columns.map((c) => c.name)).toEqual(["ident", "name", "version"]);
  });
});
