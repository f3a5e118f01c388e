/** SQLite writes: key-only tables, values the column would change, collated keys, and a file left as it was until written. */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { fingerprintRow } from "../../core/fingerprint.js";
import { FULL_RANGE, type RecordShape } from "../../core/model.js";
import { openSqliteConnector, SqliteConnector } from "./sqlite-connector.js";

function sqlite(sql: string, table: string): SqliteConnector {
  const db = new Database(":memory:");
  db.exec(sql);
  return new SqliteConnector(db, table, { label: `ds.${table}` });
}

const ID = [{ name: "id", type: "integer" }] as const;

describe("SQLite writes to a table whose only columns are its key", () => {
  it.each([
    ["integer", "CREATE TABLE k (id INTEGER PRIMARY KEY)", { key: ID, columns: [] }, ["1"], ["2"]],
    [
      "composite",
      "CREATE TABLE k (a TEXT, b INTEGER, PRIMARY KEY (a, b))",
      {
        key: [
          { name: "a", type: "text" },
          { name: "b", type: "integer" },
        ],
        columns: [],
      },
      ["x", "1"],
      ["y", "2"],
    ],
  ] as const)("inserts and deletes (%s key)", async (_, ddl, shape: RecordShape, one, two) => {
    const c = sqlite(ddl, "k");
    expect(
      await c.applyWrites(shape, [
        { key: one, expected: null, next: [] },
        { key: two, expected: null, next: [] },
      ]),
    ).toEqual(["applied", "applied"]);
    const fp = fingerprintRow(one, []);
    expect(await c.applyWrites(shape, [{ key: one, expected: null, next: [] }])).toEqual(["noop"]);
    expect(await c.applyWrites(shape, [{ key: one, expected: fp, next: null }])).toEqual(["applied"]);
    expect((await c.fetchRecords(shape, [one, two])).map((r) => r.key)).toEqual([two]);
  });
});

describe("SQLite blobs in a TEXT column", () => {
  const shape: RecordShape = { key: ID, columns: [{ name: "t", type: "text" }] };
  const c = () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE b (id INTEGER PRIMARY KEY, t TEXT)");
    const insert = db.prepare("INSERT INTO b VALUES (?, ?)");
    insert.run(1, Buffer.from("c3a9", "hex"));
    insert.run(2, Buffer.from("ff", "hex"));
    return new SqliteConnector(db, "b", { label: "ds.b" });
  };

  it("reads a UTF-8 blob as its text", async () => {
    const [rec] = await c().fetchRecords(shape, [["1"]]);
    expect(rec?.values).toEqual(["\u00e9"]);
  });

  // Decoded with U+FFFD, X'FF' and X'FE' (or the text "\ufffd") were one value: a false "equal".
  it("refuses one that is not UTF-8, in checksums and fetches alike", async () => {
    const message = /column t at key \["2"\]: bytes ff are not UTF-8 text/;
    await expect(c().checksumRanges(shape, [FULL_RANGE])).rejects.toThrow(message);
    await expect(c().fetchRecords(shape, [["2"]])).rejects.toThrow(message);
  });
});

describe("SQLite refuses values a column would store as another value", () => {
  const c = () =>
    sqlite("CREATE TABLE v (id INTEGER PRIMARY KEY, r REAL, d DECIMAL(20,2), j JSON, t TEXT, doc TEXT)", "v");
  const shape = (type: "float" | "decimal" | "json", column: string): RecordShape => ({
    key: ID,
    columns: [{ name: column, type }],
  });

  it.each([
    ["float", "r", "NaN", /^ds\.v: column r \(REAL\) cannot store NaN: SQLite stores NaN as NULL$/],
    [
      "decimal",
      "d",
      "0.30000000000000001",
      /^ds\.v: column d \(DECIMAL\(20,2\)\) cannot store 0\.30000000000000001: its declared type gives it NUMERIC affinity, which keeps it as the 64-bit float 0\.3; declare the column TEXT/,
    ],
    ["decimal", "d", "12345678901234567890", /cannot store 12345678901234567890: .*NUMERIC affinity/],
    ["json", "j", "1e+400", /^ds\.v: column j \(JSON\) cannot store 1e\+400: .*64-bit float Infinity/],
    ["json", "j", "9223372036854775808", /cannot store 9223372036854775808/],
  ] as const)("%s %s = %s", async (type, column, v, message) => {
    await expect(
      c().applyWrites(shape(type, column), [{ key: ["1"], expected: null, next: [v] }]),
    ).rejects.toThrow(message);
  });

  it.each([
    ["float", "r", "Infinity"],
    ["decimal", "d", "0.1"],
    ["decimal", "d", "9223372036854775807"],
    ["decimal", "d", "1000000000000000000000"],
    ["json", "j", '{"id":9007199254740993,"x":1e+400}'],
    ["json", "j", "9007199254740993"],
    ["json", "j", "1.5"],
    ["json", "doc", "1e+400"],
    ["decimal", "t", "0.30000000000000001"],
  ] as const)("writes %s %s = %s and reads it back", async (type, column, v) => {
    const conn = c();
    expect(await conn.applyWrites(shape(type, column), [{ key: ["1"], expected: null, next: [v] }])).toEqual([
      "applied",
    ]);
    expect((await conn.fetchRecords(shape(type, column), [["1"]]))[0]?.values).toEqual([v]);
  });
});

