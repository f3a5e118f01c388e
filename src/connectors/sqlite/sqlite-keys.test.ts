/** SQLite keys: unique (refused otherwise, a view checked for a duplicate), and in binary order whatever their collation. */
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { FULL_RANGE, type RecordShape } from "../../core/model.js";
import { detectDivergences } from "../../detect/detect-divergences.js";
import { ConnectorError } from "../connector.js";
import { SqliteConnector } from "./sqlite-connector.js";

const INT: RecordShape = { key: [{ name: "id", type: "integer" }], columns: [{ name: "v", type: "text" }] };
const TEXT: RecordShape = { key: [{ name: "k", type: "text" }], columns: [{ name: "v", type: "text" }] };

/** A connector over `table` of a fresh in-memory database set up by `sql`. */
function sqlite(sql: string, table: string): SqliteConnector {
  const db = new Database(":memory:");
  db.exec(sql);
  return new SqliteConnector(db, table, { label: `ds.${table}` });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  return (err as Error).message;
}

async function divergent(shape: RecordShape, a: SqliteConnector, b: SqliteConnector): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of detectDivergences(shape, [
    { name: "a", connector: a },
    { name: "b", connector: b },
  ]))
    for (const o of batch) keys.push(o.key[0]!);
  return keys;
}

describe("SqliteConnector: keys must be unique", () => {
  it("refuses a key no unique index keeps unique, where duplicate rows would cancel in the checksum", async () => {
    const a = sqlite(
      "CREATE TABLE items (id INTEGER NOT NULL, v TEXT); INSERT INTO items VALUES (1, 'x'), (1, 'x');",
      "items",
    );
    const b = sqlite(
      "CREATE TABLE items (id INTEGER NOT NULL, v TEXT); INSERT INTO items VALUES (2, 'y'), (2, 'y');",
      "items",
    );
    expect(await refusal(divergent(INT, a, b))).toBe(
      'ds.items: table "items" does not keep key (id) unique: no primary key or unique index is made of key columns; add one, or name key columns that have one',
    );
  });

  it("takes SQLite's nullable TEXT PRIMARY KEY with one NULL key, and names a NULL key several rows hold", async () => {
    const setup =
      "CREATE TABLE codes (k TEXT PRIMARY KEY, v TEXT); INSERT INTO codes VALUES ('a', 'x'), ('b', 'y');";
    expect(await sqlite(setup, "codes").count(TEXT, FULL_RANGE)).toBe(2);
    expect(
      await sqlite(`${setup} INSERT INTO codes VALUES (NULL, 'p');`, "codes").count(TEXT, FULL_RANGE),
    ).toBe(3);
    const held = sqlite(`${setup} INSERT INTO codes VALUES (NULL, 'p'), (NULL, 'q');`, "codes");
    expect(await refusal(held.count(TEXT, FULL_RANGE))).toBe(
      `ds.codes: key [null] names several rows of table "codes" (its unique index sqlite_autoindex_codes_1 lets rows whose key holds NULL repeat); a key must name one row: delete or merge the duplicates, or make the index NULLS NOT DISTINCT (PostgreSQL 15+)`,
    );
  });

  it("searches a view's rows for a duplicate key, names it, and takes a view without one", async () => {
    const base =
      "CREATE TABLE base (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO base VALUES (1, 'x'), (2, 'y');";
    expect(await sqlite(`${base} CREATE VIEW v AS SELECT id, v FROM base;`, "v").count(INT, FULL_RANGE)).toBe(
      2,
    );
    const doubled = sqlite(`${base} CREATE VIEW v AS SELECT id, v FROM base UNION ALL SELECT 2, 'z';`, "v");
    expect(await refusal(doubled.count(INT, FULL_RANGE))).toBe(
      `duplicate key ["2"] in replica ds.v: "v" is not kept unique by any index (a view?), and key columns must be unique`,
    );
  });
});

