/** MariaDB/MySQL native types: canonical text built in SQL equals the engine's, splits, and one-line errors. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError, emptyStats } from "../../src/connectors/connector.js";
import { MysqlConnector, openMysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { MysqlSession } from "../../src/connectors/mysql/mysql-session.js";
import { MysqlShapeSql } from "../../src/connectors/mysql/mysql-shape-sql.js";
import { mysqlKeyIndex, readMysqlTableMeta } from "../../src/connectors/mysql/mysql-table-meta.js";
import { openConnector } from "../../src/connectors/open-connector.js";
import type { CanonicalValue, ColumnType } from "../../src/core/canonical.js";
import { ChecksumAccumulator, fingerprintRow } from "../../src/core/fingerprint.js";
import {
  type ColumnSpec,
  compareKeys,
  FULL_RANGE,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  keyId,
  keyInRange,
  type RecordShape,
} from "../../src/core/model.js";
import { arithmeticSplit, detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

/** Column: native declaration, logical type describe() must report, and per row (SQL literal, canonical text). */
interface TypedColumn {
  readonly name: string;
  readonly native: string;
  readonly type: ColumnType;
  readonly cells: readonly (readonly [string, CanonicalValue])[];
}

const IDS = ["-5", "1", "2", "3", "4"];

// Rows by position in IDS. Row 0 is all NULL.
const COLUMNS: readonly TypedColumn[] = [
  {
    name: "u",
    native: "BIGINT UNSIGNED",
    type: "integer",
    cells: [
      ["NULL", null],
      ["18446744073709551615", "18446744073709551615"],
      ["0", "0"],
      ["7", "7"],
      ["1", "1"],
    ],
  },
  {
    name: "ti",
    native: "TINYINT",
    type: "integer",
    cells: [
      ["NULL", null],
      ["-128", "-128"],
      ["0", "0"],
      ["5", "5"],
      ["127", "127"],
    ],
  },
  {
    name: "yr",
    native: "YEAR",
    type: "integer",
    cells: [
      ["NULL", null],
      ["2024", "2024"],
      ["1999", "1999"],
      ["2155", "2155"],
      ["1901", "1901"],
    ],
  },
  {
    name: "dec6",
    native: "DECIMAL(20,6)",
    type: "decimal",
    cells: [
      ["NULL", null],
      ["-0.5", "-0.5"],
      ["0", "0"],
      ["0.000001", "0.000001"],
      ["12345678901234.5", "12345678901234.5"],
    ],
  },
  {
    name: "dec0",
    native: "DECIMAL(12,0)",
    type: "decimal",
    cells: [
      ["NULL", null],
      ["-12", "-12"],
      ["0", "0"],
      ["100", "100"],
      ["999999999999", "999999999999"],
    ],
  },
  {
    name: "dec2",
    native: "DECIMAL(5,2)",
    type: "decimal",
    cells: [
      ["NULL", null],
      ["100.00", "100"],
      ["-0.01", "-0.01"],
      ["-0.00", "0"],
      ["10.10", "10.1"],
    ],
  },
  {
    name: "flag",
    native: "BOOLEAN",
    type: "boolean",
    cells: [
      ["NULL", null],
      ["TRUE", "t"],
      ["FALSE", "f"],
      ["1", "t"],
      ["0", "f"],
    ],
  },
  {
    name: "bit1",
    native: "BIT(1)",
    type: "boolean",
    cells: [
      ["NULL", null],
      ["b'1'", "t"],
      ["b'0'", "f"],
      ["b'1'", "t"],
      ["b'0'", "f"],
    ],
  },
  {
    name: "bits",
    native: "BIT(12)",
    type: "integer",
    cells: [
      ["NULL", null],
      ["b'101'", "5"],
      ["0", "0"],
      ["b'111111111111'", "4095"],
      ["256", "256"],
    ],
  },
  {
    name: "vc",
    native: "VARCHAR(40)",
    type: "text",
    cells: [
      ["NULL", null],
      ["'a|b\\\\c'", "a|b\\c"],
      ["''", ""],
      ["'\\\\N'", "\\N"],
      ["'|'", "|"],
    ],
  },
  {
    name: "tx",
    native: "TEXT",
    type: "text",
    cells: [
      ["NULL", null],
      ["'line\\nbreak😀'", "line\nbreak😀"],
      ["'ünïcödé'", "ünïcödé"],
      ["' pad '", " pad "],
      ["'\\\\'", "\\"],
    ],
  },
  {
    name: "lat",
    native: "VARCHAR(20) CHARACTER SET latin1",
    type: "text",
    cells: [
      ["NULL", null],
      ["'café'", "café"],
      ["'x|y'", "x|y"],
      ["''", ""],
      ["'Ø'", "Ø"],
    ],
  },
  {
    name: "ci",
    native: "VARCHAR(20) COLLATE utf8mb4_general_ci",
    type: "text",
    cells: [
      ["NULL", null],
      ["'MiXeD'", "MiXeD"],
      ["'ß'", "ß"],
      ["'a'", "a"],
      ["'A'", "A"],
    ],
  },
  {
    name: "en",
    native: "ENUM('red','green')",
    type: "text",
    cells: [
      ["NULL", null],
      ["'green'", "green"],
      ["'red'", "red"],
      ["'red'", "red"],
      ["'green'", "green"],
    ],
  },
  {
    name: "dt",
    native: "DATETIME(6)",
    type: "timestamp",
    cells: [
      ["NULL", null],
      ["'2024-02-29 23:59:59.999999'", "2024-02-29T23:59:59.999999Z"],
      ["'1000-01-01 00:00:00.000001'", "1000-01-01T00:00:00.000001Z"],
      ["'1969-12-31 23:59:59.5'", "1969-12-31T23:59:59.500000Z"],
      ["'9999-12-31 23:59:59'", "9999-12-31T23:59:59.000000Z"],
    ],
  },
  {
    name: "dt0",
    native: "DATETIME",
    type: "timestamp",
    cells: [
      ["NULL", null],
      ["'1970-01-01 00:00:00'", "1970-01-01T00:00:00.000000Z"],
      ["'2024-01-01 12:34:56'", "2024-01-01T12:34:56.000000Z"],
      ["NULL", null],
      ["'2000-02-29 00:00:01'", "2000-02-29T00:00:01.000000Z"],
    ],
  },
  {
    name: "dt3",
    native: "DATETIME(3)",
    type: "timestamp",
    cells: [
      ["NULL", null],
      ["'2024-01-02 03:04:05.123'", "2024-01-02T03:04:05.123000Z"],
      ["'2024-01-02 03:04:05'", "2024-01-02T03:04:05.000000Z"],
      ["'2024-01-02 03:04:05.9'", "2024-01-02T03:04:05.900000Z"],
      ["NULL", null],
    ],
  },
  {
    name: "ts",
    native: "TIMESTAMP(6) NULL",
    type: "timestamp",
    cells: [
      ["NULL", null],
      ["'2024-06-01 12:00:00.000001'", "2024-06-01T12:00:00.000001Z"],
      ["'1970-01-01 00:00:01'", "1970-01-01T00:00:01.000000Z"],
      ["'2038-01-19 03:14:07.999999'", "2038-01-19T03:14:07.999999Z"],
      ["NULL", null],
    ],
  },
  {
    name: "d",
    native: "DATE",
    type: "timestamp",
    cells: [
      ["NULL", null],
      ["'2024-03-01'", "2024-03-01T00:00:00.000000Z"],
      ["'1000-01-01'", "1000-01-01T00:00:00.000000Z"],
      ["'2024-12-31'", "2024-12-31T00:00:00.000000Z"],
      ["NULL", null],
    ],
  },
  {
    name: "tm",
    native: "TIME",
    type: "time",
    cells: [
      ["NULL", null],
      ["'838:59:59'", "838:59:59.000000"],
      ["'-01:02:03'", "-01:02:03.000000"],
      ["'00:00:00'", "00:00:00.000000"],
      ["NULL", null],
    ],
  },
  {
    name: "tm3",
    native: "TIME(3)",
    type: "time",
    cells: [
      ["NULL", null],
      ["'-838:59:59.999'", "-838:59:59.999000"],
      ["'-00:00:00.5'", "-00:00:00.500000"],
      ["'10:00:00'", "10:00:00.000000"],
      ["'24:00:00.001'", "24:00:00.001000"],
    ],
  },
  {
    name: "vb",
    native: "VARBINARY(16)",
    type: "bytes",
    cells: [
      ["NULL", null],
      ["X'00FF10'", "00ff10"],
      ["X''", ""],
      ["X'5C7C'", "5c7c"],
      ["X'DEADBEEF'", "deadbeef"],
    ],
  },
  {
    name: "bl",
    native: "BLOB",
    type: "bytes",
    cells: [
      ["NULL", null],
      ["X''", ""],
      ["X'00'", "00"],
      ["X'7C'", "7c"],
      ["NULL", null],
    ],
  },
  {
    name: "bn",
    native: "BINARY(3)",
    type: "bytes",
    cells: [
      ["NULL", null],
      ["X'01'", "010000"],
      ["X'ABCDEF'", "abcdef"],
      ["NULL", null],
      ["X'000000'", "000000"],
    ],
  },
];

