/**
 * MariaDB values that only an exact reading tells apart: FLOAT (the server prints 6 digits), JSON numbers
 * past a double, TIME at every precision; and the writes a column would change, refused one line each.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import type { RecordShape, StoredRecord } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

const KEY = [{ name: "id", type: "integer" }] as const;

let db: MysqlTestDatabase;
const open: MysqlConnector[] = [];

function connect(table: string): MysqlConnector {
  const c = new MysqlConnector(db.pool(), table, { label: table, where: db.url, ownsPool: true });
  open.push(c);
  return c;
}

/** Values by key (first key part). */
function byId(records: readonly StoredRecord[]): Record<string, readonly (string | null)[]> {
  return Object.fromEntries(records.map((r) => [r.key[0]!, r.values]));
}

async function nativeRows(sql: string): Promise<unknown[][]> {
  const [rows] = await db.admin.query({ sql, rowsAsArray: true });
  return rows as unknown[][];
}

beforeAll(async () => {
  if (available) db = await createMysqlTestDatabase();
});
afterAll(async () => {
  for (const c of open) await c.close();
  await db?.drop();
});

describe.skipIf(!available)("MariaDB FLOAT is read as the float32 it holds", () => {
  const SHAPE: RecordShape = { key: KEY, columns: [{ name: "f", type: "float32" }] };

  beforeAll(async () => {
    for (const [table, values] of [
      ["fa", ["16777216", "0.33333334", "3.4028234663852886e38", "1.0000012", "-2.5"]],
      ["fb", ["16777218", "0.3333333", "3.4028234663852886e38", "1.0000012", "-2.5"]],
    ] as const) {
      await db.admin.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, f FLOAT, g FLOAT(7,3), d DOUBLE)`);
      await db.admin.query(
        `INSERT INTO ${table} (id, f) VALUES ${values.map((v, i) => `(${i + 1}, ${v})`).join(", ")}`,
      );
    }
  });

  it("describes FLOAT as float32 and DOUBLE as float", async () => {
    const { columns } = await connect("fa").describe();
    expect(columns.map((c) => [c.name, c.type, c.nativeType])).toEqual([
      ["id", "integer", "int(11)"],
      ["f", "float32", "float"],
      ["g", "float32", "float(7,3)"],
      ["d", "float", "double"],
    ]);
  });

  it("tells apart values the server prints alike (16777216 and 16777218, 0.33333334 and 0.3333333)", async () => {
    const keys = [["1"], ["2"], ["3"], ["4"], ["5"]];
    const a = await connect("fa").fetchRecords(SHAPE, keys);
    const b = await connect("fb").fetchRecords(SHAPE, keys);
    expect(byId(a)).toEqual({
      "1": ["16777216"],
      "2": ["0.33333334"],
      "3": ["3.4028235e+38"],
      "4": ["1.0000012"],
      "5": ["-2.5"],
    });
    expect(byId(b)).toMatchObject({ "1": ["16777218"], "2": ["0.3333333"] });
    const differ = a.filter((r, i) => r.fingerprint !== b[i]!.fingerprint).map((r) => r.key[0]);
    expect(differ).toEqual(["1", "2"]);
    const [sumA] = await connect("fa").checksumRanges(SHAPE, [{ lo: null, hi: null }]);
    const [sumB] = await connect("fb").checksumRanges(SHAPE, [{ lo: null, hi: null }]);
    expect(sumA!.xor).not.toBe(sumB!.xor);
  });

  it("reads FLOAT(7,3) by its float32, not its 3 printed digits", async () => {
    // The server prints 0.001 and 1.1; the FLOATs are 0.0010000000474974513 and 1.100000023841858.
    await db.admin.query("UPDATE fa SET g = 0.001 WHERE id = 1");
    await db.admin.query("UPDATE fa SET g = 1.1 WHERE id = 2");
    const shape: RecordShape = { key: KEY, columns: [{ name: "g", type: "float32" }] };
    const got = byId(await connect("fa").fetchRecords(shape, [["1"], ["2"]]));
    expect(got).toEqual({ "1": ["0.001"], "2": ["1.1"] });
    // Writing a value with more decimals than the column keeps would be rounded: refused.
    const c = connect("fa");
    await expect(c.applyWrites(shape, [{ key: ["30"], expected: null, next: ["0.0014"] }])).rejects.toThrow(
      /^fa: column g \(float\(7,3\)\) cannot store 0\.0014: it keeps 3 decimals$/,
    );
  });

  it("repairs with values FLOAT accepts, FLT_MAX included, and reads them back as written", async () => {
    const c = connect("fb");
    const [one, two] = await c.fetchRecords(SHAPE, [["1"], ["2"]]);
    const out = await c.applyWrites(SHAPE, [
      { key: ["1"], expected: one!.fingerprint, next: ["16777216"] },
      { key: ["2"], expected: two!.fingerprint, next: ["0.33333334"] },
      { key: ["9"], expected: null, next: ["3.4028235e+38"] },
      { key: ["10"], expected: null, next: ["-3.4028235e+38"] },
    ]);
    expect(out).toEqual(["applied", "applied", "applied", "applied"]);
    expect(
      await nativeRows("SELECT id, CAST(f AS DOUBLE) FROM fb WHERE id IN (1, 2, 9, 10) ORDER BY id"),
    ).toEqual([
      [1, 16777216],
      [2, 0.3333333432674408],
      [9, 3.4028234663852886e38],
      [10, -3.4028234663852886e38],
    ]);
    expect(byId(await c.fetchRecords(SHAPE, [["9"], ["2"]]))).toEqual({
      "9": ["3.4028235e+38"],
      "2": ["0.33333334"],
    });
  });

  it("refuses, one line naming the column, a double a FLOAT would round and values past its range", async () => {
    const c = connect("fb");
    const asDouble: RecordShape = { key: KEY, columns: [{ name: "f", type: "float" }] };
    const write = (v: string) => c.applyWrites(asDouble, [{ key: ["20"], expected: null, next: [v] }]);
    await expect(write("0.1")).rejects.toThrow(
      /^fb: column f \(float\) cannot store 0\.1: a FLOAT keeps 32-bit floats and would hold 0\.10000000149011612 \(declare/,
    );
    await expect(write("1e39")).rejects.toThrow(
      /column f \(float\) cannot store 1e39: it is beyond the range/,
    );
    await expect(write("NaN")).rejects.toThrow(/column f \(float\) cannot store NaN/);
    // A double a float32 holds exactly is written.
    expect(await write("0.5")).toEqual(["applied"]);
  });
});

describe.skipIf(!available)("MariaDB JSON keeps numbers a double cannot", () => {
  const SHAPE: RecordShape = { key: KEY, columns: [{ name: "doc", type: "json" }] };

  beforeAll(async () => {
    await db.admin.query("CREATE TABLE docs (id INT PRIMARY KEY, doc JSON)");
    await db.admin.query(
      `INSERT INTO docs VALUES (1, '{"id":9007199254740993}'), (2, '{"id":9007199254740992}'),
        (3, '{"x":1e400}'), (4, '{"x":null}'), (5, '{"p": 0.30000000000000001}'), (6, '{"p": 0.3}')`,
    );
  });

  it("reads each document's numbers exactly, so none of them compare equal", async () => {
    const got = await connect("docs").fetchRecords(SHAPE, [["1"], ["2"], ["3"], ["4"], ["5"], ["6"]]);
    expect(byId(got)).toEqual({
      "1": ['{"id":9007199254740993}'],
      "2": ['{"id":9007199254740992}'],
      "3": ['{"x":1e+400}'],
      "4": ['{"x":null}'],
      "5": ['{"p":0.30000000000000001}'],
      "6": ['{"p":0.3}'],
    });
    expect(new Set(got.map((r) => r.fingerprint)).size).toBe(6);
  });

  it("writes the exact text, which the server keeps", async () => {
    const c = connect("docs");
    const doc = '{"big":1.2345678901234567890123456789e+29,"id":9007199254740993,"x":1e+400}';
    expect(await c.applyWrites(SHAPE, [{ key: ["7"], expected: null, next: [doc] }])).toEqual(["applied"]);
    expect(await nativeRows("SELECT CONCAT(doc) FROM docs WHERE id = 7")).toEqual([[doc]]);
    expect(byId(await c.fetchRecords(SHAPE, [["7"]]))).toEqual({ "7": [doc] });
  });
});

describe.skipIf(!available)("MariaDB TIME, DATETIME and TIMESTAMP refuse what they would change", () => {
  const SHAPE: RecordShape = {
    key: KEY,
    columns: [
      { name: "t0", type: "time" },
      { name: "t6", type: "time" },
      { name: "dt0", type: "timestamp" },
      { name: "ts", type: "timestamp" },
    ],
  };

  beforeAll(async () => {
    await db.admin.query(
      "CREATE TABLE times (id INT PRIMARY KEY, t0 TIME, t6 TIME(6), dt0 DATETIME, ts TIMESTAMP NULL)",
    );
  });

  const row = (t0: string, t6: string, dt0: string, ts: string | null) => [t0, t6, dt0, ts];
  const ok = row("-838:59:59.000000", "838:59:59.999999", "9999-12-31T23:59:59.000000Z", null);

  it("writes TIME's extremes and reads them back", async () => {
    const c = connect("times");
    expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: null, next: ok }])).toEqual(["applied"]);
    expect(byId(await c.fetchRecords(SHAPE, [["1"]]))).toEqual({ "1": ok });
    expect(
      await nativeRows("SELECT CAST(t0 AS CHAR), CAST(t6 AS CHAR), CAST(dt0 AS CHAR) FROM times"),
    ).toEqual([["-838:59:59", "838:59:59.999999", "9999-12-31 23:59:59"]]);
  });

  it.each([
    [
      row("839:00:00.000000", "00:00:00.000000", ok[2]!, null),
      /column t0 \(time\) cannot store 839:00:00\.000000: TIME holds/,
    ],
    [
      row("10:00:00.500000", "00:00:00.000000", ok[2]!, null),
      /column t0 \(time\) cannot store 10:00:00\.500000: it keeps 0 fractional digits/,
    ],
    [
      row(ok[0]!, ok[1]!, "2024-01-01T00:00:00.500000Z", null),
      /column dt0 \(datetime\) cannot store 2024-01-01T00:00:00\.500000Z: it keeps 0/,
    ],
    [
      row(ok[0]!, ok[1]!, ok[2]!, "2040-01-01T00:00:00.000000Z"),
      /column ts \(timestamp\) cannot store 2040-01-01T00:00:00\.000000Z: TIMESTAMP holds/,
    ],
  ])("refuses %j", async (next, message) => {
    await expect(connect("times").applyWrites(SHAPE, [{ key: ["2"], expected: null, next }])).rejects.toThrow(
      message,
    );
  });
});

describe.skipIf(!available)("MariaDB zero dates", () => {
  it("refuses to read one as a timestamp, one line saying what it is and what to do", async () => {
    await db.admin.query("CREATE TABLE zero (id INT PRIMARY KEY, d DATETIME(6), dd DATE)");
    await db.admin.query("INSERT INTO zero VALUES (1, '0000-00-00 00:00:00', '2024-00-15'), (2, NULL, NULL)");
    const shape: RecordShape = {
      key: KEY,
      columns: [
        { name: "d", type: "timestamp" },
        { name: "dd", type: "timestamp" },
      ],
    };
    await expect(connect("zero").fetchRecords(shape, [["1"]])).rejects.toThrow(
      /^zero: record fetch failed: column d at key \["\d+"\]: "0000-00-00 00:00:00\.000000" is not a timestamp \(a zero date, which MariaDB and MySQL allow and no calendar has: store NULL instead, or declare the column concord:text to compare it as text\)$/,
    );
    // Declared text, it is compared as the text the server prints.
    await db.admin.query("ALTER TABLE zero MODIFY d DATETIME(6) COMMENT 'concord:text'");
    const asText: RecordShape = { key: KEY, columns: [{ name: "d", type: "text" }] };
    expect(byId(await connect("zero").fetchRecords(asText, [["1"]]))).toEqual({
      "1": ["0000-00-00 00:00:00.000000"],
    });
  });
});

describe.skipIf(!available)("MariaDB TINYINT(1) and BIT(1) holding more than a boolean", () => {
  it("refuse to be read as a boolean, one line naming the column, the value and the COMMENT that reads them as integers", async () => {
    await db.admin.query("CREATE TABLE tiny (id INT PRIMARY KEY, ti TINYINT(1), b BIT(1))");
    await db.admin.query("INSERT INTO tiny VALUES (1, 2, 1), (2, 1, 0)");
    const asBoolean: RecordShape = {
      key: KEY,
      columns: [
        { name: "ti", type: "boolean" },
        { name: "b", type: "boolean" },
      ],
    };
    expect(byId(await connect("tiny").fetchRecords(asBoolean, [["2"]]))).toEqual({ "2": ["t", "f"] });
    await expect(connect("tiny").fetchRecords(asBoolean, [["1"]])).rejects.toThrow(
      /^tiny: record fetch failed: column ti at key \["\d+"\]: "2" is not a boolean \(TINYINT\(1\) is read as a boolean; COMMENT 'concord:integer' on the column reads it as an integer\)$/,
    );
    await db.admin.query("ALTER TABLE tiny MODIFY ti TINYINT(1) COMMENT 'concord:integer'");
    const asInteger: RecordShape = {
      key: KEY,
      columns: [
        { name: "ti", type: "integer" },
        { name: "b", type: "boolean" },
      ],
    };
    expect((await connect("tiny").describe()).columns.find((c) => c.name === "ti")?.type).toBe("integer");
    expect(byId(await connect("tiny").fetchRecords(asInteger, [["1"], ["2"]]))).toEqual({
      "1": ["2", "t"],
      "2": ["1", "f"],
    });
  });
});

// A character a latin1, ascii or ucs2 column has no place for got the server's raw "Incorrect string value"
// (in strict mode; without it, a silent "?"): now refused before writing, one line naming column, key and
// character set. TINYTEXT's 255 bytes are counted in the column's character set, not in UTF-8.
describe.skipIf(!available)("MariaDB character sets other than UTF-8", () => {
  const SHAPE: RecordShape = {
    key: KEY,
    columns: [
      { name: "l", type: "text" },
      { name: "a", type: "text" },
      { name: "u", type: "text" },
      { name: "t", type: "text" },
    ],
  };

  beforeAll(async () => {
    await db.admin.query(
      "CREATE TABLE charsets (id INT PRIMARY KEY, l VARCHAR(20) CHARACTER SET latin1, a VARCHAR(20) CHARACTER SET ascii, " +
        "u VARCHAR(20) CHARACTER SET ucs2, t TINYTEXT CHARACTER SET latin1)",
    );
  });

  it("writes every character the column holds and reads it back exactly", async () => {
    const c = connect("charsets");
    const next = ["é€\u0081ÿŠ", "abc~", "Āж\uffff", "é".repeat(255)];
    expect(await c.applyWrites(SHAPE, [{ key: ["1"], expected: null, next }])).toEqual(["applied"]);
    expect(byId(await c.fetchRecords(SHAPE, [["1"]]))).toEqual({ "1": next });
    expect(await nativeRows("SELECT HEX(l), HEX(a), HEX(u), LENGTH(t) FROM charsets WHERE id = 1")).toEqual([
      ["E98081FF8A", "6162637E", "01000436FFFF", 255],
    ]);
  });

  it.each([
    [
      ["ā", null, null, null],
      'column l (varchar(20)) cannot store "ā" at key ["2"]: its character set latin1 has no "ā" (U+0101)',
    ],
    [
      ["\u0080", null, null, null],
      'cannot store "\\u0080" at key ["2"]: its character set latin1 has no "\\u0080" (U+0080)',
    ],
    [
      [null, "é", null, null],
      'column a (varchar(20)) cannot store "é" at key ["2"]: its character set ascii has no "é" (U+00E9)',
    ],
    [
      [null, null, "a😀", null],
      'column u (varchar(20)) cannot store "a😀" at key ["2"]: its character set ucs2 has no "😀" (U+1F600)',
    ],
    [[null, null, null, "é".repeat(256)], "(256 characters): TINYTEXT holds at most 255 bytes"],
  ])("refuses %j", async (next, message) => {
    const c = connect("charsets");
    const err = await c.applyWrites(SHAPE, [{ key: ["2"], expected: null, next }]).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^charsets: column \w \(\w+(\(20\))?\) cannot store /);
    expect(err?.message).toContain(message);
    expect(err?.message).not.toContain("\n");
    expect(await nativeRows("SELECT COUNT(*) FROM charsets WHERE id = 2")).toEqual([[0]]);
  });
});

// Without strict mode (a server or role may run without it) MariaDB stores what a column cannot hold as
// something else and says so in a warning only: a character its character set lacks became "?". Concord's
// sessions run in strict mode, so such a write fails instead of damaging the row.
describe.skipIf(!available)("MariaDB writes in strict mode whatever the server's sql_mode", () => {
  it("fails a row the column would store changed, instead of storing '?'", async () => {
    await db.admin.query("CREATE TABLE greek (id INT PRIMARY KEY, g VARCHAR(20) CHARACTER SET greek)");
    const pool = db.pool(1);
    (
      pool as unknown as { pool: { on(e: string, f: (c: { query(sql: string): void }) => void): void } }
    ).pool.on("connection", (conn) => conn.query("SET SESSION sql_mode = ''"));
    const c = new MysqlConnector(pool, "greek", { label: "greek", where: db.url, ownsPool: true });
    open.push(c);
    const shape: RecordShape = { key: KEY, columns: [{ name: "g", type: "text" }] };
    expect(await c.applyWrites(shape, [{ key: ["1"], expected: null, next: ["αβ"] }])).toEqual(["applied"]);
    await expect(c.applyWrites(shape, [{ key: ["2"], expected: null, next: ["ж"] }])).rejects.toThrow(
      /^greek: conditional write failed: Incorrect string value/,
    );
    expect(await nativeRows("SELECT id, HEX(g) FROM greek ORDER BY id")).toEqual([[1, "E1E2"]]);
  });
});
