/**
 * Cross-store exactness where stores read one text differently, against the real servers: a JSON object's
 * repeated member name (MariaDB's and SQLite's JSON functions read the first value, PostgreSQL's json and
 * jsonb the last) and an IPv6 address's layout (MariaDB's INET6 compresses a single zero group, PostgreSQL's
 * inet does not). Each scan's answer (which keys differ) must be what the stores' own readings say, on the
 * in-store checksum path and on the streamed one (a float column beside: rows fingerprinted by the engine),
 * and a repair must write what the source store reads.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { mariadbInet6CanonicalSql } from "../../src/connectors/mysql/mysql-inet-text.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import { SqliteConnector } from "../../src/connectors/sqlite/sqlite-connector.js";
import { canonicalInetText } from "../../src/core/canonical-inet.js";
import type { RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { MYSQL, POSTGRES, serviceAvailable } from "../support/services.js";

const available = (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL));

/** Pushed down: checksums in PostgreSQL and MariaDB. */
const JSON_SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "doc", type: "json" }],
};
/** With a float column (equal everywhere): no store builds its canonical text, rows are streamed to the engine. */
const JSON_STREAMED: RecordShape = {
  ...JSON_SHAPE,
  columns: [...JSON_SHAPE.columns, { name: "f", type: "float" }],
};
const ADDR_SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "addr", type: "text" }],
};
const ADDR_STREAMED: RecordShape = {
  ...ADDR_SHAPE,
  columns: [...ADDR_SHAPE.columns, { name: "f", type: "float" }],
};

/**
 * Pairs of documents (first-replica text, second-replica text): a repeated name at the top and one level down,
 * the repeat's first or last value matching the other side's or not; plus documents without repeats.
 */
const DOCS: (readonly [string, string])[] = [];
for (const [x, y] of [
  [1, 2],
  [2, 1],
  [1, 1],
]) {
  for (const other of [1, 2]) {
    DOCS.push([`{"a": ${x}, "a": ${y}, "n": 0}`, `{"a": ${other}, "n": 0}`]);
    DOCS.push([
      `{"n": 0, "b": {"a": ${x}, "z": true, "a": ${y}}}`,
      `{"b": {"z": true, "a": ${other}}, "n": 0}`,
    ]);
    // A repeat on the second replica: what PostgreSQL keeps there (the last) decides.
    DOCS.push([`{"a": ${other}, "n": 0}`, `{"a": ${x}, "a": ${y}, "n": 0}`]);
  }
}
DOCS.push(['{"a": [1, {"c": 1, "c": 2}]}', '{"a": [1, {"c": 1}]}']);
DOCS.push(['{"a": [1, {"c": 1, "c": 2}]}', '{"a": [1, {"c": 2}]}']);
DOCS.push(['{"p": 1}', '{"p": 1.0}']);
DOCS.push(['{"p": 1}', '{"p": 2}']);

/** The paths a document's readings are compared at. */
const PATHS = ["a", "b.a", "a[1].c", "p"];

let pgdb: PostgresTestSchema;
let mydb: MysqlTestDatabase;
let dir: string;
const open: Connector[] = [];

beforeAll(async () => {
  if (!available) return;
  pgdb = await createPostgresTestSchema();
  mydb = await createMysqlTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "h-dup-"));
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await pgdb?.drop();
  await mydb?.drop();
  for (const db of files) db.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function pg(table: string): PostgresConnector {
  const c = new PostgresConnector(pgdb.pool(1), pgdb.table(table), { label: `pg.${table}` });
  open.push(c);
  return c;
}

function maria(table: string): MysqlConnector {
  const c = new MysqlConnector(mydb.pool(), table, { label: `maria.${table}`, ownsPool: true });
  open.push(c);
  return c;
}

/** A PostgreSQL table `name` (id, doc/addr of `type`, f) with `rows`. */
async function pgTable(
  name: string,
  column: string,
  type: string,
  rows: readonly (readonly [number, string | null])[],
) {
  await pgdb.admin.query(
    `CREATE TABLE ${pgdb.table(name)} (id bigint PRIMARY KEY, ${column} ${type}, f double precision)`,
  );
  await pgdb.admin.query(
    `INSERT INTO ${pgdb.table(name)} SELECT i, d::${type}, 0.5 FROM unnest($1::int8[], $2::text[]) u(i, d)`,
    [rows.map((r) => r[0]), rows.map((r) => r[1])],
  );
}