const KEY: readonly ColumnSpec[] = [{ name: "id", type: "integer" }];
const TYPED_SHAPE: RecordShape = { key: KEY, columns: COLUMNS.map((c) => ({ name: c.name, type: c.type })) };
const EXPECTED = new Map(
  IDS.map((id, r) => {
    const values = COLUMNS.map((c) => c.cells[r]![1]);
    return [keyId([id]), { key: [id] as Key, values, fingerprint: fingerprintRow([id], values) }];
  }),
);

async function streamAll(
  c: MysqlConnector,
  shape: RecordShape,
  range: KeyRange = FULL_RANGE,
): Promise<KeyFingerprint[]> {
  const out: KeyFingerprint[] = [];
  for await (const batch of c.streamFingerprints(shape, range, 2)) out.push(...batch);
  return out;
}

function checksumOf(fps: readonly string[]) {
  const acc = new ChecksumAccumulator();
  for (const fp of fps) acc.add(fp);
  return acc.result();
}

/** Integers 0..n-1 as a derived table, without a sequence engine or deep recursion (portable). */
function numbers(n: number): string {
  const digits =
    "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " +
    "UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
  const width = Math.ceil(Math.log10(n));
  const names = Array.from({ length: width }, (_, i) => `p${i}`);
  const sum = names.map((p, i) => `${p}.d * ${10 ** i}`).join(" + ");
  return `(SELECT ${sum} AS n FROM ${names.map((p) => `${digits} ${p}`).join(", ")} HAVING n < ${n})`;
}

