/**
 * PostgreSQL keys must be unique: a key no primary key or unique index keeps unique is refused before any
 * work (duplicate rows would cancel in an XOR checksum and the replicas would "agree"), and a view's rows are
 * searched for a duplicate instead. Against a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { FULL_RANGE, type RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { OrderError } from "../../src/detect/merge-streams.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "v", type: "text" }],
};

describe.skipIf(!available)("PostgresConnector: keys must be unique", () => {
  let db: PostgresTestSchema;
  const connectors: PostgresConnector[] = [];

  beforeAll(async () => {
    db = await createPostgresTestSchema();
  });
  afterAll(async () => {
    for (const c of connectors) await c.close();
    await db?.drop();
  });

  function connect(table: string, label = `ds.${table}`): PostgresConnector {
    const c = new PostgresConnector(db.pool(2), db.table(table), { label });
    connectors.push(c);
    return c;
  }

  async function table(name: string, ddl: string, rows = ""): Promise<void> {
    await db.admin.query(`CREATE TABLE ${db.table(name)} (${ddl})`);
    if (rows) await db.admin.query(`INSERT INTO ${db.table(name)} VALUES ${rows}`);
  }

  async function refusal(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectorError);
    const message = (err as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }

  async function divergent(a: PostgresConnector, b: PostgresConnector): Promise<string[]> {
    const keys: string[] = [];
    for await (const batch of detectDivergences(SHAPE, [
      { name: "a", connector: a },
      { name: "b", connector: b },
    ]))
      for (const o of batch) keys.push(o.key[0]!);
    return keys;
  }

  it("refuses a key no unique index keeps unique, where duplicate rows would cancel in the checksum", async () => {
    // Each replica holds one row twice: (count 2, XOR 0) on both sides, so checksums alone would agree.
    await table("dup_a", "id bigint NOT NULL, v text", "(1, 'x'), (1, 'x')");
    await table("dup_b", "id bigint NOT NULL, v text", "(2, 'y'), (2, 'y')");
    const a = connect("dup_a");
    await a.describe();
    const message = await refusal(divergent(a, connect("dup_b")));
    expect(message).toBe(
      `ds.dup_a: table "${db.name}"."dup_a" does not keep key (id) unique: no primary key or unique index is made of key columns; add one, or name key columns that have one`,
    );
    // A non-unique index, a partial unique index and an expression index keep nothing unique either.
    await table("weak", "id bigint NOT NULL, v text");
    await db.admin.query(`CREATE INDEX ON ${db.table("weak")} (id)`);
    await db.admin.query(`CREATE UNIQUE INDEX ON ${db.table("weak")} (id) WHERE v IS NOT NULL`);
    await db.admin.query(`CREATE UNIQUE INDEX ON ${db.table("weak")} ((id + 1))`);
    expect(await refusal(connect("weak").count(SHAPE, FULL_RANGE))).toMatch(
      /does not keep key \(id\) unique/,
    );
  });

  it("takes a unique index instead of a primary key, on the key or on some of its columns", async () => {
    await table("uniq", "id bigint NOT NULL UNIQUE, v text", "(1, 'x'), (2, 'y')");
    expect(await connect("uniq").count(SHAPE, FULL_RANGE)).toBe(2);
    await table("pairs", "region text NOT NULL, id bigint NOT NULL, v text, UNIQUE (id)", "('eu', 1, 'x')");
    const pair: RecordShape = {
      key: [
        { name: "region", type: "text" },
        { name: "id", type: "integer" },
      ],
      columns: [{ name: "v", type: "text" }],
    };
    expect(await connect("pairs").count(pair, FULL_RANGE)).toBe(1);
    // Unique on (id, region) but the key is only id: two rows may share an id.
    expect(
      await refusal(
        connect("pairs").count({ ...SHAPE, key: [{ name: "region", type: "text" }] }, FULL_RANGE),
      ),
    ).toMatch(/does not keep key \(region\) unique/);
  });

  it("takes a nullable unique column holding one NULL key, and names a NULL key several rows hold", async () => {
    await table("nullable", "id bigint UNIQUE, v text", "(1, 'x'), (2, 'y'), (NULL, 'n')");
    expect(await connect("nullable").count(SHAPE, FULL_RANGE)).toBe(3);
    await db.admin.query(`INSERT INTO ${db.table("nullable")} VALUES (NULL, 'b')`);
    expect(await refusal(connect("nullable").count(SHAPE, FULL_RANGE))).toMatch(
      /^ds\.nullable: key \[null\] names several rows of table "[^"]+"\."nullable" \(its unique index nullable_id_key lets rows whose key holds NULL repeat\); a key must name one row/,
    );
    // NULLS NOT DISTINCT (PostgreSQL 15) keeps even NULLs unique: nothing to check.
    const [{ v }] = (await db.admin.query("SELECT current_setting('server_version_num')::int AS v")).rows;
    if (v >= 150000) {
      await table("nnd", "id bigint, v text, UNIQUE NULLS NOT DISTINCT (id)", "(1, 'x'), (NULL, 'n')");
      expect(await connect("nnd").count(SHAPE, FULL_RANGE)).toBe(2);
    }
  });

  it("searches a view's rows for a duplicate key, names it, and takes a view without one", async () => {
    await table("base", "id bigint NOT NULL, v text", "(1, 'x'), (2, 'y'), (3, 'z')");
    await db.admin.query(`CREATE VIEW ${db.table("plain_view")} AS SELECT id, v FROM ${db.table("base")}`);
    const view = connect("plain_view");
    expect(await view.count(SHAPE, FULL_RANGE)).toBe(3);
    await db.admin.query(
      `CREATE VIEW ${db.table("doubled")} AS SELECT id, v FROM ${db.table("base")} UNION ALL SELECT 2, 'again'`,
    );
    expect(await refusal(connect("doubled").count(SHAPE, FULL_RANGE))).toBe(
      `duplicate key ["2"] in replica ds.doubled: "${db.name}"."doubled" is not kept unique by any index (a view?), and key columns must be unique`,
    );
  });

  it("says a key is duplicate, not out of order, when a listing meets it twice", async () => {
    await table("moving", "id bigint NOT NULL, v text", "(1, 'x'), (2, 'y'), (3, 'z')");
    await table("steady", "id bigint PRIMARY KEY, v text", "(1, 'x'), (2, 'y'), (3, 'z')");
    await db.admin.query(`CREATE VIEW ${db.table("moving_view")} AS SELECT id, v FROM ${db.table("moving")}`);
    const view = connect("moving_view", "view");
    expect(await view.count(SHAPE, FULL_RANGE)).toBe(3);
    // The view was checked when first used; a duplicate appears afterwards, during the run.
    await db.admin.query(`INSERT INTO ${db.table("moving")} VALUES (2, 'y')`);
    const err = await divergent(connect("steady"), view).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OrderError);
    expect((err as Error).message).toBe(
      'duplicate key ["2"] in replica b: key columns must be unique (back them with a primary key or unique index)',
    );
  });
});