async function mariaTable(
  name: string,
  column: string,
  type: string,
  rows: readonly (readonly [number, string | null])[],
) {
  await mydb.admin.query(`CREATE TABLE ${name} (id BIGINT PRIMARY KEY, ${column} ${type}, f DOUBLE)`);
  await mydb.admin.query(`INSERT INTO ${name} VALUES ?`, [rows.map(([i, d]) => [i, d, 0.5])]);
}

const files: Database.Database[] = [];

function sqlite(
  name: string,
  rows: readonly (readonly [number, string])[],
): [SqliteConnector, Database.Database] {
  const db = new Database(join(dir, `${name}.db`));
  files.push(db);
  db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, doc TEXT, f REAL)");
  const insert = db.prepare("INSERT INTO items VALUES (?, ?, 0.5)");
  for (const [i, d] of rows) insert.run(i, d);
  return [new SqliteConnector(db, "items", { label: `sqlite.${name}` }), db];
}

/** The keys detection lists whose fetched records still differ (what a scan reports). */
async function differing(shape: RecordShape, a: Connector, b: Connector): Promise<number[]> {
  const out: number[] = [];
  for await (const batch of detectDivergences(
    shape,
    [
      { name: "a", connector: a },
      { name: "b", connector: b },
    ],
    { segmentRows: 4, leafRows: 2 },
  )) {
    const keys = batch.map((o) => o.key);
    const [ra, rb] = await Promise.all([a.fetchRecords(shape, keys), b.fetchRecords(shape, keys)]);
    const fa = new Map(ra.map((r) => [r.key[0], r.fingerprint]));
    const fb = new Map(rb.map((r) => [r.key[0], r.fingerprint]));
    for (const [k] of keys) if (fa.get(k) !== fb.get(k)) out.push(Number(k));
  }
  return out.sort((x, y) => x - y);
}

/** The fingerprints a connector lists for every row (in the store where pushed down). */
async function listedFingerprints(shape: RecordShape, c: Connector): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const batch of c.streamFingerprints(shape, { lo: null, hi: null }, 1000))
    for (const r of batch) out.set(r.key[0]!, r.fingerprint);
  return out;
}

/** Each row's readings at PATHS, as the store's own JSON functions give them. */
type Readings = Map<number, string>;

async function mariaReadings(table: string): Promise<Readings> {
  const cols = PATHS.map((p) => `COALESCE(JSON_VALUE(doc, '$.${p}'), '')`).join(", '|', ");
  const [rows] = await mydb.admin.query({
    sql: `SELECT id, CONCAT(${cols}) FROM ${table}`,
    rowsAsArray: true,
  });
  return new Map((rows as [number, string][]).map(([i, r]) => [Number(i), r]));
}

async function pgReadings(table: string): Promise<Readings> {
  const path = (p: string) => `'{${p.replace("[", ".").replace("]", "").split(".").join(",")}}'`;
  // Scalars only, as JSON_VALUE reads (no string in the documents starts with a bracket).
  const cols = PATHS.map(
    (p) =>
      `coalesce(CASE WHEN left(doc #>> ${path(p)}::text[], 1) IN ('[', '{') THEN '' ELSE doc #>> ${path(p)}::text[] END, '')`,
  ).join(" || '|' || ");
  const r = await pgdb.admin.query({
    text: `SELECT id, ${cols} FROM ${pgdb.table(table)}`,
    rowMode: "array",
  });
  return new Map((r.rows as [string, string][]).map(([i, v]) => [Number(i), v]));
}

function sqliteReadings(db: Database.Database): Readings {
  const cols = PATHS.map(
    (p) =>
      `coalesce(CASE WHEN json_type(doc, '$.${p}') IN ('array', 'object') THEN '' ELSE json_extract(doc, '$.${p}') END, '')`,
  ).join(" || '|' || ");
  const rows = db.prepare(`SELECT id, ${cols} FROM items`).raw().all() as [number, string][];
  return new Map(rows.map(([i, v]) => [Number(i), v]));
}

/** Numbers as each store prints them: MariaDB's JSON_VALUE and SQLite's json_extract of `1.0`. */
function normal(reading: string): string {
  return reading
    .split("|")
    .map((x) => (x === "" || Number.isNaN(Number(x)) ? x : String(Number(x))))
    .join("|");
}

/** The keys whose readings differ: the answer the scan must give. */
function readingsDiffer(a: Readings, b: Readings): number[] {
  return [...a.keys()].filter((i) => normal(a.get(i)!) !== normal(b.get(i)!)).sort((x, y) => x - y);
}