describe.skipIf(!available)("mysql connector: native types", () => {
  let db: MysqlTestDatabase;
  let connector: MysqlConnector;

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    const conn = await db.admin.getConnection();
    try {
      await conn.query("SET time_zone = '+00:00'");
      await conn.query(
        `CREATE TABLE typed (id BIGINT PRIMARY KEY, ${COLUMNS.map((c) => `${c.name} ${c.native}`).join(", ")}) CHARACTER SET utf8mb4`,
      );
      const rows = IDS.map((id, r) => `(${id}, ${COLUMNS.map((c) => c.cells[r]![0]).join(", ")})`);
      await conn.query(`INSERT INTO typed VALUES ${rows.join(", ")}`);
    } finally {
      conn.release();
    }
    connector = new MysqlConnector(db.pool(), "typed", {
      label: "types.mysql",
      where: db.url,
      ownsPool: true,
    });
  });
  afterAll(async () => {
    await connector?.close();
    await db?.drop();
  });

  it("describes each native type as its logical type", async () => {
    const { columns } = await connector.describe();
    expect(columns.map((c) => [c.name, c.type])).toEqual([
      ["id", "integer"],
      ...COLUMNS.map((c) => [c.name, c.type]),
    ]);
  });

  it("reads canonical values (as text, in UTC) and fingerprints in SQL exactly as the engine does", async () => {
    expect(await connector.pushdownLimits(TYPED_SHAPE)).toEqual([]);
    const records = await connector.fetchRecords(
      TYPED_SHAPE,
      IDS.map((id) => [id]),
    );
    expect(records.length).toBe(IDS.length);
    for (const rec of records) {
      const want = EXPECTED.get(keyId(rec.key))!;
      for (const [i, c] of COLUMNS.entries()) {
        expect(rec.values[i], `${rec.key[0]}.${c.name}`).toBe(want.values[i]);
      }
      expect(rec.fingerprint).toBe(want.fingerprint);
    }
    const streamed = await streamAll(connector, TYPED_SHAPE);
    expect(streamed.map((r) => r.key[0])).toEqual(IDS);
    for (const r of streamed)
      expect(r.fingerprint, String(r.key[0])).toBe(EXPECTED.get(keyId(r.key))!.fingerprint);
  });

  it("checksums ranges in one statement exactly like the fingerprints", async () => {
    const ranges: KeyRange[] = [
      FULL_RANGE,
      { lo: ["1"], hi: ["3"] },
      { lo: ["3"], hi: null },
      { lo: ["7"], hi: ["9"] },
    ];
    const queries = connector.stats.queries;
    const sums = await connector.checksumRanges(TYPED_SHAPE, ranges);
    expect(connector.stats.queries - queries).toBe(1);
    ranges.forEach((range, i) => {
      const inRange = IDS.filter((id) => keyInRange(KEY, range, [id]));
      expect(sums[i]).toEqual(checksumOf(inRange.map((id) => EXPECTED.get(keyId([id]))!.fingerprint)));
    });
  });

  it("writes canonical values of every native type so that they read back unchanged", async () => {
    // Insert copies of rows 1..4 under new keys, then move them onto each other, then delete one.
    const inserts = IDS.slice(1).map((id, i) => ({
      key: [String(100 + i)],
      expected: null,
      next: EXPECTED.get(keyId([id]))!.values,
    }));
    expect(await connector.applyWrites(TYPED_SHAPE, inserts)).toEqual(inserts.map(() => "applied"));
    const written = await connector.fetchRecords(
      TYPED_SHAPE,
      inserts.map((w) => w.key),
    );
    for (const rec of written) {
      const w = inserts.find((x) => x.key[0] === rec.key[0])!;
      expect(rec.values).toEqual(w.next);
    }
    const updates = inserts.map((w, i) => ({
      key: w.key,
      expected: fingerprintRow(w.key, w.next),
      next: inserts[(i + 1) % inserts.length]!.next,
    }));
    expect(await connector.applyWrites(TYPED_SHAPE, updates)).toEqual(updates.map(() => "applied"));
    for (const rec of await connector.fetchRecords(
      TYPED_SHAPE,
      updates.map((w) => w.key),
    )) {
      expect(rec.values).toEqual(updates.find((x) => x.key[0] === rec.key[0])!.next);
    }
    expect(await connector.applyWrites(TYPED_SHAPE, updates)).toEqual(updates.map(() => "noop"));
  });
});

