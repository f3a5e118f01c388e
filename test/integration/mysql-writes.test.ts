/**
 * MariaDB writes at the edges: a key the target's collation equates with a held one, a table of key columns
 * only, and rows longer than max_allowed_packet once written as SQL (read and compared exactly, too).
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { FULL_RANGE, type KeyFingerprint, type RecordShape } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

let db: MysqlTestDatabase;
const open: MysqlConnector[] = [];
function connect(table: string): MysqlConnector {
  const c = new MysqlConnector(db.pool(), table, { label: table, where: db.url, ownsPool: true });
  open.push(c);
  return c;
}

beforeAll(async () => {
  if (available) db = await createMysqlTestDatabase();
});
afterAll(async () => {
  for (const c of open) await c.close();
  await db?.drop();
});

async function streamAll(c: MysqlConnector, shape: RecordShape): Promise<KeyFingerprint[]> {
  const out: KeyFingerprint[] = [];
  for await (const batch of c.streamFingerprints(shape, FULL_RANGE, 100)) out.push(...batch);
  return out;
}

describe.skipIf(!available)("MariaDB: a key its collation equates with a held one", () => {
  const SHAPE: RecordShape = { key: [{ name: "k", type: "text" }], columns: [{ name: "v", type: "text" }] };

  beforeAll(async () => {
    await db.admin.query(
      "CREATE TABLE ci (k VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci PRIMARY KEY, v TEXT)",
    );
    await db.admin.query("INSERT INTO ci VALUES ('a', 'x')");
  });

  it("fails the batch with one line naming both keys and the collation, without retrying", async () => {
    const c = connect("ci");
    const writes = ["b", "c", "A", "d", "e", "f", "g"].map((k) => ({
      key: [k],
      expected: null,
      next: ["y"],
    }));
    const queries = c.stats.queries;
    await expect(c.applyWrites(SHAPE, writes)).rejects.toThrow(
      /^ci: key \["A"\] cannot be inserted: the table holds \["a"\], which equals it under the key's collation \(k utf8mb4_general_ci\); the replicas' keys differ only in what it ignores$/,
    );
    // One attempt (a transaction's few statements) and one search, not three attempts.
    expect(c.stats.queries - queries).toBeLessThan(8);
    // The six others go through alone (the executor sends a refused batch row by row).
    const rest = writes.filter((w) => w.key[0] !== "A");
    expect(await c.applyWrites(SHAPE, rest)).toEqual(rest.map(() => "applied"));
  });

  it("says at describe time which key column's collation equates distinct texts", async () => {
    const { columns } = await connect("ci").describe();
    expect(columns.map((c) => [c.name, c.lenientCollation])).toEqual([
      ["k", "utf8mb4_general_ci"],
      ["v", "utf8mb4_general_ci"],
    ]);
  });

  it("names trailing spaces that a PAD SPACE collation ignores", async () => {
    await expect(
      connect("ci").applyWrites(SHAPE, [{ key: ["a "], expected: null, next: ["z"] }]),
    ).rejects.toThrow(/key \["a "\] cannot be inserted: the table holds \["a"\]/);
  });
});

describe.skipIf(!available)("MariaDB: a table whose only columns are its key", () => {
  it("inserts and deletes", async () => {
    await db.admin.query("CREATE TABLE only_keys (a VARCHAR(10), b INT, PRIMARY KEY (a, b))");
    const shape: RecordShape = {
      key: [
        { name: "a", type: "text" },
        { name: "b", type: "integer" },
      ],
      columns: [],
    };
    const c = connect("only_keys");
    expect(
      await c.applyWrites(shape, [
        { key: ["x", "1"], expected: null, next: [] },
        { key: ["y", "2"], expected: null, next: [] },
      ]),
    ).toEqual(["applied", "applied"]);
    expect(await c.applyWrites(shape, [{ key: ["x", "1"], expected: null, next: [] }])).toEqual(["noop"]);
    const fp = fingerprintRow(["x", "1"], []);
    expect(await c.applyWrites(shape, [{ key: ["x", "1"], expected: fp, next: null }])).toEqual(["applied"]);
    expect((await streamAll(c, shape)).map((r) => r.key)).toEqual([["y", "2"]]);
  });
});

describe.skipIf(!available)("MariaDB: rows longer than max_allowed_packet as SQL", () => {
  const SHAPE: RecordShape = {
    key: [{ name: "id", type: "integer" }],
    columns: [
      { name: "b", type: "bytes" },
      { name: "t", type: "text" },
    ],
  };
  const MB = 1024 * 1024;
  /** A blob of `n` bytes that differs by `seed`, as hex. */
  const blob = (n: number, seed: number) => {
    const b = Buffer.alloc(n, seed);
    b.writeUInt32BE(seed, n - 4);
    return b.toString("hex");
  };
  const md5 = (hex: string) => createHash("md5").update(Buffer.from(hex, "hex")).digest("hex");

  beforeAll(async () => {
    await db.admin.query("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT)");
    await db.admin.query("CREATE TABLE big2 (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT)");
    // Two different 9 MB blobs: the server cannot HEX() either (18 MB > 16 MB).
    for (const [table, seed] of [
      ["big", 1],
      ["big2", 2],
    ] as const) {
      // A prepared statement sends the blob as bytes (9 MB); a query would send it as 18 MB of hex.
      await db.admin.execute(`INSERT INTO ${table} VALUES (1, ?, 'x'), (2, 'small', NULL)`, [
        Buffer.from(blob(9 * MB, seed), "hex"),
      ]);
    }
  });

  it("fingerprints a row too long for the server to hex exactly, in checksums, listings and fetches", async () => {
    const a = connect("big");
    const b = connect("big2");
    const [recA] = await a.fetchRecords(SHAPE, [["1"]]);
    const [recB] = await b.fetchRecords(SHAPE, [["1"]]);
    expect(recA!.fingerprint).not.toBe(recB!.fingerprint);
    expect(recA!.fingerprint).toBe(fingerprintRow(["1"], [blob(9 * MB, 1), "x"]));
    const listed = await streamAll(a, SHAPE);
    expect(listed.find((r) => r.key[0] === "1")?.fingerprint).toBe(recA!.fingerprint);
    const [sumA] = await a.checksumRanges(SHAPE, [FULL_RANGE]);
    const [sumB] = await b.checksumRanges(SHAPE, [FULL_RANGE]);
    expect(sumA!.count).toBe(2);
    expect(sumA!.xor).not.toBe(sumB!.xor);
    const [part] = await a.checksumRanges(SHAPE, [{ lo: ["1"], hi: ["2"] }]);
    expect(part).toEqual({ count: 1, xor: recA!.fingerprint });
    // The native row hash stands a long value in by its SHA1: both rows counted, the blobs told apart.
    expect(await a.nativeHash.signature(SHAPE)).not.toBeNull();
    const [nativeA] = await a.nativeHash.checksumRanges(SHAPE, [FULL_RANGE]);
    const [nativeB] = await b.nativeHash.checksumRanges(SHAPE, [FULL_RANGE]);
    expect(nativeA!.count).toBe(2);
    expect(nativeA!.xor).not.toBe(nativeB!.xor);
    const hashes: KeyFingerprint[] = [];
    for await (const batch of a.nativeHash.streamHashesIn(SHAPE, [FULL_RANGE], 10)) hashes.push(...batch);
    expect(hashes.map((h) => h.key[0])).toEqual(["1", "2"]);
  });

  it("writes a 9 MB blob (18 MB as SQL) and a 12 MB text in parts under the packet, and reads them back", async () => {
    const c = connect("big2");
    const [seen] = await c.fetchRecords(SHAPE, [["1"]]);
    const text = `${"é|\\'".repeat(3 * MB)}😀`;
    const next = [blob(9 * MB, 7), text];
    const out = await c.applyWrites(SHAPE, [
      { key: ["1"], expected: seen!.fingerprint, next },
      { key: ["3"], expected: null, next: [blob(9 * MB, 8), "t"] },
    ]);
    expect(out).toEqual(["applied", "applied"]);
    const [rows] = await db.admin.query({
      sql: "SELECT id, MD5(b), LENGTH(t), CHAR_LENGTH(t) FROM big2 WHERE id IN (1, 3) ORDER BY id",
      rowsAsArray: true,
    });
    expect(rows).toEqual([
      [1, md5(next[0]!), Buffer.byteLength(text), [...text].length],
      [3, md5(blob(9 * MB, 8)), 1, 1],
    ]);
    expect((await c.fetchRecords(SHAPE, [["1"]]))[0]!.fingerprint).toBe(fingerprintRow(["1"], next));
    // Applied once: the same write again is a noop.
    const again = await c.applyWrites(SHAPE, [{ key: ["1"], expected: seen!.fingerprint, next }]);
    expect(again).toEqual(["noop"]);
  });

  it("sizes a batch of long rows into several statements", async () => {
    const c = connect("big2");
    const writes = [10, 11, 12].map((id) => ({
      key: [String(id)],
      expected: null,
      next: [blob(5 * MB, id), null],
    }));
    expect(await c.applyWrites(SHAPE, writes)).toEqual(["applied", "applied", "applied"]);
    const [rows] = await db.admin.query({
      sql: "SELECT id, LENGTH(b) FROM big2 WHERE id >= 10 ORDER BY id",
      rowsAsArray: true,
    });
    expect(rows).toEqual([
      [10, 5 * MB],
      [11, 5 * MB],
      [12, 5 * MB],
    ]);
  });
});