describe("SqliteConnector: text keys in another collation", () => {
  const keys = ["a", "B", "c", "D", "é", "É"];
  const rows = (skip: string) =>
    keys
      .filter((k) => k !== skip)
      .map((k) => `('${k}', 'v')`)
      .join(", ");

  it("orders and compares a COLLATE NOCASE key in binary order, and says its index cannot serve that", async () => {
    const nocase = sqlite(
      `CREATE TABLE t (k TEXT PRIMARY KEY COLLATE NOCASE, v TEXT); INSERT INTO t VALUES ${rows("c")};`,
      "t",
    );
    const binary = sqlite(
      `CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ${rows("D")};`,
      "t",
    );
    expect(await divergent(TEXT, nocase, binary)).toEqual(["D", "c"]);
    const streamed: string[] = [];
    for await (const batch of nocase.streamFingerprints(TEXT, FULL_RANGE, 2))
      streamed.push(...batch.map((r) => r.key[0]!));
    expect(streamed).toEqual(["B", "D", "a", "É", "é"]);
    expect(await nocase.count(TEXT, { lo: ["B"], hi: ["a"] })).toBe(2);
    expect(await nocase.fetchRecords(TEXT, [["b"], ["B"]])).toEqual([
      expect.objectContaining({ key: ["B"] }),
    ]);
    expect(await nocase.keyBounds(TEXT, FULL_RANGE)).toBeNull();
    expect(await nocase.pushdownLimits(TEXT)).toEqual([
      "ds.t: key column k has collation NOCASE: keys are compared and ordered as BINARY (code points), which its index cannot serve; declare the column (or an index on it) COLLATE BINARY",
    ]);
    expect(await binary.pushdownLimits(TEXT)).toEqual([]);
  });

  it("writes a COLLATE NOCASE key by its exact text, and reports the store refusing a key it holds in another case", async () => {
    const c = sqlite(
      "CREATE TABLE t (k TEXT PRIMARY KEY COLLATE NOCASE, v TEXT); INSERT INTO t VALUES ('a', 'x');",
      "t",
    );
    const [rec] = await c.fetchRecords(TEXT, [["a"]]);
    // 'A' is absent (exactly), 'a' is present: the update goes to 'a' only.
    expect(await c.applyWrites(TEXT, [{ key: ["A"], expected: "0000000000000000", next: ["y"] }])).toEqual([
      "superseded",
    ]);
    expect(await c.applyWrites(TEXT, [{ key: ["a"], expected: rec!.fingerprint, next: ["y"] }])).toEqual([
      "applied",
    ]);
    expect((await c.fetchRecords(TEXT, [["a"], ["A"]])).map((r) => [r.key, r.values])).toEqual([
      [["a"], ["y"]],
    ]);
    // The table cannot hold 'A' beside 'a' (they are one key to it): an error, never a silent overwrite.
    expect(await refusal(c.applyWrites(TEXT, [{ key: ["A"], expected: null, next: ["z"] }]))).toMatch(
      /^ds\.t: key \["A"\] cannot be inserted: the table holds \["a"\], which equals it under the key's collation \(k NOCASE\); the replicas' keys differ only in what it ignores$/,
    );
  });
});

describe("SqliteConnector: a key column holding numbers where Concord compares text", () => {
  const advice = (equal = false) =>
    `give its keys one type: declare the column INTEGER if every key is an integer, or store them all as text (UPDATE "t" SET "k" = CAST("k" AS TEXT) WHERE typeof("k") IN ('integer', 'real'))${equal ? " once the duplicate is deleted or merged" : ""}`;
  const table = (type: string) => (rows: string) =>
    sqlite(`CREATE TABLE t (k ${type} PRIMARY KEY, v TEXT); INSERT INTO t VALUES ${rows};`, "t");
  const untyped = table("");
  // STRING has NUMERIC affinity: text that reads as a number is stored as that number.
  const numeric = table("STRING");
  // The key guard on every read stops the first read that meets one: the range checksum.
  const cannotFind = (n: string) =>
    `ds.t: range checksum failed: key column k of table "t" holds ${n} (integer), but has no type affinity, so Concord, which compares its keys as text, cannot look it up by its text '${n}'; ${advice()}`;

  it("refuses a number in an untyped key column, which a lookup by its text would miss", async () => {
    // Without the refusal the differing key 2 was looked up as '2', found on neither side: "no differences".
    expect(await refusal(divergent(TEXT, untyped("(1, 'x'), (2, 'y')"), untyped("(1, 'x'), (2, 'z')")))).toBe(
      cannotFind("1"),
    );
    expect(await refusal(divergent(TEXT, untyped("(1, 'v'), ('1', 'w')"), untyped("('2', 'v')")))).toBe(
      cannotFind("1"),
    );
    // Held alike by both replicas too: a number there is a key no repair could find, whatever the others hold.
    expect(await refusal(divergent(TEXT, untyped("(1, 'x')"), untyped("(1, 'x')")))).toBe(cannotFind("1"));
    // Text keys alone in an untyped column are compared as before.
    expect(await divergent(TEXT, untyped("('a', 'v'), ('b', 'v')"), untyped("('a', 'v')"))).toEqual(["b"]);
  });

  it("names the table, the column and both keys with their storage classes when SQLite's order is not Concord's", async () => {
    expect(await refusal(divergent(TEXT, numeric("('9', 'v'), ('10', 'v')"), numeric("('9', 'v')")))).toBe(
      `ds.t: key column k of table "t" holds 9 (integer) and 10 (integer), which SQLite orders by storage class and value (integers and reals before any text), while Concord compares the column's keys as their text, by code point; ${advice()}`,
    );
    // Integers of one digit before text: the same order both ways, and found by their text.
    expect(
      await divergent(TEXT, numeric("('1', 'v'), ('2', 'v'), ('a', 'v')"), numeric("('1', 'v'), ('a', 'v')")),
    ).toEqual(["2"]);
  });
});
