/**
 * What only the PostgreSQL connector does: canonical text built in SQL for every native type (checked
 * against the engine's RowCodec on the same rows; jsonb included), client-side fallback for float and json, independence
 * from session settings, and one aggregate query per checksum round.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import { PostgresConnector } from "../../src/connectors/postgres/postgres-connector.js";
import type { CanonicalValue } from "../../src/core/canonical.js";
import { ChecksumAccumulator, fingerprintRow } from "../../src/core/fingerprint.js";
import {
  type ColumnSpec,
  FULL_RANGE,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  keyId,
  type RecordShape,
} from "../../src/core/model.js";
import { arithmeticSplit, detectDivergences, integerSplit } from "../../src/detect/detect-divergences.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

let db: PostgresTestSchema;
const connectors: Connector[] = [];
function connect(table: string, pool: pg.Pool = db.pool(1)): PostgresConnector {
  const c = new PostgresConnector(pool, db.table(table), { label: `test.${table}` });
  connectors.push(c);
  return c;
}

async function streamAll(c: Connector, shape: RecordShape, range: KeyRange = FULL_RANGE) {
  const rows: KeyFingerprint[] = [];
  for await (const batch of c.streamFingerprints(shape, range, 3)) rows.push(...batch);
  return rows;
}

function checksumOf(fps: readonly string[]) {
  const acc = new ChecksumAccumulator();
  for (const fp of fps) acc.add(fp);
  return acc.result();
}

beforeAll(async () => {
  if (!available) return;
  db = await createPostgresTestSchema();
});

afterAll(async () => {
  for (const c of connectors.splice(0)) await c.close();
  if (db) await db.drop();
});

// ---------------------------------------------------------------------------------------------------------
// Every native type the connector maps, with values at the edges of their canonical forms.

const KINDS_DDL = `CREATE DOMAIN %s.positive AS int4 CHECK (VALUE > 0);
CREATE TABLE %s.kinds (
  id int4 PRIMARY KEY, i2 int2, i8 int8, n numeric, n2 numeric(10,2), m money, b boolean,
  t text, v varchar(20), c char(5), u uuid, nm name, dom %s.positive,
  tz timestamptz, ts timestamp, d date, by bytea,
  j json, jb jsonb, f4 real, f8 double precision, tm time)`;

const KINDS_ROWS = `INSERT INTO %s.kinds VALUES
  (1, -32768, -9223372036854775808, '-0.00', '0.10', '12.34', true, E'a|b\\\\c', '', 'ab', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'x', 7,
   '1969-12-31 23:59:59.5+00', '0001-01-01 00:00:00', '2024-02-29', '\\x00ff',
   '{"b": 1, "a": [1.0, 2]}', '{"b": 1, "a": [1.0, 2]}', '0.1', '1e21', '10:00:00'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, 32767, 9223372036854775807, '123456789012345678901234567890.000000001', '-12.50', '-0.01', false, E'\\\\N', E'\\\\', '', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '', 1,
   '2024-06-01 12:00:00.000001+02', '2024-06-01 12:00:00.123', '1900-01-01', '\\x',
   '[]', 'null', '-1.5e-7', '-0', '23:59:59.999999'),
  (4, 0, 0, '1e-20', '99999999.99', '0', true, E'line\\nbreak 😀 é', '|', 'abcde', '00000000-0000-0000-0000-000000000000', 'z', 2,
   '9999-12-31 23:59:59.999999+00', '1970-01-01 00:00:00', '2000-01-01', '\\xdeadbeef',
   '{"z": {"y": "x|y"}, "a": -3}', '1.5', 'Infinity', '9007199254740993', '00:00:00.5'),
  (5, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   '294276-12-31 23:59:59.999999+00', 'infinity', '0044-03-15 BC', NULL, NULL, NULL, NULL, NULL, '24:00:00'),
  (6, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   '-infinity', '0001-12-31 23:59:59.999999 BC', '5874897-12-31', NULL, NULL, NULL, NULL, NULL, NULL)`;

const PUSHED: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "i2", type: "integer" },
    { name: "i8", type: "integer" },
    { name: "n", type: "decimal" },
    { name: "n2", type: "decimal" },
    { name: "m", type: "decimal" },
    { name: "b", type: "boolean" },
    { name: "t", type: "text" },
    { name: "v", type: "text" },
    { name: "c", type: "text" },
    { name: "u", type: "text" },
    { name: "nm", type: "text" },
    { name: "dom", type: "integer" },
    { name: "tz", type: "timestamp" },
    { name: "ts", type: "timestamp" },
    { name: "d", type: "timestamp" },
    { name: "by", type: "bytes" },
    { name: "tm", type: "time" },
  ],
};

const CLIENT_SIDE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "j", type: "json" },
    { name: "jb", type: "json" },
    { name: "f4", type: "float32" },
    { name: "f8", type: "float" },
    { name: "t", type: "text" },
  ],
};

const nulls = (n: number): null[] => Array.from({ length: n }, () => null);

/** The canonical values a reader of the spec expects, written out by hand. */
const EXPECTED_PUSHED: Record<string, CanonicalValue[]> = {
  "1": [
    "-32768",
    "-9223372036854775808",
    "0",
    "0.1",
    "12.34",
    "t",
    "a|b\\c",
    "",
    "ab",
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "x",
    "7",
    "1969-12-31T23:59:59.500000Z",
    "0001-01-01T00:00:00.000000Z",
    "2024-02-29T00:00:00.000000Z",
    "00ff",
    "10:00:00.000000",
  ],
  "2": PUSHED.columns.map(() => null),
  "3": [
    "32767",
    "9223372036854775807",
    "123456789012345678901234567890.000000001",
    "-12.5",
    "-0.01",
    "f",
    "\\N",
    "\\",
    "",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "",
    "1",
    "2024-06-01T10:00:00.000001Z",
    "2024-06-01T12:00:00.123000Z",
    "1900-01-01T00:00:00.000000Z",
    "",
    "23:59:59.999999",
  ],
  "4": [
    "0",
    "0",
    "0.00000000000000000001",
    "99999999.99",
    "0",
    "t",
    "line\nbreak 😀 é",
    "|",
    "abcde",
    "00000000-0000-0000-0000-000000000000",
    "z",
    "2",
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00.000000Z",
    "2000-01-01T00:00:00.000000Z",
    "deadbeef",
    "00:00:00.500000",
  ],
  // PostgreSQL's specials: numeric NaN and infinities, timestamps' infinities, BC and expanded years (year 0
  // is 1 BC; dates reach 5874897 AD, past the timestamp range), and a time of 24:00:00.
  "5": [
    null,
    null,
    "NaN",
    ...nulls(9),
    "+294276-12-31T23:59:59.999999Z",
    "infinity",
    "-000043-03-15T00:00:00.000000Z",
    null,
    "24:00:00.000000",
  ],
  "6": [
    null,
    null,
    "-Infinity",
    ...nulls(9),
    "-infinity",
    "0000-12-31T23:59:59.999999Z",
    "+5874897-12-31T00:00:00.000000Z",
    null,
    null,
  ],
};

