/**
 * MariaDB/MySQL keys must be unique (a key no primary key or unique index keeps unique is refused before
 * any work; a view's rows are searched for a duplicate), and spatial columns are read exactly, as the bytes
 * the server stores. Against a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { FULL_RANGE, type RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "v", type: "text" }],
};

describe.skipIf(!available)("MysqlConnector: keys must be unique, spatial columns read exactly", () => {
  let db: MysqlTestDatabase;
  const connectors: MysqlConnector[] = [];

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    for (const c of connectors) await c.close();
    await db?.drop();
  });

  function connect(table: string): MysqlConnector {
    const c = new MysqlConnector(db.pool(2), table, { label: `ds.${table}`, where: db.url, ownsPool: true });
    connectors.push(c);
    return c;
  }

  async function table(name: string, ddl: string, rows = ""): Promise<void> {
    await db.admin.query(`CREATE TABLE ${name} (${ddl})`);
    if (rows) await db.admin.query(`INSERT INTO ${name} VALUES ${rows}`);
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

  async function divergent(shape: RecordShape, a: MysqlConnector, b: MysqlConnector): Promise<string[]> {
    const keys: string[] = [];
    for await (const batch of detectDivergences(shape, [
      { name: "a", connector: a },
      { name: "b", connector: b },
    ]))
      for (const o of batch) keys.push(o.key[0]!);
    return keys;
  }

  it("refuses a key no unique index keeps unique, where duplicate rows would cancel in the checksum", async () => {
    // Each replica holds one row twice: (count 2, XOR 0) on both sides, so checksums alone would agree.
    await table("dup_a", "id BIGINT NOT NULL, v TEXT, KEY (id)", "(1, 'x'), (1, 'x')");
    await table("dup_b", "id BIGINT NOT NULL, v TEXT, KEY (id)", "(2, 'y'), (2, 'y')");
    const a = connect("dup_a");
    await a.describe();
    expect(await refusal(divergent(SHAPE, a, connect("dup_b")))).toBe(
      "ds.dup_a: table dup_a does not keep key (id) unique: no primary key or unique index is made of key columns; add one, or name key columns that have one",
    );
  });

  it("takes a nullable unique index holding one NULL key, and names a NULL key several rows hold", async () => {
    await table("uniq", "id BIGINT UNIQUE, v TEXT", "(1, 'x'), (2, 'y'), (NULL, 'n')");
    expect(await connect("uniq").count(SHAPE, FULL_RANGE)).toBe(3);
    await db.admin.query("INSERT INTO uniq VALUES (NULL, 'b')");
    expect(await refusal(connect("uniq").count(SHAPE, FULL_RANGE))).toBe(
      "ds.uniq: key [null] names several rows of table uniq (its unique index id lets rows whose key holds NULL repeat); a key must name one row: delete or merge the duplicates, or make the index NULLS NOT DISTINCT (PostgreSQL 15+)",
    );
  });

  it("searches a view's rows for a duplicate key, names it, and takes a view without one", async () => {
    await table("base", "id BIGINT PRIMARY KEY, v TEXT", "(1, 'x'), (2, 'y'), (3, 'z')");
    await db.admin.query("CREATE VIEW plain_view AS SELECT id, v FROM base");
    expect(await connect("plain_view").count(SHAPE, FULL_RANGE)).toBe(3);
    await db.admin.query("CREATE VIEW doubled AS SELECT id, v FROM base UNION ALL SELECT 3, 'again'");
    expect(await refusal(connect("doubled").count(SHAPE, FULL_RANGE))).toBe(
      'duplicate key ["3"] in replica ds.doubled: doubled is not kept unique by any index (a view?), and key columns must be unique',
    );
  });

  it("reads a POINT as the bytes the server stores (SRID, then WKB), finds a moved point and repairs it", async () => {
    await table("places_a", "id INT PRIMARY KEY, at POINT NOT NULL, area GEOMETRY NULL");
    await table("places_b", "id INT PRIMARY KEY, at POINT NOT NULL, area GEOMETRY NULL");
    for (const t of ["places_a", "places_b"]) {
      await db.admin.query(
        `INSERT INTO ${t} VALUES (1, POINT(1, 2), ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)), (2, POINT(3, 4), NULL)`,
      );
    }
    await db.admin.query("UPDATE places_b SET at = POINT(3, 5) WHERE id = 2");
    const a = connect("places_a");
    const b = connect("places_b");
    const { columns } = await a.describe();
    expect(columns.map((c) => [c.name, c.type, c.nativeType])).toEqual([
      ["id", "integer", "int(11)"],
      ["at", "bytes", "point"],
      ["area", "bytes", "geometry"],
    ]);
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [
        { name: "area", type: "bytes" },
        { name: "at", type: "bytes" },
      ],
    };
    expect(await divergent(shape, a, b)).toEqual(["2"]);
    const [one] = await a.fetchRecords(shape, [["1"]]);
    // SRID 4326 little-endian, then WKB: a LINESTRING of two points; SRID 0, then WKB POINT(1 2).
    expect(one!.values).toEqual([
      "e610000001020000000200000000000000000000000000000000000000000000000000f03f000000000000f03f",
      "000000000101000000000000000000f03f0000000000000040",
    ]);
    const [right] = await a.fetchRecords(shape, [["2"]]);
    const [wrong] = await b.fetchRecords(shape, [["2"]]);
    expect(
      await b.applyWrites(shape, [{ key: ["2"], expected: wrong!.fingerprint, next: right!.values }]),
    ).toEqual(["applied"]);
    expect((await b.fetchRecords(shape, [["2"]]))[0]!.fingerprint).toBe(fingerprintRow(["2"], right!.values));
    expect(await divergent(shape, a, b)).toEqual([]);
  });
});
