/** MariaDB/MySQL's native range checksum (SHA1 of length-prefixed native texts): equal where records are equal, different where any differ. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { FULL_RANGE, type KeyRange, type RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "note", type: "text" },
    { name: "amount", type: "decimal" },
    { name: "at", type: "timestamp" },
    { name: "flag", type: "boolean" },
    { name: "data", type: "bytes" },
  ],
};

/** Column declarations of the base table; a variant replaces some of them. */
const BASE: Readonly<Record<string, string>> = {
  name: "VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL",
  note: "TEXT CHARACTER SET utf8mb4",
  amount: "DECIMAL(12,2)",
  at: "DATETIME(6)",
  flag: "BOOLEAN",
  data: "VARBINARY(16)",
};

/** Tables by name: column declarations that differ from BASE. */
const TABLES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  a: {},
  b: {},
  swapped: {},
  changed: {},
  shifted: {},
  null_note: {},
  empty_note: {},
  null_text: {},
  n_text: {},
  escaped_null: {},
  scale: { amount: "DECIMAL(12,3)" },
  fsp3: { at: "DATETIME(3)" },
  mb3: { name: "VARCHAR(50) CHARACTER SET utf8mb3 NOT NULL" },
  bin: { name: "VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL" },
  latin1: { name: "VARCHAR(50) CHARACTER SET latin1 NOT NULL" },
  wide: { name: "VARCHAR(60) CHARACTER SET utf8mb4 NOT NULL" },
};

