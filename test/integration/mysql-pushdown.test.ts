/** MariaDB/MySQL native types: canonical text built in SQL equals the engine's, splits, and one-line errors. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/connector.js";
import { MysqlConnector, openMysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
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
    type: "text",
    cells: [
      ["NULL", null],
      ["'838:59:59'", "838:59:59"],
      ["'-01:02:03'", "-01:02:03"],
      ["'00:00:00'", "00:00:00"],
      ["NULL", null],
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
    for (const r of streamed) expect(r.fingerprint, r.key[0]).toBe(EXPECTED.get(keyId(r.key))!.fingerprint);
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
      { name: "f", type: "float" },
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

  it("reads DOUBLE as JavaScript prints it, FLOAT as the server prints it, JSON canonically", async () => {
    const { columns } = await connector.describe();
    expect(columns.map((c) => c.type)).toEqual(["integer", "float", "float", "json"]);
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
      /^ds\.slow: range checksum failed: timed out/,
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