const EXPECTED_CLIENT_SIDE: Record<string, CanonicalValue[]> = {
  "1": ['{"a":[1,2],"b":1}', '{"a":[1,2],"b":1}', "0.1", "1e+21", "a|b\\c"],
  "2": [null, null, null, null, null],
  "3": ["[]", "null", "-1.5e-7", "0", "\\N"],
  "4": ['{"a":-3,"z":{"y":"x|y"}}', "1.5", "Infinity", "9007199254740992", "line\nbreak 😀 é"],
  "5": nulls(5),
  "6": nulls(5),
};

/** jsonb alone is pushed down: PostgreSQL builds its canonical JSON (postgres-json-sql.ts). */
const JSONB: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "jb", type: "json" }],
};
const EXPECTED_JSONB: Record<string, CanonicalValue[]> = Object.fromEntries(
  Object.entries(EXPECTED_CLIENT_SIDE).map(([id, values]) => [id, [values[1]!]]),
);

describe.skipIf(!available)("PostgresConnector: canonical text of every native type", () => {
  beforeAll(async () => {
    for (const sql of [KINDS_DDL, KINDS_ROWS]) await db.admin.query(sql.replaceAll("%s", `"${db.name}"`));
  });

  it("describes native types as their logical types, keeping the native names", async () => {
    const { columns } = await connect("kinds").describe();
    const byName = Object.fromEntries(columns.map((c) => [c.name, `${c.type} ${c.nativeType}`]));
    expect(byName).toMatchObject({
      id: "integer integer",
      i2: "integer smallint",
      n2: "decimal numeric(10,2)",
      m: "decimal money",
      b: "boolean boolean",
      v: "text character varying(20)",
      c: "text character(5)",
      u: "text uuid",
      dom: `integer ${db.name}.positive`,
      tz: "timestamp timestamp with time zone",
      ts: "timestamp timestamp without time zone",
      d: "timestamp date",
      by: "bytes bytea",
      j: "json json",
      jb: "json jsonb",
      f4: "float32 real",
      f8: "float double precision",
    });
  });

  it.each([
    ["pushed down", PUSHED, EXPECTED_PUSHED],
    ["fingerprinted client-side", CLIENT_SIDE, EXPECTED_CLIENT_SIDE],
    ["pushed down with a jsonb column", JSONB, EXPECTED_JSONB],
  ] as const)("agrees with the engine when %s", async (_, shape, expected) => {
    const c = connect("kinds");
    const fetched = await c.fetchRecords(
      shape,
      Object.keys(expected).map((id) => [id]),
    );
    expect(Object.fromEntries(fetched.map((r) => [r.key[0], r.values]))).toEqual(expected);
    const fingerprints = new Map(
      Object.entries(expected).map(([id, values]) => [id, fingerprintRow([id], values)]),
    );
    const streamed = await streamAll(c, shape);
    expect(streamed).toEqual([...fingerprints].map(([id, fingerprint]) => ({ key: [id], fingerprint })));
    const ranges: KeyRange[] = [
      FULL_RANGE,
      { lo: ["2"], hi: ["4"] },
      { lo: null, hi: ["2"] },
      { lo: ["3"], hi: null },
    ];
    const sums = await c.checksumRanges(shape, ranges);
    for (const [i, range] of ranges.entries()) {
      expect(sums[i]).toEqual(checksumOf((await streamAll(c, shape, range)).map((r) => r.fingerprint)));
    }
  });

  it("says which columns are compared client-side, and why", async () => {
    const c = connect("kinds");
    expect(await c.clientSideColumns(PUSHED)).toEqual([]);
    expect(await c.pushdownLimits(PUSHED)).toEqual([]);
    const columns = await c.clientSideColumns(CLIENT_SIDE);
    expect(columns.map((x) => x.column)).toEqual(["j", "f4", "f8"]);
    expect(columns.find((x) => x.column === "f8")?.reason).toMatch(/^float: /);
    expect(await c.clientSideColumns(JSONB)).toEqual([]);
    const limits = await c.pushdownLimits(CLIENT_SIDE);
    expect(limits[0]).toBe(
      "test.kinds: column j (json) is compared client-side: json: its text may hold what jsonb cannot (\\u0000, lone surrogates), so the engine canonicalises it (jsonb is canonicalised in SQL)",
    );
    expect(limits.at(-1)).toContain("checksums therefore stream the rows");
  });

  it("reads columns as the shape's unified types: integers as decimals in SQL, as floats in the engine", async () => {
    const c = connect("kinds");
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [
        { name: "i8", type: "decimal" },
        { name: "i2", type: "float" },
      ],
    };
    expect((await c.clientSideColumns(shape)).map((x) => x.column)).toEqual(["i2"]);
    const got = await c.fetchRecords(shape, [["1"], ["3"]]);
    expect(Object.fromEntries(got.map((r) => [r.key[0], r.values]))).toEqual({
      "1": ["-9223372036854775808", "-32768"],
      "3": ["9223372036854775807", "32767"],
    });
  });

  it("gives the same fingerprints whatever the session's time zone, date style and float digits", async () => {
    const pool = new pg.Pool({
      connectionString: POSTGRES.url,
      max: 1,
      options:
        "-c TimeZone=America/New_York -c DateStyle=German -c extra_float_digits=0 -c bytea_output=escape",
    });
    const odd = connect("kinds", pool);
    const plain = connect("kinds");
    for (const shape of [PUSHED, CLIENT_SIDE]) {
      expect(await streamAll(odd, shape)).toEqual(await streamAll(plain, shape));
      const keys = Object.keys(EXPECTED_PUSHED).map((id) => [id]);
      expect(await odd.fetchRecords(shape, keys)).toEqual(await plain.fetchRecords(shape, keys));
    }
  });

  it("writes every pushed-down type so that it reads back canonical", async () => {
    await db.admin.query(`CREATE TABLE "${db.name}".kinds_w (LIKE "${db.name}".kinds INCLUDING ALL)`);
    const c = connect("kinds_w");
    const writes = Object.entries(EXPECTED_PUSHED).map(([id, next]) => ({ key: [id], expected: null, next }));
    expect(await c.applyWrites(PUSHED, writes)).toEqual(writes.map(() => "applied"));
    const got = await c.fetchRecords(
      PUSHED,
      writes.map((w) => w.key),
    );
    expect(Object.fromEntries(got.map((r) => [r.key[0], r.values]))).toEqual(EXPECTED_PUSHED);
    expect(await c.applyWrites(PUSHED, writes)).toEqual(writes.map(() => "noop"));
  });
});