const first = DOCS.map(([d], i) => [i + 1, d] as const);
const second = DOCS.map(([, d], i) => [i + 1, d] as const);

describe.skipIf(!available)("a repeated JSON member name means what its own store reads", () => {
  beforeAll(async () => {
    await mariaTable("dup_m", "doc", "JSON", first);
    await pgTable("dup_jb", "doc", "jsonb", second);
    await pgTable("dup_j", "doc", "json", first);
  });

  it("the stores read it as the brief says (MariaDB and SQLite: first; PostgreSQL json and jsonb: last)", async () => {
    const [m] = (await mydb.admin.query({
      sql: `SELECT JSON_VALUE('{"a":1,"a":2}', '$.a'), JSON_VALUE('{"b":{"a":1,"a":2}}', '$.b.a')`,
      rowsAsArray: true,
    })) as unknown as [[string, string][]];
    expect(m[0]).toEqual(["1", "1"]);
    const p = await pgdb.admin.query({
      text: `SELECT '{"a":1,"a":2}'::json->>'a', '{"a":1,"a":2}'::jsonb->>'a', '{"b":{"a":1,"a":2}}'::json#>>'{b,a}'`,
      rowMode: "array",
    });
    expect(p.rows[0]).toEqual(["2", "2", "2"]);
    const db = new Database(":memory:");
    expect(
      db
        .prepare(`SELECT json_extract('{"a":1,"a":2}', '$.a'), '{"b":{"a":1,"a":2}}' ->> '$.b.a'`)
        .raw()
        .get(),
    ).toEqual([1, 1]);
    db.close();
  });

  for (const [path, shape] of [
    ["checksummed in the stores", JSON_SHAPE],
    ["streamed to the engine", JSON_STREAMED],
  ] as const) {
    it(`MariaDB JSON beside PostgreSQL jsonb, ${path}`, async () => {
      const [m, p] = [maria("dup_m"), pg("dup_jb")];
      expect((await m.pushdownLimits(shape)).length === 0).toBe(shape === JSON_SHAPE);
      expect((await p.pushdownLimits(shape)).length === 0).toBe(shape === JSON_SHAPE);
      const expected = readingsDiffer(await mariaReadings("dup_m"), await pgReadings("dup_jb"));
      expect(expected.length).toBeGreaterThan(3);
      expect(expected.length).toBeLessThan(DOCS.length - 3);
      expect(await differing(shape, m, p)).toEqual(expected);
      // Listed fingerprints (SQL when pushed down) are the engine's, but for a document with a repeated name,
      // which the SQL leaves to the engine (a fingerprint no store's row has): the same answer either way.
      const keys = DOCS.map((_, i) => [String(i + 1)]);
      const [listed, fetched] = await Promise.all([
        listedFingerprints(shape, m),
        m.fetchRecords(shape, keys),
      ]);
      const apart = fetched
        .filter((r) => listed.get(r.key[0]!) !== r.fingerprint)
        .map((r) => Number(r.key[0]));
      const repeated = first.filter(([, d]) => /"(\w)": [^,]*,.*"\1":/.test(d)).map(([i]) => i);
      expect(apart).toEqual(shape === JSON_SHAPE ? repeated : []);
    });

    it(`SQLite beside PostgreSQL jsonb, ${path}`, async () => {
      const [s, db] = sqlite(`s_${shape.columns.length}`, first);
      const p = pg("dup_jb");
      const expected = readingsDiffer(sqliteReadings(db), await pgReadings("dup_jb"));
      expect(expected).toEqual(readingsDiffer(await mariaReadings("dup_m"), await pgReadings("dup_jb")));
      expect(await differing(shape, s, p)).toEqual(expected);
    });

    it(`PostgreSQL json beside PostgreSQL jsonb, ${path}`, async () => {
      const [j, b] = [pg("dup_j"), pg("dup_jb")];
      const expected = readingsDiffer(await pgReadings("dup_j"), await pgReadings("dup_jb"));
      expect(expected.length).toBeGreaterThan(3);
      expect(await differing(shape, j, b)).toEqual(expected);
    });
  }

  it("a repair writes what the source store reads: MariaDB into jsonb, json into MariaDB", async () => {
    await mariaTable("dup_mw", "doc", "JSON", second);
    await pgTable("dup_jbw", "doc", "jsonb", second);
    const keys = first.map(([i]) => [String(i)]);
    // MariaDB (first value) repairs jsonb; PostgreSQL json (last value) repairs MariaDB.
    for (const [source, target, read, readTarget, table] of [
      [maria("dup_m"), pg("dup_jbw"), () => mariaReadings("dup_m"), () => pgReadings("dup_jbw"), "dup_jbw"],
      [pg("dup_j"), maria("dup_mw"), () => pgReadings("dup_j"), () => mariaReadings("dup_mw"), "dup_mw"],
    ] as const) {
      const [from, to] = await Promise.all([
        source.fetchRecords(JSON_SHAPE, keys),
        target.fetchRecords(JSON_SHAPE, keys),
      ]);
      const writes = from
        .map((r, i) => ({ key: r.key, expected: to[i]!.fingerprint, next: r.values }))
        .filter((w, i) => w.expected !== from[i]!.fingerprint);
      expect(writes.length, table).toBeGreaterThan(0);
      expect(await target.applyWrites(JSON_SHAPE, writes)).toEqual(writes.map(() => "applied"));
      expect(readingsDiffer(await read(), await readTarget()), table).toEqual([]);
      expect(await differing(JSON_SHAPE, source, target), table).toEqual([]);
    }
  });
});