describe.skipIf(!available)("mysql connector: floats and JSON (fingerprinted in the engine)", () => {
  let db: MysqlTestDatabase;
  let connector: MysqlConnector;
  const SHAPE: RecordShape = {
    key: KEY,
    columns: [
      { name: "d", type: "float" },
      { name: "f", type: "float32" },
      { name: "doc", type: "json" },
    ],
  };
  const DOUBLES: readonly (readonly [string, CanonicalValue])[] = [
    ["0.1", "0.1"],
    ["1e21", "1e+21"],
    ["1.5e-7", "1.5e-7"],
    ["123456789012345678", "123456789012345680"],
    ["-0e0", "0"],
    ["3.141592653589793", "3.141592653589793"],
    ["5e-324", "5e-324"],
    ["1.7976931348623157e308", "1.7976931348623157e+308"],
    ["0.30000000000000004", "0.30000000000000004"],
    ["NULL", null],
  ];
  const DOCS: readonly (readonly [string, CanonicalValue])[] = [
    [`'{"b": 1, "a": [1, 2.50, 1e2]}'`, '{"a":[1,2.5,100],"b":1}'],
    ["'null'", "null"],
    ["NULL", null],
    [`'"x|y"'`, '"x|y"'],
  ];

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE floats (id BIGINT PRIMARY KEY, d DOUBLE, f FLOAT, doc JSON)");
    const rows = DOUBLES.map(
      ([lit], i) => `(${i}, ${lit}, ${lit === "NULL" ? "NULL" : "0.1"}, ${DOCS[i % DOCS.length]![0]})`,
    );
    await db.admin.query(`INSERT INTO floats VALUES ${rows.join(", ")}`);
    connector = new MysqlConnector(db.pool(), "floats", {
      label: "floats.mysql",
      where: db.url,
      ownsPool: true,
    });
  });
  afterAll(async () => {
    await connector?.close();
    await db?.drop();
  });

  it("reads DOUBLE as JavaScript prints it, FLOAT as a float32, JSON canonically", async () => {
    const { columns } = await connector.describe();
    expect(columns.map((c) => c.type)).toEqual(["integer", "float", "float32", "json"]);
    const recs = await connector.fetchRecords(
      SHAPE,
      DOUBLES.map((_, i) => [String(i)]),
    );
    const byId = new Map(recs.map((r) => [r.key[0], r.values]));
    DOUBLES.forEach(([lit, want], i) => {
      expect(byId.get(String(i))?.[0], lit).toBe(want);
      expect(byId.get(String(i))?.[1], lit).toBe(lit === "NULL" ? null : "0.1");
      expect(byId.get(String(i))?.[2], lit).toBe(DOCS[i % DOCS.length]![1]);
    });
  });

  it("says it cannot push the shape down, and still checksums exactly", async () => {
    const limits = await connector.pushdownLimits(SHAPE);
    expect(limits).toEqual([expect.stringMatching(/fingerprinted in the engine.*d \(double as float\)/)]);
    const recs = await connector.fetchRecords(
      SHAPE,
      DOUBLES.map((_, i) => [String(i)]),
    );
    const fp = new Map(recs.map((r) => [r.key[0]!, r.fingerprint]));
    const ranges: KeyRange[] = [
      FULL_RANGE,
      { lo: ["2"], hi: ["5"] },
      { lo: ["5"], hi: ["7"] },
      { lo: null, hi: ["1"] },
    ];
    const sums = await connector.checksumRanges(SHAPE, ranges);
    ranges.forEach((range, i) => {
      const ids = [...fp.keys()].filter((id) => keyInRange(KEY, range, [id]));
      expect(sums[i]).toEqual(checksumOf(ids.map((id) => fp.get(id)!)));
    });
    for (const r of await streamAll(connector, SHAPE)) expect(r.fingerprint).toBe(fp.get(r.key[0]!));
  });

  it("checksums binary-compared text keys with one scan, hashing in the engine, and in parts when long", async () => {
    await db.admin.query(
      "CREATE TABLE ci_floats (code VARCHAR(8) COLLATE utf8mb4_general_ci PRIMARY KEY, d DOUBLE) CHARACTER SET utf8mb4",
    );
    const codes = ["B", "Z", "_", "a", "c", "é", "ü"];
    await db.admin.query(
      `INSERT INTO ci_floats VALUES ${codes.map((c, i) => `('${c}', ${i / 10})`).join(", ")}`,
    );
    const shape: RecordShape = {
      key: [{ name: "code", type: "text" }],
      columns: [{ name: "d", type: "float" }],
    };
    const whole = new MysqlConnector(db.pool(), "ci_floats", { label: "ci", where: db.url, ownsPool: true });
    const parted = new MysqlConnector(db.pool(), "ci_floats", {
      label: "ci",
      where: db.url,
      ownsPool: true,
      maxStatementChars: 200,
    });
    try {
      const fps = new Map((await streamAll(whole, shape)).map((r) => [r.key[0]!, r.fingerprint]));
      expect([...fps.keys()]).toEqual(codes);
      // Ascending and disjoint, with gaps: one scan assigns rows to buckets.
      const ranges: KeyRange[] = [
        { lo: null, hi: ["Z"] },
        { lo: ["Z"], hi: ["a"] },
        { lo: ["b"], hi: ["é"] },
        { lo: ["ü"], hi: null },
      ];
      const want = ranges.map((range) =>
        checksumOf(codes.filter((c) => keyInRange(shape.key, range, [c])).map((c) => fps.get(c)!)),
      );
      const queries = whole.stats.queries;
      expect(await whole.checksumRanges(shape, ranges)).toEqual(want);
      expect(whole.stats.queries - queries).toBe(1);
      expect(await parted.checksumRanges(shape, ranges)).toEqual(want);
    } finally {
      await whole.close();
      await parted.close();
    }
  });

  it("refuses to store Infinity in a DOUBLE, naming the column", async () => {
    const [rec] = await connector.fetchRecords(SHAPE, [["0"]]);
    await expect(
      connector.applyWrites(SHAPE, [
        { key: ["0"], expected: rec!.fingerprint, next: ["Infinity", "1", "2"] },
      ]),
    ).rejects.toThrow(/column d \(double\) cannot store Infinity/);
  });
});