// A column whose declared type is no SQLite type name (STRING, NUMBER, ANY, VARIANT) has NUMERIC affinity, and
// Concord compares it as text: SQLite turned the text "1.50" written there into the number 1.5, and
// "12345678901234567890" into a double, and the repair was recorded superseded with the row damaged.
describe("SQLite refuses text its column's numeric affinity would turn into a number", () => {
  const c = () =>
    sqlite(
      "CREATE TABLE a (id INTEGER PRIMARY KEY, s STRING, n NUMBER, v ANY, i INTEGER, r REAL, tm TIME); CREATE TABLE ak (k STRING PRIMARY KEY, v TEXT)",
      "a",
    );
  const text = (column: string, type: "text" | "time" = "text"): RecordShape => ({
    key: ID,
    columns: [{ name: column, type }],
  });

  it.each([
    [
      "s",
      "1.50",
      /^ds\.a: column s \(STRING\) cannot store "1\.50": its declared type gives it NUMERIC affinity, which keeps it as the 64-bit float 1\.5; declare the column TEXT/,
    ],
    [
      "n",
      "007",
      /column n \(NUMBER\) cannot store "007": .*NUMERIC affinity, which keeps it as the integer 7;/,
    ],
    ["v", " 5", /column v \(ANY\) cannot store " 5": .*as the integer 5;/],
    ["s", "12345678901234567890", /cannot store "12345678901234567890": .*64-bit float 12345678901234567000/],
    ["s", "1e3", /as the integer 1000;/],
    ["s", "-0", /as the integer 0;/],
    [
      "i",
      "1.0",
      /column i \(INTEGER\) cannot store "1\.0": .*INTEGER affinity, which keeps it as the integer 1;/,
    ],
    [
      "r",
      "0.50",
      /column r \(REAL\) cannot store "0\.50": .*REAL affinity, which keeps it as the 64-bit float 0\.5;/,
    ],
  ] as const)("text %s = %o", async (column, v, message) => {
    const conn = c();
    await expect(conn.applyWrites(text(column), [{ key: ["1"], expected: null, next: [v] }])).rejects.toThrow(
      message,
    );
    expect(await conn.fetchRecords(text(column), [["1"]])).toEqual([]);
  });

  it.each([
    ["s", "5"],
    ["n", "-12"],
    ["s", "0x10"],
    ["s", "abc"],
    ["s", "inf"],
    ["s", ""],
    ["i", "7"],
    ["r", "0.5"],
    ["r", "5"],
  ] as const)("writes text %s = %o and reads it back", async (column, v) => {
    const conn = c();
    expect(await conn.applyWrites(text(column), [{ key: ["1"], expected: null, next: [v] }])).toEqual([
      "applied",
    ]);
    expect((await conn.fetchRecords(text(column), [["1"]]))[0]?.values).toEqual([v]);
  });

  it("writes a time into a TIME column (NUMERIC affinity) as it is", async () => {
    const conn = c();
    const shape = text("tm", "time");
    expect(
      await conn.applyWrites(shape, [{ key: ["1"], expected: null, next: ["10:00:00.000000"] }]),
    ).toEqual(["applied"]);
    expect((await conn.fetchRecords(shape, [["1"]]))[0]?.values).toEqual(["10:00:00.000000"]);
  });

  it("refuses a text key its numeric affinity would store as another key", async () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE ak (k STRING PRIMARY KEY, v TEXT)");
    const conn = new SqliteConnector(db, "ak", { label: "ds.ak" });
    const shape: RecordShape = { key: [{ name: "k", type: "text" }], columns: [{ name: "v", type: "text" }] };
    await expect(conn.applyWrites(shape, [{ key: ["007"], expected: null, next: ["x"] }])).rejects.toThrow(
      /^ds\.ak: key column k \(STRING\) cannot store "007": .*as the integer 7;/,
    );
    expect(db.prepare("SELECT count(*) AS n FROM ak").get()).toEqual({ n: 0 });
  });

  // A STRICT table's ANY column converts nothing (SQLite keeps "007" as that text), so such writes were
  // refused as if it had a non-strict ANY's NUMERIC affinity; a key there likewise.
  it("writes text into a STRICT table's ANY column as it is, keys too, and still refuses its INTEGER column's", async () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE st (k ANY PRIMARY KEY, v ANY, i INTEGER) STRICT");
    const conn = new SqliteConnector(db, "st", { label: "ds.st" });
    const shape: RecordShape = {
      key: [{ name: "k", type: "text" }],
      columns: [
        { name: "v", type: "text" },
        { name: "i", type: "text" },
      ],
    };
    const writes = [
      { key: ["007"], expected: null, next: ["1.50", null] },
      { key: ["x"], expected: null, next: [" 5", "7"] },
    ];
    expect(await conn.applyWrites(shape, writes)).toEqual(["applied", "applied"]);
    expect(db.prepare("SELECT k, typeof(k), v, typeof(v) FROM st ORDER BY k").raw().all()).toEqual([
      ["007", "text", "1.50", "text"],
      ["x", "text", " 5", "text"],
    ]);
    await expect(
      conn.applyWrites(shape, [{ key: ["y"], expected: null, next: ["a", "1.0"] }]),
    ).rejects.toThrow(/^ds\.st: column i \(INTEGER\) cannot store "1\.0": .*as the integer 1;/);
  });
});