// ---------------------------------------------------------------------------------------------------------

const ITEMS: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "payload", type: "text" },
    { name: "updated_at", type: "timestamp" },
    { name: "version", type: "integer" },
  ],
};

/** Records the queries each checksumRanges call makes. */
/** Records every checksum round (canonical or native: detection uses native ones between PostgreSQL tables). */
function countChecksumQueries(c: PostgresConnector, calls: { ranges: number; queries: number }[]) {
  const original = c.checksumRanges.bind(c);
  c.checksumRanges = async (shape, ranges) => {
    const before = c.stats.queries;
    const out = await original(shape, ranges);
    calls.push({ ranges: ranges.length, queries: c.stats.queries - before });
    return out;
  };
  const native = c.nativeHash.checksumRanges;
  c.nativeHash.checksumRanges = async (shape, ranges) => {
    const before = c.stats.queries;
    const out = await native(shape, ranges);
    calls.push({ ranges: ranges.length, queries: c.stats.queries - before });
    return out;
  };
}

describe.skipIf(!available)("PostgresConnector: one query per checksum round", () => {
  const changed = new Set<string>();

  beforeAll(async () => {
    for (const t of ["items_a", "items_b"]) {
      await db.admin.query(
        `CREATE TABLE "${db.name}".${t} (id bigint PRIMARY KEY, payload text, version bigint, updated_at timestamptz)`,
      );
      await db.admin.query(
        `INSERT INTO "${db.name}".${t} SELECT g, 'payload-' || g, g % 7, ` +
          `timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 second' FROM generate_series(1, 20000) g`,
      );
    }
    const b = `"${db.name}".items_b`;
    await db.admin.query(`UPDATE ${b} SET version = version + 1 WHERE id % 997 = 0`);
    await db.admin.query(`DELETE FROM ${b} WHERE id % 1999 = 1`);
    await db.admin.query(`INSERT INTO ${b} VALUES (20001, 'new', 1, now()), (-5, 'new', 1, now())`);
    for (let id = 1; id <= 20000; id++) if (id % 997 === 0 || id % 1999 === 1) changed.add(String(id));
    changed.add("20001");
    changed.add("-5");
  });

  it("checksums thousands of adjacent ranges, and scattered ones, each in one statement", async () => {
    const c = connect("items_a");
    await c.describe();
    const splits = await c.splitRange(ITEMS, FULL_RANGE, 3000);
    // 20000 rows in 3000 parts: a split every ceil(20000 / 3000) = 7 rows.
    expect(splits.length).toBe(Math.floor(19999 / 7));
    const tiles: KeyRange[] = [null, ...splits].map((lo, i) => ({ lo, hi: splits[i] ?? null }));
    const scattered: KeyRange[] = tiles.filter((_, i) => i % 3 === 0);
    scattered.push(FULL_RANGE, { lo: ["5"], hi: null }, { lo: null, hi: ["9"] }, { lo: ["9"], hi: ["5"] });
    for (const ranges of [tiles, scattered]) {
      const before = c.stats.queries;
      const sums = await c.checksumRanges(ITEMS, ranges);
      expect(c.stats.queries - before).toBe(1);
      const streamed = await streamAll(c, ITEMS, ranges[1]!);
      expect(sums[1]).toEqual(checksumOf(streamed.map((r) => r.fingerprint)));
      expect(sums.reduce((n, s) => n + s.count, 0)).toBeGreaterThan(0);
    }
  });

  it("finds exactly the differing keys between two tables, with one query per replica per round", async () => {
    const a = connect("items_a");
    const b = connect("items_b");
    const calls: { ranges: number; queries: number }[] = [];
    countChecksumQueries(a, calls);
    countChecksumQueries(b, calls);
    await Promise.all([a.describe(), b.describe()]);
    const found = new Set<string>();
    // The checksum path (two tables of one database would otherwise be compared by one join).
    for await (const batch of detectDivergences(
      ITEMS,
      [
        { name: "a", connector: a },
        { name: "b", connector: b },
      ],
      { inStore: false },
    ))
      for (const o of batch) found.add(o.key[0]!);
    expect([...found].sort()).toEqual([...changed].sort());
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.some((x) => x.ranges > 100)).toBe(true);
    for (const call of calls) expect(call.queries).toBe(1);
  });

  it("buckets evenly spaced ranges by arithmetic with the same checksums as range by range", async () => {
    const c = connect("items_a");
    await c.nativeHash.checksumRanges(ITEMS, [FULL_RANGE]);
    // Open ends, a bound below every key, a last range wider than the step, and one past the last key.
    for (const [lo, hi, parts] of [
      [-7, 20_003, 50],
      [100, 1_000, 7],
      [-5, 30_000, 3],
    ] as const) {
      const splits = integerSplit(ITEMS, { lo: [String(lo)], hi: [String(hi)] }, parts)!;
      const ranges: KeyRange[] = [null, ...splits].map((from, i) => ({ lo: from, hi: splits[i] ?? null }));
      const before = c.stats.queries;
      const together = await c.nativeHash.checksumRanges(ITEMS, ranges);
      expect(c.stats.queries - before).toBe(1);
      const alone = await Promise.all(
        ranges.map(async (r) => (await c.nativeHash.checksumRanges(ITEMS, [r]))[0]),
      );
      expect(together).toEqual(alone);
      expect(together.reduce((n, s) => n + s.count, 0)).toBe(20_000);
      expect(await c.checksumRanges(ITEMS, ranges)).toEqual(
        await Promise.all(ranges.map(async (r) => (await c.checksumRanges(ITEMS, [r]))[0])),
      );
    }
  });

  it("checksums adjacent uuid ranges in one bucketed scan and finds exactly the differing uuid keys", async () => {
    for (const t of ["uuid_a", "uuid_b"]) {
      await db.admin.query(
        `CREATE TABLE "${db.name}".${t} AS SELECT md5(id::text)::uuid AS id, payload, version, updated_at FROM "${db.name}".items_a`,
      );
      await db.admin.query(`ALTER TABLE "${db.name}".${t} ADD PRIMARY KEY (id)`);
    }
    const b = `"${db.name}".uuid_b`;
    await db.admin.query(
      `UPDATE ${b} SET version = version + 1 WHERE id = md5('7')::uuid OR id = md5('19000')::uuid`,
    );
    await db.admin.query(`DELETE FROM ${b} WHERE id = md5('3')::uuid`);
    await db.admin.query(`INSERT INTO ${b} VALUES ('00000000-0000-0000-0000-000000000001', 'x', 1, now())`);
    const shape: RecordShape = { key: [{ name: "id", type: "text" }], columns: ITEMS.columns };
    const a = connect("uuid_a");
    const bb = connect("uuid_b");
    await a.nativeHash.checksumRanges(shape, [FULL_RANGE]);
    const splits = await a.splitRange(shape, FULL_RANGE, 50);
    const tiles: KeyRange[] = [null, ...splits].map((lo, i) => ({ lo, hi: splits[i] ?? null }));
    const before = a.stats.queries;
    const together = await a.nativeHash.checksumRanges(shape, tiles);
    expect(a.stats.queries - before).toBe(1);
    expect(together).toEqual(
      await Promise.all(tiles.map(async (r) => (await a.nativeHash.checksumRanges(shape, [r]))[0])),
    );
    const found: string[] = [];
    for await (const batch of detectDivergences(
      shape,
      [
        { name: "a", connector: a },
        { name: "b", connector: bb },
      ],
      { inStore: false },
    ))
      for (const o of batch) found.push(o.key[0]!);
    const { rows } = await db.admin.query<{ id: string }>(
      "SELECT md5(x::text)::uuid::text AS id FROM unnest(ARRAY[7, 19000, 3]) x UNION ALL SELECT '00000000-0000-0000-0000-000000000001'",
    );
    expect(found.sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it("counts a segment's rows from its first checksum round when given an estimate", async () => {
    const a = connect("items_a");
    const b = connect("items_b");
    let counted = 0;
    for (const c of [a, b]) {
      const count = c.count.bind(c);
      c.count = (shape, range) => {
        counted++;
        return count(shape, range);
      };
    }
    for (const [range, expectedRows] of [
      [{ lo: ["1000"], hi: ["9000"] }, 8000],
      [{ lo: null, hi: ["3000"] }, 100],
      [{ lo: ["19990"], hi: null }, 50_000],
    ] as const) {
      const rows = new Map<string, number>();
      const found: string[] = [];
      for await (const batch of detectDivergences(
        ITEMS,
        [
          { name: "a", connector: a },
          { name: "b", connector: b },
        ],
        { range, expectedRows, inStore: false, onReplicaRows: (name, n) => rows.set(name, n) },
      ))
        for (const o of batch) found.push(o.key[0]!);
      expect(counted).toBe(0);
      const inRange = (k: string) =>
        (!range.lo || Number(k) >= Number(range.lo[0])) && (!range.hi || Number(k) < Number(range.hi[0]));
      expect(found.sort()).toEqual([...changed].filter(inRange).sort());
      const exact = { a: await a.count(ITEMS, range), b: await b.count(ITEMS, range) };
      counted = 0;
      expect(Object.fromEntries(rows)).toEqual(exact);
    }
  });

  it("bounds open ranges with two index probes, so they are cut by arithmetic", async () => {
    const c = connect("items_a");
    expect(await c.keyBounds(ITEMS, FULL_RANGE)).toEqual({ first: ["1"], last: ["20000"] });
    expect(await c.keyBounds(ITEMS, { lo: ["150"], hi: ["160"] })).toEqual({ first: ["150"], last: ["159"] });
    expect(await c.keyBounds(ITEMS, { lo: ["30000"], hi: null })).toBeNull();
    const before = c.stats.queries;
    const cuts = await arithmeticSplit(ITEMS, c, { lo: null, hi: ["10001"] }, 4, 10_000);
    expect(cuts).toEqual([["2501"], ["5001"], ["7501"]]);
    expect(c.stats.queries - before).toBe(1);
    // Keys far sparser than their span: equal widths would not mean equal rows, so no arithmetic.
    expect(await arithmeticSplit(ITEMS, c, FULL_RANGE, 4, 100)).toBeUndefined();
  });

  it("clamps integer bounds beyond bigint instead of failing", async () => {
    const c = connect("items_a");
    const huge = "99999999999999999999999";
    const ranges: KeyRange[] = [
      { lo: [`-${huge}`], hi: null },
      { lo: [huge], hi: null },
      { lo: null, hi: [`-${huge}`] },
      { lo: ["19999"], hi: [huge] },
    ];
    expect((await c.checksumRanges(ITEMS, ranges)).map((s) => s.count)).toEqual([20000, 0, 0, 2]);
    expect(await c.count(ITEMS, ranges[0]!)).toBe(20000);
    expect((await streamAll(c, ITEMS, ranges[3]!)).map((r) => r.key)).toEqual([["19999"], ["20000"]]);
    expect(await c.fetchRecords(ITEMS, [[huge], ["1"]])).toHaveLength(1);
  });
});

describe.skipIf(!available)("PostgresConnector: composite and text keys", () => {
  const KEY: readonly ColumnSpec[] = [
    { name: "region", type: "text" },
    { name: "seq", type: "integer" },
  ];
  const shape: RecordShape = { key: KEY, columns: [{ name: "note", type: "text" }] };

  it.each([
    ["C", ' COLLATE "C"', true],
    ["the database default", "", false],
  ])(
    "orders text keys by code point in collation %s, noting when no index serves that order",
    async (_, collate, indexed) => {
      const table = `regions_${indexed ? "c" : "default"}`;
      await db.admin.query(
        `CREATE TABLE "${db.name}".${table} (region text${collate} NOT NULL, seq int4 NOT NULL, note text, PRIMARY KEY (region, seq))`,
      );
      const regions = ["b", "B", "a", "é", "Z", "😀", "\uFFFF", "ab", "a b", ""];
      await db.admin.query(
        `INSERT INTO "${db.name}".${table} SELECT r, s, r || s FROM unnest($1::text[]) r, generate_series(-2, 2) s`,
        [regions],
      );
      const c = connect(table);
      const order = [...regions].sort((x, y) => {
        const a = Array.from(x, (ch) => ch.codePointAt(0)!);
        const b = Array.from(y, (ch) => ch.codePointAt(0)!);
        for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
        return a.length - b.length;
      });
      const keys: Key[] = order.flatMap((r) => ["-2", "-1", "0", "1", "2"].map((s) => [r, s]));
      expect((await streamAll(c, shape)).map((r) => r.key)).toEqual(keys);
      const splits = await c.splitRange(shape, FULL_RANGE, 5);
      expect(splits).toEqual([keys[10], keys[20], keys[30], keys[40]]);
      const before = c.stats.queries;
      const sums = await c.checksumRanges(shape, [
        { lo: null, hi: splits[0]! },
        { lo: splits[0]!, hi: splits[2]! },
        { lo: splits[3]!, hi: null },
      ]);
      expect(c.stats.queries - before).toBe(1);
      expect(sums.map((s) => s.count)).toEqual([10, 20, 10]);
      const limits = await c.pushdownLimits(shape);
      if (indexed) expect(limits).toEqual([]);
      else
        expect(limits.join()).toContain(
          'no btree index serves the key order (t."region" COLLATE "C", t."seq")',
        );
      const fetched = await c.fetchRecords(shape, [
        ["é", "0"],
        ["É", "0"],
      ]);
      expect(fetched).toEqual([
        { key: ["é", "0"], values: ["é0"], fingerprint: fingerprintRow(["é", "0"], ["é0"]) },
      ]);
      expect(keyId(fetched[0]!.key)).toBe(keyId(["é", "0"]));
    },
  );
});

describe.skipIf(!available)("PostgresConnector: table names that are also the SQL's aliases", () => {
  it.each(["c", "h", "t", "b", "u", "s"])("works on an unqualified table named %s", async (name) => {
    await db.admin.query(`CREATE TABLE "${db.name}"."${name}" (id bigint PRIMARY KEY, payload text)`);
    await db.admin.query(
      `INSERT INTO "${db.name}"."${name}" SELECT g, 'p' || g FROM generate_series(1, 50) g`,
    );
    const pool = new pg.Pool({
      connectionString: POSTGRES.url,
      max: 1,
      options: `-c search_path=${db.name}`,
    });
    const c = new PostgresConnector(pool, name, { label: name });
    connectors.push(c);
    const shape: RecordShape = {
      key: [{ name: "id", type: "integer" }],
      columns: [{ name: "payload", type: "text" }],
    };
    expect(await c.count(shape, FULL_RANGE)).toBe(50);
    const splits = await c.splitRange(shape, FULL_RANGE, 5);
    expect(splits).toEqual([["11"], ["21"], ["31"], ["41"]]);
    const [sum] = await c.checksumRanges(shape, [FULL_RANGE]);
    expect(sum).toEqual(checksumOf((await streamAll(c, shape)).map((r) => r.fingerprint)));
    const [rec] = await c.fetchRecords(shape, [["7"]]);
    expect(await c.applyWrites(shape, [{ key: ["7"], expected: rec!.fingerprint, next: ["x"] }])).toEqual([
      "applied",
    ]);
  });
});