describe.skipIf(!available)("mysql connector: splitting large integer ranges", () => {
  let db: MysqlTestDatabase;
  const SHAPE: RecordShape = { key: KEY, columns: [{ name: "v", type: "integer" }] };

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE uniform (id BIGINT PRIMARY KEY, v INT)");
    await db.admin.query(`INSERT INTO uniform SELECT n * 3 - 5000, n FROM ${numbers(20000)} x`);
    // 19000 dense keys and 1000 spread over 10^12: one histogram interval holds nearly everything.
    await db.admin.query("CREATE TABLE skewed (id BIGINT PRIMARY KEY, v INT)");
    await db.admin.query(
      `INSERT INTO skewed SELECT IF(n < 19000, n, n * 1000000000), n FROM ${numbers(20000)} x`,
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("bounds open ranges with two index probes, so they are cut by arithmetic", async () => {
    const c = new MysqlConnector(db.pool(), "uniform", { label: "uniform", where: db.url, ownsPool: true });
    try {
      await c.describe();
      const before = c.stats.queries;
      expect(await c.keyBounds(SHAPE, FULL_RANGE)).toEqual({ first: ["-5000"], last: ["54997"] });
      expect(await c.keyBounds(SHAPE, { lo: ["100"], hi: ["200"] })).toEqual({
        first: ["100"],
        last: ["199"],
      });
      expect(await c.keyBounds(SHAPE, { lo: ["60000"], hi: null })).toBeNull();
      expect(await c.keyBounds(SHAPE, { lo: ["200"], hi: ["100"] })).toBeNull();
      expect(c.stats.queries - before).toBe(4);
      const cuts = await arithmeticSplit(SHAPE, c, { lo: null, hi: ["10001"] }, 4, 5000);
      expect(cuts).toEqual([["-1249"], ["2502"], ["6253"]]);
      expect(c.stats.queries - before).toBe(5);
      // Keys far sparser than their span: equal widths would not mean equal rows, so no arithmetic.
      expect(await arithmeticSplit(SHAPE, c, FULL_RANGE, 4, 100)).toBeUndefined();
      // MIN and MAX are read from the index ends, not from the rows.
      const [plan] = (await db.admin.query(
        "EXPLAIN SELECT MIN(t.id), MAX(t.id) FROM uniform AS t FORCE INDEX (PRIMARY) WHERE t.id >= 100",
      )) as unknown as [{ Extra: string }[]];
      expect(plan[0]!.Extra).toBe("Select tables optimized away");
    } finally {
      await c.close();
    }
  });

  for (const [table, queriesExpected] of [
    ["uniform", 2],
    ["skewed", 3],
  ] as const) {
    it(`splits ${table} keys into runs of about equal size (${queriesExpected} statements)`, async () => {
      const c = new MysqlConnector(db.pool(), table, { label: table, where: db.url, ownsPool: true });
      try {
        const all: Key[] = [];
        for await (const batch of c.streamFingerprints(SHAPE, FULL_RANGE, 5000))
          all.push(...batch.map((r) => r.key));
        for (const [range, parts] of [
          [FULL_RANGE, 200],
          [{ lo: ["100"], hi: ["40000"] }, 64],
        ] as const) {
          await c.describe();
          const before = c.stats.queries;
          const splits = await c.splitRange(SHAPE, range, parts);
          if (range === FULL_RANGE) expect(c.stats.queries - before).toBe(queriesExpected);
          const inRange = all.filter((k) => keyInRange(KEY, range, k));
          const positions = splits.map((s) => inRange.findIndex((k) => compareKeys(KEY, k, s) === 0));
          expect(splits.length).toBeLessThanOrEqual(parts - 1);
          for (const [j, p] of positions.entries()) {
            expect(p).toBeGreaterThan(j === 0 ? 0 : positions[j - 1]!);
          }
          const bounds = [0, ...positions, inRange.length];
          const runs = bounds.slice(1).map((b, j) => b - bounds[j]!);
          const even = Math.ceil(inRange.length / parts);
          for (const run of runs) expect(run).toBeLessThanOrEqual(1.5 * even);
          expect(runs.length).toBeGreaterThanOrEqual(parts / 2);
        }
      } finally {
        await c.close();
      }
    });
  }
});

describe.skipIf(!available)("mysql connector: splitting by row numbers", () => {
  let db: MysqlTestDatabase;
  const PAIR_KEY: readonly ColumnSpec[] = [
    { name: "region", type: "text" },
    { name: "seq", type: "integer" },
  ];
  const SHAPE: RecordShape = { key: PAIR_KEY, columns: [] };

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query(
      "CREATE TABLE pairs (region VARCHAR(8) COLLATE utf8mb4_bin, seq BIGINT, PRIMARY KEY (region, seq))",
    );
    await db.admin.query(
      `INSERT INTO pairs SELECT ELT(n % 3 + 1, 'a', 'B', '_'), n - 1500 FROM ${numbers(3000)} x`,
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("numbers the rows of a range too large to read whole, in binary key order", async () => {
    const c = new MysqlConnector(db.pool(), "pairs", { label: "pairs", where: db.url, ownsPool: true });
    try {
      const all: Key[] = [];
      for await (const batch of c.streamFingerprints(SHAPE, FULL_RANGE, 1000))
        all.push(...batch.map((r) => r.key));
      expect(all.length).toBe(3000);
      for (let i = 1; i < all.length; i++) expect(compareKeys(PAIR_KEY, all[i - 1]!, all[i]!)).toBe(-1);
      // 3000 rows into 4 parts: more than the 256 keys read directly, so rows are numbered.
      expect(await c.splitRange(SHAPE, FULL_RANGE, 4)).toEqual([all[750], all[1500], all[2250]]);
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(!available)("mysql connector: errors", () => {
  let db: MysqlTestDatabase;
  const host = () => new URL(MYSQL.url).host;

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, v INT)");
    await db.admin.query(`CREATE VIEW slow AS SELECT n AS id, SLEEP(0.5) AS z FROM ${numbers(10)} x`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function failure(c: MysqlConnector, run: (c: MysqlConnector) => Promise<unknown>): Promise<string> {
    try {
      await run(c);
    } catch (err) {
      expect(err).toBeInstanceOf(ConnectorError);
      const message = (err as Error).message;
      expect(message).not.toContain("s3cret");
      expect(message).not.toContain("\n");
      return message;
    } finally {
      await c.close();
    }
    throw new Error("expected a ConnectorError");
  }

  it("names the replica and redacts the password when the server is unreachable", async () => {
    const c = openMysqlConnector("mysql://root:s3cret@127.0.0.1:1/test", "items", {
      label: "ds.down",
      connectTimeoutMs: 2000,
    });
    expect(await failure(c, (x) => x.describe())).toMatch(
      /^ds\.down: cannot reach mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/test: /,
    );
  });

  it("says access was denied", async () => {
    const c = openMysqlConnector(`mysql://concord_nobody:s3cret@${host()}/${db.name}`, "items", {
      label: "ds.denied",
    });
    expect(await failure(c, (x) => x.describe())).toMatch(
      /^ds\.denied: access denied at mysql:\/\/concord_nobody:\*\*\*@/,
    );
  });

  it("names a table or database that does not exist", async () => {
    const table = openMysqlConnector(db.url, "nope", { label: "ds.table" });
    expect(await failure(table, (x) => x.describe())).toBe(
      `ds.table: cannot describe table: table ${db.name}.nope does not exist`,
    );
    const url = new URL(db.url);
    url.pathname = "/concord_no_such_database";
    const database = openMysqlConnector(url.toString(), "items", { label: "ds.db" });
    expect(await failure(database, (x) => x.describe())).toMatch(
      /^ds\.db: Unknown database 'concord_no_such_database'/,
    );
  });

  it("gives up on a statement that runs past the query timeout", async () => {
    const c = openMysqlConnector(db.url, "slow", { label: "ds.slow", queryTimeoutMs: 300 });
    const shape: RecordShape = { key: KEY, columns: [{ name: "z", type: "integer" }] };
    const started = Date.now();
    expect(await failure(c, (x) => x.checksumRanges(shape, [FULL_RANGE]))).toMatch(
      /^ds\.slow: range checksum failed: timed out \(max_statement_time \/ max_execution_time; timeouts\.statement\): /,
    );
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("refuses writes when opened read-only", async () => {
    const c = openMysqlConnector(db.url, "items", { label: "ds.ro", readonly: true });
    const shape: RecordShape = { key: KEY, columns: [{ name: "v", type: "integer" }] };
    expect(
      await failure(c, (x) => x.applyWrites(shape, [{ key: ["1"], expected: null, next: ["1"] }])),
    ).toMatch(/read-only/);
  });

  it("is what mysql: and mariadb: replica URLs open", async () => {
    for (const scheme of ["mysql:", "mariadb:"]) {
      const c = await openConnector("ds", {
        name: "r",
        url: db.url.replace(/^mysql:/, scheme),
        table: "items",
      });
      try {
        expect(c.kind).toBe("mysql");
        expect((await c.describe()).columns.map((x) => x.name)).toEqual(["id", "v"]);
      } finally {
        await c.close();
      }
    }
    await expect(openConnector("ds", { name: "r", url: db.url })).rejects.toThrow(
      'ds.r: mysql replica needs "table"',
    );
  });
});

describe.skipIf(!available)("mysql connector: listing many ranges at once", () => {
  let db: MysqlTestDatabase;
  const opened: MysqlConnector[] = [];
  const INT_SHAPE: RecordShape = {
    key: KEY,
    columns: [
      { name: "v", type: "integer" },
      { name: "s", type: "text" },
    ],
  };
  const FLOAT_SHAPE: RecordShape = { key: KEY, columns: [{ name: "d", type: "float" }] };
  const CODE_KEY: readonly ColumnSpec[] = [{ name: "code", type: "text" }];
  const CODE_SHAPE: RecordShape = { key: CODE_KEY, columns: [{ name: "v", type: "integer" }] };
  const PAIR_KEY: readonly ColumnSpec[] = [
    { name: "region", type: "text" },
    { name: "seq", type: "integer" },
  ];
  const PAIR_SHAPE: RecordShape = { key: PAIR_KEY, columns: [{ name: "v", type: "integer" }] };
  /** Letters that differ only in case or accents: distinct keys under a binary collation. */
  const LETTERS = ["a", "A", "á", "Á", "à", "ä", "Ä", "b", "B", "é", "É", "e", "E", "z", "Z", "_", "😀"];
  const codes = LETTERS.flatMap((l) => Array.from({ length: 30 }, (_, n) => `${l}${n}`));

  /** Every table listed: name, shape, and a random bound (an existing key or not). */
  const TABLES: readonly {
    table: string;
    shape: RecordShape;
    bound: (rand: () => number) => Key;
  }[] = [
    { table: "ints", shape: INT_SHAPE, bound: (r) => [String(Math.floor(r() * 9300) - 4100)] },
    { table: "floats", shape: FLOAT_SHAPE, bound: (r) => [String(Math.floor(r() * 600) - 50)] },
    ...["codes_nopad", "codes_pad"].map((table) => ({
      table,
      shape: CODE_SHAPE,
      bound: (r: () => number) => [`${LETTERS[Math.floor(r() * LETTERS.length)]}${Math.floor(r() * 40)}`],
    })),
    {
      table: "pairs",
      shape: PAIR_SHAPE,
      bound: (r) => [LETTERS[Math.floor(r() * LETTERS.length)]!, String(Math.floor(r() * 50) - 10)],
    },
  ];

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    const nopad = db.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
    await db.admin.query("CREATE TABLE ints (id BIGINT PRIMARY KEY, v INT, s VARCHAR(20))");
    await db.admin.query(
      `INSERT INTO ints SELECT n * 3 - 4000, n % 7, IF(n % 5 = 0, NULL, CONCAT('s|', n)) FROM ${numbers(3000)} x`,
    );
    await db.admin.query("CREATE TABLE floats (id BIGINT PRIMARY KEY, d DOUBLE)");
    await db.admin.query(`INSERT INTO floats SELECT n, n / 10 FROM ${numbers(500)} x`);
    for (const [table, collation] of [
      ["codes_nopad", nopad],
      ["codes_pad", "utf8mb4_bin"],
    ]) {
      await db.admin.query(
        `CREATE TABLE ${table} (code VARCHAR(16) COLLATE ${collation} PRIMARY KEY, v INT) CHARACTER SET utf8mb4`,
      );
      await db.admin.query(`INSERT INTO ${table} VALUES ${codes.map((c, i) => `('${c}', ${i})`).join(", ")}`);
    }
    await db.admin.query(
      `CREATE TABLE pairs (region VARCHAR(8) COLLATE ${nopad}, seq BIGINT, v INT, PRIMARY KEY (region, seq)) CHARACTER SET utf8mb4`,
    );
    const pairs = LETTERS.flatMap((l, i) =>
      Array.from({ length: 40 }, (_, n) => `('${l}', ${n - 5}, ${i * n})`),
    );
    await db.admin.query(`INSERT INTO pairs VALUES ${pairs.join(", ")}`);
  });
  afterAll(async () => {
    for (const c of opened.splice(0)) await c.close();
    await db?.drop();
  });

  function connect(table: string, maxStatementChars?: number): MysqlConnector {
    const c = new MysqlConnector(db.pool(), table, {
      label: table,
      where: db.url,
      ownsPool: true,
      ...(maxStatementChars ? { maxStatementChars } : {}),
    });
    opened.push(c);
    return c;
  }

  /** A seeded generator (mulberry32), so a failure names the seed that replays it. */
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /**
   * Ascending, disjoint ranges as detection's leaves are: between random cut points, adjacent or with gaps,
   * some empty, the first and last open or not.
   */
  function randomLeaves(rand: () => number, shape: RecordShape, bound: (r: () => number) => Key, n: number) {
    const cuts = Array.from({ length: n }, () => bound(rand))
      .sort((x, y) => compareKeys(shape.key, x, y))
      .filter((k, i, all) => i === 0 || compareKeys(shape.key, all[i - 1]!, k) < 0);
    const leaves: KeyRange[] = rand() < 0.5 ? [{ lo: null, hi: cuts[0]! }] : [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const x = rand();
      if (x < 0.1) leaves.push({ lo: cuts[i]!, hi: cuts[i]! });
      if (x < 0.7) leaves.push({ lo: cuts[i]!, hi: cuts[i + 1]! });
    }
    if (rand() < 0.5) leaves.push({ lo: cuts.at(-1)!, hi: null });
    return leaves;
  }

  /** How many ranges remain once each run of adjacent ones (one's hi is the next one's lo) is joined. */
  function adjacentRuns(key: RecordShape["key"], ranges: readonly KeyRange[]): number {
    return ranges.filter((r, i) => {
      const prev = ranges[i - 1];
      return !(prev?.hi && r.lo && compareKeys(key, prev.hi, r.lo) === 0);
    }).length;
  }

  async function listAll(c: MysqlConnector, shape: RecordShape, ranges: readonly KeyRange[], size: number) {
    const rows: KeyFingerprint[] = [];
    for await (const batch of c.streamFingerprintsIn(shape, ranges, size)) {
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.length).toBeLessThanOrEqual(size);
      rows.push(...batch);
    }
    return rows;
  }

  it("lists random ranges exactly like streaming each in turn: integer, binary text, composite keys, in SQL or not", async () => {
    for (const { table, shape, bound } of TABLES) {
      const c = connect(table);
      const all = await streamAll(c, shape);
      for (const seed of [1, 2, 3, 4]) {
        const what = `${table}, seed ${seed}`;
        const leaves = randomLeaves(random(seed), shape, bound, seed * 40);
        const oneByOne: KeyFingerprint[] = [];
        for (const range of leaves) oneByOne.push(...(await streamAll(c, shape, range)));
        expect(oneByOne, what).toEqual(
          all.filter((r) => leaves.some((l) => keyInRange(shape.key, l, r.key))),
        );
        for (const size of [1, 13, 1000]) {
          expect(await listAll(c, shape, leaves, size), `${what}, batches of ${size}`).toEqual(oneByOne);
        }
      }
      expect(await listAll(c, shape, [FULL_RANGE], 500), table).toEqual(all);
      expect(await listAll(c, shape, [], 10), table).toEqual([]);
    }
  });

  it("orders keys that differ only in case or accents by code point", async () => {
    // By code point: A < _ < a < z < Á < Ä < É < à < á < ä < é < 😀; a collation would mix them.
    const leaves: KeyRange[] = [
      { lo: null, hi: ["A1"] },
      { lo: ["A2"], hi: ["B"] },
      { lo: ["a29"], hi: ["a4"] },
      { lo: ["z"], hi: ["á1"] },
      { lo: ["é"], hi: null },
    ];
    for (const table of ["codes_nopad", "codes_pad"]) {
      const c = connect(table);
      const keys = (await listAll(c, CODE_SHAPE, leaves, 7)).map((r) => r.key[0]!);
      const firsts = keys.map((k) => String.fromCodePoint(k.codePointAt(0)!));
      expect(
        firsts.filter((f, i) => f !== firsts[i - 1]),
        table,
      ).toEqual(["A", "a", "z", "Á", "Ä", "É", "à", "á", "é", "😀"]);
      expect(
        keys.filter((k) => k.startsWith("A")),
        table,
      ).toEqual(
        ["A0", "A2", "A20", "A21", "A22", "A23", "A24", "A25", "A26", "A27", "A28", "A29"].concat([
          "A3",
          "A4",
          "A5",
          "A6",
          "A7",
          "A8",
          "A9",
        ]),
      );
      expect(
        keys.filter((k) => k.startsWith("a")),
        table,
      ).toEqual(["a29", "a3"]);
      expect(
        keys.filter((k) => k.startsWith("á")),
        table,
      ).toEqual(["á0"]);
      expect(keys.length, table).toBe(19 + 2 + 30 * 5 + 1 + 30 * 2);
    }
  });

  it("bounds NO PAD binary text keys and composite keys through the index, not binary-compared ones", async () => {
    const nopad = connect("codes_nopad");
    expect(await nopad.keyBounds(CODE_SHAPE, FULL_RANGE)).toEqual({ first: ["A0"], last: ["😀9"] });
    expect(await nopad.keyBounds(CODE_SHAPE, { lo: ["a"], hi: ["b"] })).toEqual({
      first: ["a0"],
      last: ["a9"],
    });
    // utf8mb4_bin pads: its index does not serve code-point order, and a scan is no cheap bound.
    expect(await connect("codes_pad").keyBounds(CODE_SHAPE, FULL_RANGE)).toBeNull();
    const pairs = connect("pairs");
    expect(await pairs.keyBounds(PAIR_SHAPE, FULL_RANGE)).toEqual({ first: ["A", "-5"], last: ["😀", "34"] });
    expect(await pairs.keyBounds(PAIR_SHAPE, { lo: ["a", "3"], hi: ["b", "-5"] })).toEqual({
      first: ["a", "3"],
      last: ["a", "34"],
    });
    expect(await pairs.keyBounds(PAIR_SHAPE, { lo: ["😀", "35"], hi: null })).toBeNull();
  });

  it("lists a round of many leaves in a few statements, not one per leaf", async () => {
    const leaves = randomLeaves(random(7), INT_SHAPE, TABLES[0]!.bound, 1200);
    const nonEmpty = leaves.filter((r) => !(r.lo && r.hi && compareKeys(KEY, r.lo, r.hi) >= 0));
    expect(nonEmpty.length).toBeGreaterThan(600);
    // Up to 256 ranges a statement, whether the store fingerprints (ints) or the engine does (floats).
    for (const [table, shape] of [
      ["ints", INT_SHAPE],
      ["floats", FLOAT_SHAPE],
    ] as const) {
      const c = connect(table);
      await c.describe();
      const before = { ...c.stats };
      const rows = await listAll(c, shape, leaves, 1000);
      expect(rows.length, table).toBeGreaterThan(0);
      expect(c.stats.queries - before.queries, table).toBe(Math.ceil(adjacentRuns(KEY, nonEmpty) / 256));
      expect(c.stats.rowsRead - before.rowsRead, table).toBe(rows.length);
      expect(c.stats.bytesRead - before.bytesRead, table).toBeGreaterThan(rows.length);
    }
    // Binary-compared text keys scan the table whatever the ranges: one statement for them all.
    const pad = connect("codes_pad");
    await pad.describe();
    const codeLeaves = randomLeaves(random(8), CODE_SHAPE, TABLES[2]!.bound, 400);
    const before = pad.stats.queries;
    await listAll(pad, CODE_SHAPE, codeLeaves, 1000);
    expect(pad.stats.queries - before).toBe(1);
  });

  it("joins adjacent ranges: a dense round of 600 leaves is one statement, with the same pairs", async () => {
    const rand = random(11);
    const cuts = Array.from({ length: 601 }, () => TABLES[0]!.bound(rand))
      .sort((x, y) => compareKeys(KEY, x, y))
      .filter((k, i, all) => i === 0 || compareKeys(KEY, all[i - 1]!, k) < 0);
    expect(cuts.length).toBeGreaterThan(400);
    const adjacent: KeyRange[] = cuts.slice(1).map((hi, i) => ({ lo: cuts[i]!, hi }));
    const leaves = [{ lo: null, hi: cuts[0]! }, ...adjacent.slice(0, 200), ...adjacent.slice(201)];
    expect(adjacentRuns(KEY, leaves)).toBe(2);
    const c = connect("ints");
    const oneByOne: KeyFingerprint[] = [];
    for (const range of leaves) oneByOne.push(...(await streamAll(c, INT_SHAPE, range)));
    const before = c.stats.queries;
    expect(await listAll(c, INT_SHAPE, leaves, 7)).toEqual(oneByOne);
    expect(c.stats.queries - before).toBe(1);
  });

  it("splits a round whose statement would pass maxStatementChars, with the same pairs", async () => {
    const leaves = randomLeaves(random(9), PAIR_SHAPE, TABLES[4]!.bound, 300);
    const whole = connect("pairs");
    const parted = connect("pairs", 4000);
    await Promise.all([whole.describe(), parted.describe()]);
    const want = await listAll(whole, PAIR_SHAPE, leaves, 100);
    const before = parted.stats.queries;
    expect(await listAll(parted, PAIR_SHAPE, leaves, 100)).toEqual(want);
    expect(parted.stats.queries - before).toBeGreaterThan(2);
  });

  it("reads the ranges as one multi-range scan of the primary key, in key order without a sort (EXPLAIN)", async () => {
    const session = new MysqlSession(
      db.admin,
      { label: "explain", where: db.url, queryTimeoutMs: 0, readAttempts: 1 },
      emptyStats(),
    );
    for (const { table, shape, bound } of [TABLES[0]!, TABLES[2]!, TABLES[4]!]) {
      const meta = await readMysqlTableMeta(session, table, table);
      const names = shape.key.map((k) => k.name);
      const s = new MysqlShapeSql(shape, table, meta.byName, mysqlKeyIndex(meta, names));
      const leaves = randomLeaves(random(11), shape, bound, 200).filter(
        (r) => !(r.lo && r.hi && compareKeys(shape.key, r.lo, r.hi) >= 0),
      );
      const [plan] = (await db.admin.query(`EXPLAIN ${s.listSql(leaves, null)}`)) as unknown as [
        { type: string; key: string; Extra: string; rows: number }[],
      ];
      expect(plan.length, table).toBe(1);
      expect(plan[0]!.type, table).toBe("range");
      expect(plan[0]!.key, table).toBe("PRIMARY");
      expect(plan[0]!.Extra, table).not.toMatch(/filesort|temporary/);
    }
  });

  it("finds exactly the differing keys between two tables with a few statements per round", async () => {
    await db.admin.query("CREATE TABLE ints_b LIKE ints");
    await db.admin.query("INSERT INTO ints_b SELECT * FROM ints");
    await db.admin.query("UPDATE ints_b SET v = v + 1 WHERE id % 41 = 0");
    await db.admin.query("DELETE FROM ints_b WHERE id % 53 = 1");
    await db.admin.query("INSERT INTO ints_b VALUES (-4001, 1, 'new'), (5000, 2, NULL)");
    const [rows] = (await db.admin.query(
      "SELECT id FROM ints WHERE id % 41 = 0 OR id % 53 = 1",
    )) as unknown as [{ id: number }[]];
    const changed = new Set([...rows.map((r) => String(r.id)), "-4001", "5000"]);
    // Native row hashes (equal signatures), then canonical fingerprints (no signature): same keys either way.
    for (const native of [true, false]) {
      const a = connect("ints");
      const b = connect("ints_b");
      await Promise.all([a.describe(), b.describe()]);
      if (!native) for (const c of [a, b]) c.nativeHash.signature = async () => null;
      let leaves = 0;
      const method = native ? "nativeHash.streamHashesIn" : "streamFingerprintsIn";
      if (native) {
        const list = a.nativeHash.streamHashesIn;
        a.nativeHash.streamHashesIn = (shape, ranges, size) => {
          leaves += ranges.length;
          return list(shape, ranges, size);
        };
      } else {
        const list = a.streamFingerprintsIn.bind(a);
        a.streamFingerprintsIn = (shape, ranges, size) => {
          leaves += ranges.length;
          return list(shape, ranges, size);
        };
      }
      const before = a.stats.queries + b.stats.queries;
      const found = new Set<string>();
      // The checksum path: two tables of one server are otherwise compared inside MariaDB (pairDiff).
      for await (const batch of detectDivergences(
        INT_SHAPE,
        [
          { name: "a", connector: a },
          { name: "b", connector: b },
        ],
        { inStore: false },
      ))
        for (const o of batch) found.add(o.key[0]!);
      expect([...found].sort(), method).toEqual([...changed].sort());
      // With native hashes every segment differing is dense: the 24 segments are listed whole, not split.
      expect(leaves, method).toBeGreaterThanOrEqual(native ? 24 : 50);
      expect(a.stats.queries + b.stats.queries - before, method).toBeLessThan(30);
    }
  });
});