describe("SQLite keys under NOCASE", () => {
  it("fails the insert of a key equal to a held one under the collation with one line naming both", async () => {
    const c = sqlite(
      "CREATE TABLE n (k TEXT COLLATE NOCASE PRIMARY KEY, v TEXT); INSERT INTO n VALUES ('a', 'x')",
      "n",
    );
    const shape: RecordShape = { key: [{ name: "k", type: "text" }], columns: [{ name: "v", type: "text" }] };
    expect((await c.describe()).columns.map((col) => col.lenientCollation)).toEqual(["NOCASE", undefined]);
    await expect(c.applyWrites(shape, [{ key: ["A"], expected: null, next: ["y"] }])).rejects.toThrow(
      /^ds\.n: key \["A"\] cannot be inserted: the table holds \["a"\], which equals it under the key's collation \(k NOCASE\)/,
    );
  });
});

describe("SQLite: a replica is changed only by a write", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function file(): string {
    dir = mkdtempSync(join(tmpdir(), "concord-sqlite-wal-"));
    const path = join(dir, "r.db");
    const db = new Database(path);
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO items VALUES (1, 'a')");
    db.close();
    return path;
  }
  const digest = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
  const mode = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.pragma("journal_mode", { simple: true });
    } finally {
      db.close();
    }
  };
  const shape: RecordShape = { key: ID, columns: [{ name: "v", type: "text" }] };

  it("keeps the file and its journal mode when opened for writing but only read, or failing at inspection", async () => {
    const path = file();
    const before = digest(path);
    const missing = openSqliteConnector(path, "nope", { label: "r" });
    await expect(missing.describe()).rejects.toThrow(/^r: cannot describe table/);
    await missing.close();
    const c = openSqliteConnector(path, "items", { label: "r" });
    await c.describe();
    expect((await c.fetchRecords(shape, [["1"]])).length).toBe(1);
    await c.checksumRanges(shape, [{ lo: null, hi: null }]);
    await c.applyWrites(shape, []);
    await c.close();
    expect(mode(path)).toBe("delete");
    expect(digest(path)).toBe(before);
    expect(readdirSync(dir)).toEqual(["r.db"]);
  });

  it("switches to WAL at the first write", async () => {
    const path = file();
    const c = openSqliteConnector(path, "items", { label: "r" });
    expect(await c.applyWrites(shape, [{ key: ["2"], expected: null, next: ["b"] }])).toEqual(["applied"]);
    await c.close();
    expect(mode(path)).toBe("wal");
  });
});

describe("SQLite TIME columns", () => {
  it("reads and writes time as the logical time type", async () => {
    const c = sqlite(
      "CREATE TABLE t (id INTEGER PRIMARY KEY, at TIME); INSERT INTO t VALUES (1, '10:00:00')",
      "t",
    );
    expect((await c.describe()).columns.map((col) => col.type)).toEqual(["integer", "time"]);
    const shape: RecordShape = { key: ID, columns: [{ name: "at", type: "time" }] };
    expect((await c.fetchRecords(shape, [["1"]]))[0]?.values).toEqual(["10:00:00.000000"]);
    expect(await c.applyWrites(shape, [{ key: ["2"], expected: null, next: ["-01:00:00.500000"] }])).toEqual([
      "applied",
    ]);
    expect((await c.fetchRecords(shape, [["2"]]))[0]?.values).toEqual(["-01:00:00.500000"]);
  });
});
