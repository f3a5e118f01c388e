/** PostgreSQL's native range checksum (hash_record_extended): equal where records are equal, different where any differ. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  openPostgresConnector,
  type PostgresConnector,
} from "../../src/connectors/postgres/postgres-connector.js";
import { FULL_RANGE, type RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createPostgresTestSchema, type PostgresTestSchema } from "../support/postgres-test-schema.js";
import { POSTGRES, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(POSTGRES);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "name", type: "text" },
    { name: "amount", type: "decimal" },
    { name: "at", type: "timestamp" },
    { name: "tm", type: "time" },
  ],
};

describe.skipIf(!available)("PostgresConnector native checksums", () => {
  let db: PostgresTestSchema;
  const open: PostgresConnector[] = [];
  const connect = (table: string) => {
    const c = openPostgresConnector(POSTGRES.url, db.table(table), { readonly: true });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await createPostgresTestSchema();
    for (const t of ["a", "b", "swapped", "changed", "scale", "typed"]) {
      const amount = t === "scale" ? "numeric(12,3)" : "numeric(12,2)";
      const name = t === "typed" ? "varchar(50)" : "text";
      await db.admin.query(
        `CREATE TABLE ${db.table(t)} (id bigint PRIMARY KEY, name ${name}, amount ${amount}, at timestamptz, tm time)`,
      );
      await db.admin.query(
        `INSERT INTO ${db.table(t)} SELECT g, 'n' || g, g * 1.5, timestamptz '2024-01-01Z' + g * interval '1 s', ` +
          `time '00:00' + g * interval '1.000001 s' FROM generate_series(1, 500) g`,
      );
    }
    await db.admin.query(
      `UPDATE ${db.table("swapped")} SET name = CASE id WHEN 10 THEN 'n11' ELSE 'n10' END WHERE id IN (10, 11)`,
    );
    await db.admin.query(`UPDATE ${db.table("changed")} SET name = 'N7' WHERE id = 7`);
    // A time one microsecond later is another value to the native hash too.
    await db.admin.query(
      `UPDATE ${db.table("changed")} SET tm = tm + interval '1 microsecond' WHERE id = 42`,
    );
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await db?.drop();
  });

  it("gives equal signatures for equal column types, different ones otherwise", async () => {
    const [a, b, scale, typed] = ["a", "b", "scale", "typed"].map(connect);
    const sig = await a!.nativeHash.signature(SHAPE);
    expect(sig).not.toBeNull();
    expect(await b!.nativeHash.signature(SHAPE)).toBe(sig);
    expect(await scale!.nativeHash.signature(SHAPE)).not.toBe(sig);
    expect(await typed!.nativeHash.signature(SHAPE)).not.toBe(sig);
    // A numeric read as text would hash 1.5 and 1.50 alike: no native hash then.
    const asText: RecordShape = { key: SHAPE.key, columns: [{ name: "amount", type: "text" }] };
    expect(await a!.nativeHash.signature(asText)).toBeNull();
  });

  it("hashes jsonb by its text: equal documents equal, other documents (structure included) apart", async () => {
    const json: RecordShape = { key: SHAPE.key, columns: [{ name: "doc", type: "json" }] };
    const docs = ['{"b": [1, "x"], "a": 1}', '{"n": 9007199254740993}', "[1, [2]]", '{"s": "é"}'];
    for (const [table, rows] of [
      ["ja", docs],
      ["jb", ['{"a":1,"b":[1,"x"]}', docs[1], docs[2], docs[3]]],
      ["jc", [docs[0], '{"n": 9007199254740992}', docs[2], docs[3]]],
      // jsonb's own hash ignores structure: [[1], 2] would hash as [1, [2]].
      ["jd", [docs[0], docs[1], "[[1], 2]", docs[3]]],
      ["je", ['{"b": [1.0, "x"], "a": 1}', docs[1], docs[2], docs[3]]],
    ] as const) {
      await db.admin.query(`CREATE TABLE ${db.table(table)} (id bigint PRIMARY KEY, doc jsonb)`);
      await db.admin.query(
        `INSERT INTO ${db.table(table)} SELECT i, (d::jsonb) FROM unnest($1::text[]) WITH ORDINALITY u(d, i)`,
        [rows],
      );
    }
    const sig = await connect("ja").nativeHash.signature(json);
    expect(sig).not.toBeNull();
    expect(await connect("jb").nativeHash.signature(json)).toBe(sig);
    const sums = async (t: string) => (await connect(t).nativeHash.checksumRanges(json, [FULL_RANGE]))[0]!;
    const a = await sums("ja");
    expect(a.count).toBe(4);
    // Key order and spacing are not kept by jsonb: the same text, the same hash.
    expect(await sums("jb")).toEqual(a);
    expect((await sums("jc")).xor).not.toBe(a.xor);
    expect((await sums("jd")).xor).not.toBe(a.xor);
    // 1.0 and 1 are the same canonical number but jsonb keeps the scale: apart natively (listed, fetched
    // and found equal by detection's caller), equal canonically.
    expect((await sums("je")).xor).not.toBe(a.xor);
    const canonical = async (t: string) => (await connect(t).checksumRanges(json, [FULL_RANGE]))[0]!;
    expect(await canonical("je")).toEqual(await canonical("ja"));
  });

  it("is equal for equal tables and differs for a changed value or values swapped between rows", async () => {
    const [a, b, swapped, changed] = ["a", "b", "swapped", "changed"].map(connect);
    const ranges = [
      { lo: null, hi: ["100"] },
      { lo: ["100"], hi: ["300"] },
      { lo: ["300"], hi: null },
    ];
    const sa = await a!.nativeHash.checksumRanges(SHAPE, ranges);
    expect(await b!.nativeHash.checksumRanges(SHAPE, ranges)).toEqual(sa);
    expect(sa.map((s) => s.count)).toEqual([99, 200, 201]);
    const sw = await swapped!.nativeHash.checksumRanges(SHAPE, ranges);
    expect(sw[0]).not.toEqual(sa[0]);
    expect(sw.slice(1)).toEqual(sa.slice(1));
    const ch = await changed!.nativeHash.checksumRanges(SHAPE, [FULL_RANGE]);
    expect(ch[0]!.count).toBe(500);
    expect(ch[0]!.xor).not.toBe((await a!.nativeHash.checksumRanges(SHAPE, [FULL_RANGE]))[0]!.xor);
  });

  it("lists native hashes by range: the keys streamFingerprintsIn lists, equal hashes exactly where rows are equal", async () => {
    const [a, b, changed] = ["a", "b", "changed"].map(connect);
    // Bounded, open and empty ranges, ascending and disjoint, as detection asks.
    const ranges = [
      { lo: null, hi: ["3"] },
      { lo: ["5"], hi: ["9"] },
      { lo: ["9"], hi: ["9"] },
      { lo: ["40"], hi: ["44"] },
      { lo: ["498"], hi: null },
    ];
    const list = async (c: PostgresConnector, native: boolean, batch = 3) => {
      const out: { key: string; fp: string }[] = [];
      const it = native
        ? c.nativeHash.streamHashesIn(SHAPE, ranges, batch)
        : c.streamFingerprintsIn(SHAPE, ranges, batch);
      for await (const page of it) {
        expect(page.length).toBeLessThanOrEqual(batch);
        for (const kf of page) out.push({ key: kf.key[0]!, fp: kf.fingerprint });
      }
      return out;
    };
    const na = await list(a!, true);
    expect(na.map((p) => p.key)).toEqual([
      "1",
      "2",
      "5",
      "6",
      "7",
      "8",
      "40",
      "41",
      "42",
      "43",
      "498",
      "499",
      "500",
    ]);
    expect(na.map((p) => p.key)).toEqual((await list(a!, false)).map((p) => p.key));
    expect(await list(b!, true, 100)).toEqual(na);
    const nc = await list(changed!, true);
    expect(nc.filter((p, i) => p.fp !== na[i]!.fp).map((p) => p.key)).toEqual(["7", "42"]);
  });

  it("detection between PostgreSQL tables finds exactly the differing keys, sparse or dense", async () => {
    const [a, swapped] = ["a", "swapped"].map(connect);
    const found: string[] = [];
    for await (const batch of detectDivergences(
      SHAPE,
      [
        { name: "a", connector: a! },
        { name: "b", connector: swapped! },
      ],
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
    await db.admin.query(`CREATE TABLE ${db.table("dense")} AS SELECT * FROM ${db.table("a")}`);
    await db.admin.query(`ALTER TABLE ${db.table("dense")} ADD PRIMARY KEY (id)`);
    await db.admin.query(`UPDATE ${db.table("dense")} SET amount = amount + 1 WHERE id % 3 = 0`);
    await db.admin.query(`DELETE FROM ${db.table("dense")} WHERE id = 250`);
    await db.admin.query(`INSERT INTO ${db.table("dense")} VALUES (1000, 'x', 1, now())`);
    const dense = connect("dense");
    const expected = [...Array.from({ length: 166 }, (_, i) => String(3 * (i + 1))), "250", "1000"].sort(
      (x, y) => Number(x) - Number(y),
    );
    for (const options of [
      { segmentRows: 64, leafRows: 4 },
      { segmentRows: 16, leafRows: 4, fanout: 2 },
      {},
    ]) {
      const keys: string[] = [];
      const before = { a: a!.stats.rowsScanned, d: dense!.stats.rowsScanned };
      for await (const batch of detectDivergences(
        SHAPE,
        [
          { name: "a", connector: a! },
          { name: "b", connector: dense! },
        ],
        // The checksum path (two tables of one database would otherwise be compared by one join).
        { ...options, inStore: false },
      ))
        for (const o of batch) keys.push(o.key[0]!);
      expect(keys).toEqual(expected);
      // One checksum pass over each table, no second round over the dense ranges.
      expect(a!.stats.rowsScanned - before.a).toBe(500);
      expect(dense!.stats.rowsScanned - before.d).toBe(500);
    }
  });
});