describe.skipIf(!available)("MysqlConnector native checksums", () => {
  let db: MysqlTestDatabase;
  const open: MysqlConnector[] = [];
  const connect = (table: string) => {
    const c = new MysqlConnector(db.pool(), table, {
      label: table,
      where: db.url,
      ownsPool: true,
      readonly: true,
    });
    open.push(c);
    return c;
  };
  const update = (table: string, set: string, id: number) =>
    db.admin.query(`UPDATE ${table} SET ${set} WHERE id = ${id}`);

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    for (const [table, changes] of Object.entries(TABLES)) {
      const cols = Object.entries({ ...BASE, ...changes }).map(([name, type]) => `${name} ${type}`);
      await db.admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, ${cols.join(", ")})`);
      // 500 rows: some names not ASCII, every 7th note NULL, notes holding the separator.
      await db.admin.query(
        `INSERT INTO ${table} WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 500) ` +
          "SELECT n, CONCAT('n', n, IF(n % 10 = 0, 'é', '')), IF(n % 7 = 0, NULL, CONCAT('x|', n)), n * 1.5, " +
          "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL n SECOND, n % 2, UNHEX(LPAD(HEX(n), 4, '0')) FROM g",
      );
    }
    await update("swapped", "name = 'n11'", 10);
    await update("swapped", "name = 'n10é'", 11);
    await update("changed", "name = 'N7'", 7);
    // 'n20' + 'x|20' and 'n20|x' + '20' join to the same text with a '|' between the columns.
    await update("shifted", "name = 'n20|x', note = '20'", 20);
    await update("null_note", "note = NULL", 30);
    await update("empty_note", "note = ''", 30);
    await update("null_text", "note = 'NULL'", 30);
    await update("n_text", "note = 'N'", 30);
    await update("escaped_null", "note = '\\\\N'", 30);
  });
  /** MariaDB keeps JSON as LONGTEXT (hashed by its text); MySQL 8's binary JSON has no native hash. */
  const isMariadb = async () => {
    const [rows] = await db.admin.query("SELECT VERSION()");
    return /mariadb/i.test(String(Object.values((rows as Record<string, unknown>[])[0]!)[0]));
  };
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await db?.drop();
  });

  it("gives equal signatures for equal column types, different ones otherwise", async () => {
    const sig = await connect("a").nativeHash.signature(SHAPE);
    expect(sig).not.toBeNull();
    expect(await connect("b").nativeHash.signature(SHAPE)).toBe(sig);
    // UTF-8 in either character set, and any collation: the same bytes, so the same signature.
    expect(await connect("mb3").nativeHash.signature(SHAPE)).toBe(sig);
    expect(await connect("bin").nativeHash.signature(SHAPE)).toBe(sig);
    for (const table of ["scale", "fsp3", "wide"])
      expect(await connect(table).nativeHash.signature(SHAPE), table).not.toBe(sig);
    expect(await connect("latin1").nativeHash.signature(SHAPE)).toBeNull();
    // TINYINT(1) read as an integer, or DECIMAL read as text, is not the column's own reading: no native hash.
    const a = connect("a");
    const asInteger: RecordShape = { key: SHAPE.key, columns: [{ name: "flag", type: "integer" }] };
    expect(await a.nativeHash.signature(asInteger)).toBeNull();
    const asText: RecordShape = { key: SHAPE.key, columns: [{ name: "amount", type: "text" }] };
    expect(await a.nativeHash.signature(asText)).toBeNull();
    await db.admin.query("CREATE TABLE others (id BIGINT PRIMARY KEY, d DOUBLE, j JSON, t TIME, b BIT(8))");
    const others = connect("others");
    for (const [name, type] of [
      ["d", "float"],
      ...((await isMariadb()) ? [] : ([["j", "json"]] as const)),
      ["t", "text"],
      ["b", "integer"],
    ] as const) {
      const shape: RecordShape = { key: SHAPE.key, columns: [{ name, type }] };
      expect(await others.nativeHash.signature(shape), name).toBeNull();
      await expect(others.nativeHash.checksumRanges(shape, [FULL_RANGE])).rejects.toThrow(
        /no native row hash/,
      );
    }
  });

  it("hashes MariaDB's JSON by its text: equal text equal, other spellings and other documents apart", async () => {
    if (!(await isMariadb())) return;
    const json: RecordShape = { key: SHAPE.key, columns: [{ name: "doc", type: "json" }] };
    const docs = ['{"a": 1, "b": [1.0, "x"]}', '{"n": 9007199254740993}', "null", '{"s": "é"}'];
    for (const [table, changed] of [
      ["ja", docs],
      ["jb", docs],
      ["jc", [docs[0], '{"n": 9007199254740992}', docs[2], docs[3]]],
      ["jd", ['{"b":[1,"x"],"a":1}', docs[1], docs[2], docs[3]]],
    ] as const) {
      await db.admin.query(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, doc JSON)`);
      await db.admin.query(
        `INSERT INTO ${table} VALUES ${changed.map((_, i) => `(${i + 1}, ?)`).join(", ")}`,
        [...changed],
      );
    }
    const sig = await connect("ja").nativeHash.signature(json);
    expect(sig).not.toBeNull();
    expect(await connect("jb").nativeHash.signature(json)).toBe(sig);
    const sums = async (t: string) => (await connect(t).nativeHash.checksumRanges(json, [FULL_RANGE]))[0]!;
    const a = await sums("ja");
    expect(a.count).toBe(4);
    expect(await sums("jb")).toEqual(a);
    // 2^53 + 1 is not 2^53: the text differs, so does the hash.
    expect((await sums("jc")).xor).not.toBe(a.xor);
    // The same document spelled otherwise hashes apart (listed, then fetched and found equal by detection's
    // caller), while its canonical fingerprint is the same.
    expect((await sums("jd")).xor).not.toBe(a.xor);
    const canonical = async (t: string) => (await connect(t).checksumRanges(json, [FULL_RANGE]))[0]!;
    expect(await canonical("jd")).toEqual(await canonical("ja"));
    expect((await canonical("jc")).xor).not.toBe((await canonical("ja")).xor);
  });

  it("is equal for equal tables and differs for a changed value or values swapped between rows", async () => {
    const ranges: KeyRange[] = [
      { lo: null, hi: ["100"] },
      { lo: ["100"], hi: ["300"] },
      { lo: ["300"], hi: null },
    ];
    const sa = await connect("a").nativeHash.checksumRanges(SHAPE, ranges);
    expect(sa.map((s) => s.count)).toEqual([99, 200, 201]);
    for (const table of ["b", "mb3", "bin"])
      expect(await connect(table).nativeHash.checksumRanges(SHAPE, ranges), table).toEqual(sa);
    const sw = await connect("swapped").nativeHash.checksumRanges(SHAPE, ranges);
    expect(sw[0]).not.toEqual(sa[0]);
    expect(sw[0]!.count).toBe(99);
    expect(sw.slice(1)).toEqual(sa.slice(1));
    const whole = (await connect("a").nativeHash.checksumRanges(SHAPE, [FULL_RANGE]))[0]!;
    expect(whole.count).toBe(500);
    // Not the canonical checksum: another hash.
    expect((await connect("a").checksumRanges(SHAPE, [FULL_RANGE]))[0]!.xor).not.toBe(whole.xor);
    for (const table of ["changed", "shifted"]) {
      const other = (await connect(table).nativeHash.checksumRanges(SHAPE, [FULL_RANGE]))[0]!;
      expect(other.count, table).toBe(500);
      expect(other.xor, table).not.toBe(whole.xor);
    }
  });

  it("tells NULL, '', 'NULL', 'N' and '\\N' apart", async () => {
    const tables = ["a", "null_note", "empty_note", "null_text", "n_text", "escaped_null"];
    const sums = await Promise.all(
      tables.map(
        async (t) => (await connect(t).nativeHash.checksumRanges(SHAPE, [{ lo: ["30"], hi: ["31"] }]))[0]!,
      ),
    );
    for (const s of sums) expect(s.count).toBe(1);
    expect(new Set(sums.map((s) => s.xor)).size).toBe(tables.length);
    // The canonical fingerprints tell them apart too: the native hash separates what they separate.
    const canonical = await Promise.all(
      tables.map(async (t) => (await connect(t).checksumRanges(SHAPE, [{ lo: ["30"], hi: ["31"] }]))[0]!.xor),
    );
    expect(new Set(canonical).size).toBe(tables.length);
  });

  it("lists native hashes by range: the keys streamFingerprintsIn lists, equal hashes exactly where rows are equal", async () => {
    // Bounded, open and empty ranges, ascending and disjoint, as detection asks.
    const ranges: KeyRange[] = [
      { lo: null, hi: ["3"] },
      { lo: ["5"], hi: ["9"] },
      { lo: ["9"], hi: ["9"] },
      { lo: ["18"], hi: ["22"] },
      { lo: ["40"], hi: ["44"] },
      { lo: ["498"], hi: null },
    ];
    const list = async (c: MysqlConnector, native: boolean, batch = 3, rs = ranges) => {
      const out: { key: string; fp: string }[] = [];
      const it = native
        ? c.nativeHash.streamHashesIn(SHAPE, rs, batch)
        : c.streamFingerprintsIn(SHAPE, rs, batch);
      for await (const page of it) {
        expect(page.length).toBeLessThanOrEqual(batch);
        for (const kf of page) out.push({ key: kf.key[0]!, fp: kf.fingerprint });
      }
      return out;
    };
    const a = connect("a");
    const na = await list(a, true);
    expect(na.map((p) => p.key)).toEqual([
      "1",
      "2",
      "5",
      "6",
      "7",
      "8",
      "18",
      "19",
      "20",
      "21",
      "40",
      "41",
      "42",
      "43",
      "498",
      "499",
      "500",
    ]);
    for (const p of na) expect(p.fp).toMatch(/^[0-9a-f]{16}$/);
    expect(na.map((p) => p.key)).toEqual((await list(a, false)).map((p) => p.key));
    expect(await list(connect("b"), true, 100)).toEqual(na);
    expect(await list(connect("mb3"), true, 100)).toEqual(na);
    // Out of order: streamed range by range, same pairs.
    expect(await list(a, true, 100, [...ranges].reverse())).toEqual([
      ...na.filter((p) => Number(p.key) >= 498),
      ...na.filter((p) => Number(p.key) >= 40 && Number(p.key) < 44),
      ...na.filter((p) => Number(p.key) >= 18 && Number(p.key) < 22),
      ...na.filter((p) => Number(p.key) >= 5 && Number(p.key) < 9),
      ...na.filter((p) => Number(p.key) < 3),
    ]);
    for (const [table, key] of [
      ["changed", "7"],
      ["shifted", "20"],
    ]) {
      const other = await list(connect(table!), true);
      expect(
        other.filter((p, i) => p.fp !== na[i]!.fp).map((p) => p.key),
        table,
      ).toEqual([key]);
    }
    // The whole table, in one statement, is the same pairs as the ranges joined.
    const all = await list(a, true, 1000, [FULL_RANGE]);
    expect(all).toHaveLength(500);
    expect(all.filter((p) => na.some((q) => q.key === p.key))).toEqual(na);
  });

  it("checksums and lists binary-compared text keys natively as well as NO PAD ones", async () => {
    const CODES: RecordShape = {
      key: [{ name: "code", type: "text" }],
      columns: [{ name: "v", type: "integer" }],
    };
    const nopad = db.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
    const found: Record<string, string[]> = {};
    for (const collation of [nopad, "utf8mb4_bin"]) {
      for (const t of ["ca", "cb"]) {
        await db.admin.query(
          `CREATE TABLE ${t} (code VARCHAR(16) CHARACTER SET utf8mb4 COLLATE ${collation} PRIMARY KEY, v INT)`,
        );
        const rows = ["a", "A", "á", "b", "B", "é", "😀", "_"].flatMap((l) =>
          Array.from({ length: 20 }, (_, n) => `('${l}${n}', ${n})`),
        );
        await db.admin.query(`INSERT INTO ${t} VALUES ${rows.join(", ")}`);
      }
      await db.admin.query("UPDATE cb SET v = 99 WHERE code IN ('A3', 'á7', '😀19')");
      const [ca, cb] = [connect("ca"), connect("cb")];
      const sig = await ca.nativeHash.signature(CODES);
      expect(sig).not.toBeNull();
      expect(await cb.nativeHash.signature(CODES)).toBe(sig);
      const ranges: KeyRange[] = [
        { lo: null, hi: ["B"] },
        { lo: ["B"], hi: ["b"] },
        { lo: ["b"], hi: ["é"] },
        { lo: ["é"], hi: null },
      ];
      const before = ca.stats.queries;
      const sa = await ca.nativeHash.checksumRanges(CODES, ranges);
      // One statement: an index join for NO PAD keys, one scan bucketed by IF()s for binary-compared ones.
      expect(ca.stats.queries - before).toBe(1);
      const sb = await cb.nativeHash.checksumRanges(CODES, ranges);
      expect(sa.map((s) => s.count)).toEqual([20, 60, 40, 40]);
      expect(sa.map((s, i) => s.xor === sb[i]!.xor)).toEqual([false, true, false, false]);
      const keys: string[] = [];
      for await (const batch of detectDivergences(
        CODES,
        [
          { name: "a", connector: ca },
          { name: "b", connector: cb },
        ],
        { segmentRows: 16, leafRows: 4, inStore: false },
      ))
        for (const o of batch) keys.push(o.key[0]!);
      found[collation] = keys;
      await db.admin.query("DROP TABLE ca, cb");
    }
    expect(found[nopad]).toEqual(["A3", "á7", "😀19"]);
    expect(found.utf8mb4_bin).toEqual(["A3", "á7", "😀19"]);
  });

  it("detection between MariaDB/MySQL tables finds exactly the differing keys, sparse or dense", async () => {
    const [a, swapped] = [connect("a"), connect("swapped")];
    const found: string[] = [];
    for await (const batch of detectDivergences(
      SHAPE,
      [
        { name: "a", connector: a },
        { name: "b", connector: swapped },
      ],
      // The checksum path (two tables of one server are otherwise compared inside MariaDB: pairDiff).
      { segmentRows: 16, leafRows: 4, inStore: false },
    )) {
      for (const o of batch) {
        found.push(o.key[0]!);
        // Native hashes tell the replicas apart within an observation.
        expect(o.replicas.a!.fingerprint).not.toBe(o.replicas.b!.fingerprint);
      }
    }
    expect(found).toEqual(["10", "11"]);

    // Every third row changed, one deleted, one added: every round-1 range differs, so ranges are listed
    // whole instead of split, and the answer must be the same.
    await db.admin.query("CREATE TABLE dense LIKE a");
    await db.admin.query("INSERT INTO dense SELECT * FROM a");
    await db.admin.query("UPDATE dense SET amount = amount + 1 WHERE id % 3 = 0");
    await db.admin.query("DELETE FROM dense WHERE id = 250");
    await db.admin.query("INSERT INTO dense VALUES (1000, 'x', NULL, 1, NOW(), 0, NULL)");
    const dense = connect("dense");
    const expected = [...Array.from({ length: 166 }, (_, i) => String(3 * (i + 1))), "250", "1000"].sort(
      (x, y) => Number(x) - Number(y),
    );
    for (const options of [
      { segmentRows: 64, leafRows: 4, inStore: false },
      { segmentRows: 16, leafRows: 4, fanout: 2, inStore: false },
      { inStore: false },
    ]) {
      const keys: string[] = [];
      const before = { a: a.stats.rowsScanned, d: dense.stats.rowsScanned };
      for await (const batch of detectDivergences(
        SHAPE,
        [
          { name: "a", connector: a },
          { name: "b", connector: dense },
        ],
        options,
      ))
        for (const o of batch) keys.push(o.key[0]!);
      expect(keys, JSON.stringify(options)).toEqual(expected);
      // One checksum pass over each table, no second round over the dense ranges.
      expect(a.stats.rowsScanned - before.a).toBe(500);
      expect(dense.stats.rowsScanned - before.d).toBe(500);
    }
  });
});