/** Addresses held alike on both sides (as PostgreSQL inet and MariaDB INET6 each lay them out). */
const ADDRESSES = [
  "1:0:2:3:4:5:6:7",
  "0:1:2:3:4:5:6:7",
  "1:2:3:4:5:6:7:0",
  "1:0:2:0:3:4:5:6",
  "1:0:0:2:0:0:3:4",
  "0:0:1:0:0:1:0:0",
  "::ffff:1.2.3.4",
  "::ffff:0:1.2.3.4",
  "::1.2.3.4",
  "::",
  "::1",
  "fe80::1",
  "2001:db8:0:1:1:1:1:1",
  "2001:DB8:0000:0000:0001:0000:0000:0001",
];

describe.skipIf(!available)("PostgreSQL inet beside MariaDB INET6", () => {
  const rows: (readonly [number, string | null])[] = ADDRESSES.map((a, i) => [i + 1, a] as const);
  beforeAll(async () => {
    // A real difference (last group) and an address only one side holds.
    // NULL on both sides is no difference.
    await pgTable("dup_inet", "addr", "inet", [
      ...rows,
      [50, null],
      [100, "1:0:2:3:4:5:6:8"],
      [101, "1:0:2::"],
    ]);
    await mariaTable("dup_inet6", "addr", "INET6", [...rows, [50, null], [100, "1:0:2:3:4:5:6:7"]]);
  });

  it("the servers lay out a single zero group differently", async () => {
    const p = await pgdb.admin.query({
      text: "SELECT format('%s', '1:0:2:3:4:5:6:7'::inet)",
      rowMode: "array",
    });
    const [m] = (await mydb.admin.query({
      sql: "SELECT CAST(CAST('1:0:2:3:4:5:6:7' AS INET6) AS CHAR)",
      rowsAsArray: true,
    })) as unknown as [[string][]];
    expect([p.rows[0]?.[0], m[0]?.[0]]).toEqual(["1:0:2:3:4:5:6:7", "1::2:3:4:5:6:7"]);
  });

  for (const [path, shape] of [
    ["checksummed in the stores", ADDR_SHAPE],
    ["streamed to the engine", ADDR_STREAMED],
  ] as const) {
    it(`compare equal but for the real difference, ${path}`, async () => {
      const [p, m] = [pg("dup_inet"), maria("dup_inet6")];
      expect((await m.pushdownLimits(shape)).length === 0).toBe(shape === ADDR_SHAPE);
      expect(await differing(shape, p, m)).toEqual([100, 101]);
      // The fingerprints MariaDB lists (built in SQL when pushed down) are the engine's and PostgreSQL's.
      const keys = ADDRESSES.map((_, i) => [String(i + 1)]);
      const [listed, fetched, theirs] = await Promise.all([
        listedFingerprints(shape, m),
        m.fetchRecords(shape, keys),
        p.fetchRecords(shape, keys),
      ]);
      expect(keys.map(([k]) => listed.get(k!))).toEqual(fetched.map((r) => r.fingerprint));
      expect(fetched.map((r) => r.fingerprint)).toEqual(theirs.map((r) => r.fingerprint));
    });
  }

  it("as keys: equal addresses are one key, in one order", async () => {
    const keyed: RecordShape = {
      key: [{ name: "addr", type: "text" }],
      columns: [{ name: "id", type: "integer" }],
    };
    await pgdb.admin.query(`CREATE TABLE ${pgdb.table("dup_kinet")} (addr inet PRIMARY KEY, id bigint)`);
    await mydb.admin.query("CREATE TABLE dup_kinet6 (addr INET6 PRIMARY KEY, id BIGINT)");
    await pgdb.admin.query(
      `INSERT INTO ${pgdb.table("dup_kinet")} SELECT a::inet, i FROM unnest($1::text[], $2::int8[]) u(a, i)`,
      [ADDRESSES, ADDRESSES.map((_, i) => i)],
    );
    await mydb.admin.query("INSERT INTO dup_kinet6 VALUES ?", [
      [...ADDRESSES.map((a, i) => [a, i]), ["1:0:9:3:4:5:6:7", 99]],
    ]);
    const found: string[] = [];
    const [p, m] = [pg("dup_kinet"), maria("dup_kinet6")];
    for await (const batch of detectDivergences(keyed, [
      { name: "p", connector: p },
      { name: "m", connector: m },
    ]))
      for (const o of batch) found.push(o.key[0]!);
    expect(found).toEqual(["1:0:9:3:4:5:6:7"]);
    // The key is found again by its canonical text, and deleted by it.
    const [held] = await m.fetchRecords(keyed, [["1:0:9:3:4:5:6:7"]]);
    expect(held?.values).toEqual(["99"]);
    expect(
      await m.applyWrites(keyed, [{ key: ["1:0:9:3:4:5:6:7"], expected: held!.fingerprint, next: null }]),
    ).toEqual(["applied"]);
  });

  it("a repair from inet into INET6 writes the address, which reads back as itself", async () => {
    await mariaTable(
      "dup_inet6w",
      "addr",
      "INET6",
      rows.map(([i]) => [i, "::2"] as const),
    );
    const [p, m] = [pg("dup_inet"), maria("dup_inet6w")];
    const keys = rows.map(([i]) => [String(i)]);
    const [from, to] = await Promise.all([
      p.fetchRecords(ADDR_SHAPE, keys),
      m.fetchRecords(ADDR_SHAPE, keys),
    ]);
    const writes = from.map((r, i) => ({ key: r.key, expected: to[i]!.fingerprint, next: r.values }));
    expect(await m.applyWrites(ADDR_SHAPE, writes)).toEqual(writes.map(() => "applied"));
    const [after, source] = await Promise.all([
      m.fetchRecords(ADDR_SHAPE, keys),
      p.fetchRecords(ADDR_SHAPE, keys),
    ]);
    expect(after.map((r) => r.values[0])).toEqual(source.map((r) => r.values[0]));
    expect(after.map((r) => r.fingerprint)).toEqual(source.map((r) => r.fingerprint));
    // Still refused: a text the column would give back as another address text.
    const [one] = await m.fetchRecords(ADDR_SHAPE, [["1"]]);
    await expect(
      m.applyWrites(ADDR_SHAPE, [{ key: ["1"], expected: one!.fingerprint, next: ["1::2:3:4:5:6:7"] }]),
    ).rejects.toThrow(/INET6 would hold it as 1:0:2:3:4:5:6:7/);
  });

  it("PostgreSQL's layout, and MariaDB's in SQL and in the engine, agree on random addresses", async () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const samples: string[] = [];
    for (let n = 0; n < 3000; n++) {
      const words = Array.from({ length: 8 }, () => (rand(3) === 0 ? rand(65536) : rand(5) === 0 ? 1 : 0));
      if (rand(10) === 0) words.splice(0, 6, 0, 0, 0, 0, 0, rand(2) === 0 ? 0xffff : 0);
      samples.push(words.map((w) => w.toString(16)).join(":"));
    }
    const p = await pgdb.admin.query({
      text: "SELECT format('%s', a::inet) FROM unnest($1::text[]) WITH ORDINALITY u(a, o) ORDER BY o",
      values: [samples],
      rowMode: "array",
    });
    const [m] = (await mydb.admin.query({
      sql: `SELECT CAST(CAST(a AS INET6) AS CHAR), ${mariadbInet6CanonicalSql("CAST(a AS INET6)")} FROM JSON_TABLE(?, '$[*]' COLUMNS (o FOR ORDINALITY, a VARCHAR(64) PATH '$')) j ORDER BY o`,
      values: [JSON.stringify(samples)],
      rowsAsArray: true,
    })) as unknown as [[string, string][]];
    const pgTexts = p.rows.map((r) => r[0] as string);
    expect(m.map((r) => canonicalInetText(r[0]))).toEqual(pgTexts);
    expect(m.map((r) => r[1])).toEqual(pgTexts);
    expect(samples.map(canonicalInetText)).toEqual(pgTexts);
  });
});
