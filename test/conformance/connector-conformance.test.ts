/** The Connector conformance suite: one test body run against every store's factory. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConditionalWrite, Connector } from "../../src/connectors/connector.js";
import { type CanonicalValue, canonicalValue } from "../../src/core/canonical.js";
import { ChecksumAccumulator, fingerprintRow, type RangeChecksum } from "../../src/core/fingerprint.js";
import {
  type ColumnSpec,
  FULL_RANGE,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  keyId,
  type RecordShape,
  type StoredRecord,
} from "../../src/core/model.js";
import {
  type ConnectorFactory,
  connectorFactories,
  memoryFactory,
  type StoreTable,
  type TableFixture,
} from "./connector-factories.js";

// ---------------------------------------------------------------------------------------------------------
// Fixtures. Expected key orders are written out by hand so that they do not rest on compareKeys.

const TYPED_KEY: readonly ColumnSpec[] = [{ name: "id", type: "integer" }];
const TYPED_COLUMNS: readonly ColumnSpec[] = [
  { name: "amount", type: "decimal" },
  { name: "ratio", type: "float" },
  { name: "active", type: "boolean" },
  { name: "label", type: "text" },
  { name: "at", type: "timestamp" },
  { name: "doc", type: "json" },
  { name: "blob", type: "bytes" },
];

/** Ascending numerically; text order differs (2 vs 10, -1 vs -10, 2^53 + 1). */
const IDS = [
  "-9007199254740993",
  "-1000",
  "-100",
  "-21",
  "-20",
  "-12",
  "-11",
  "-10",
  "-9",
  "-3",
  "-2",
  "-1",
  "0",
  "1",
  "2",
  "3",
  "4",
  "5",
  "9",
  "10",
  "11",
  "12",
  "19",
  "20",
  "21",
  "99",
  "100",
  "101",
  "110",
  "200",
  "999",
  "1000",
  "1001",
  "4096",
  "65536",
  "1000000",
  "9007199254740993",
];

const AMOUNTS = ["0", "12.5", "-0.01", "100", "123456789.123456", null, "1", "0.1", "-7"];
const RATIOS = [
  "0",
  "1.5",
  "-2.25",
  "1e+21",
  "0.1",
  "3.141592653589793",
  null,
  "-1.5e-7",
  "Infinity",
  "-Infinity",
];
const FLAGS = ["t", "f", null];
const LABELS = ["", "alice", "a|b", "back\\slash", "\\N", "ünïcödé", "😀", "0", "12", null, "line\nbreak"];
const TIMES = [
  "2024-01-01T00:00:00.000000Z",
  "1970-01-01T00:00:00.000000Z",
  "2024-02-29T23:59:59.999999Z",
  "1969-12-31T23:59:59.500000Z",
  null,
];
const DOCS = [
  '{"a":1,"b":[true,null]}',
  "1",
  '"text"',
  "[]",
  "{}",
  "null",
  "1.5",
  "true",
  null,
  '{"n":{"x":"y|z"}}',
  "-3",
];
const BLOBS = ["", "00", "deadbeef", "00ff10", null];

function pick<T>(list: readonly T[], i: number): T {
  return list[i % list.length]!;
}

const TYPED_ROWS: CanonicalValue[][] = IDS.map((id, i) => [
  id,
  pick(AMOUNTS, i),
  pick(RATIOS, i),
  pick(FLAGS, i),
  pick(LABELS, i),
  pick(TIMES, i),
  pick(DOCS, i),
  pick(BLOBS, i),
]);

/** Code-point order: upper before lower case, U+FFFF before the astral 😀 (UTF-16 order would differ). */
const REGIONS = ["", "A", "B", "Z", "a", "a|b", "b", "é", "\uFFFF", "😀"];
const SEQS = ["-5", "2", "10"];
const COMPOSITE_KEY: readonly ColumnSpec[] = [
  { name: "region", type: "text" },
  { name: "seq", type: "integer" },
];
const COMPOSITE_COLUMNS: readonly ColumnSpec[] = [
  { name: "note", type: "text" },
  { name: "qty", type: "integer" },
];
const COMPOSITE_ROWS: CanonicalValue[][] = REGIONS.flatMap((region, r) =>
  SEQS.flatMap((seq, s) =>
    (r + s) % 4 === 3 ? [] : [[region, seq, `${region}/${seq}`, r % 3 === 0 ? null : String(r * 10 - s)]],
  ),
);

interface Case {
  readonly name: string;
  readonly fixture: TableFixture;
  /** Every key, in the order the contract requires. */
  readonly order: readonly Key[];
  /** Ranges to checksum, count and stream, including empty ones and unbounded ends. */
  readonly ranges: readonly KeyRange[];
  /** A key that no row has. */
  readonly missing: Key;
  /**
   * Ascending, disjoint ranges as detection lists them at once: open first and last ends, adjacent ranges,
   * gaps, empty ranges, bounds that are not keys.
   */
  readonly leaves: readonly KeyRange[];
}

/** Insertion order is scrambled so that no store can pass by returning rows as inserted. */
function scramble<T>(rows: readonly T[]): T[] {
  return rows
    .map((row, i) => ({ row, at: (i * 17) % rows.length }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.row);
}

const TYPED: Case = {
  name: "typed (integer key)",
  fixture: { key: TYPED_KEY, columns: TYPED_COLUMNS, rows: scramble(TYPED_ROWS) },
  order: IDS.map((id) => [id]),
  ranges: [
    FULL_RANGE,
    { lo: null, hi: ["10"] },
    { lo: ["2"], hi: null },
    { lo: ["-10"], hi: ["100"] },
    { lo: ["-15"], hi: ["15"] },
    { lo: ["5"], hi: ["5"] },
    { lo: ["6"], hi: ["9"] },
    { lo: ["100000000"], hi: null },
    { lo: ["9007199254740994"], hi: null },
    { lo: null, hi: ["-9007199254740993"] },
  ],
  missing: ["7"],
  leaves: [
    { lo: null, hi: ["-100"] },
    { lo: ["-21"], hi: ["-21"] },
    { lo: ["-21"], hi: ["-9"] },
    { lo: ["-5"], hi: ["3"] },
    { lo: ["3"], hi: ["7"] },
    { lo: ["8"], hi: ["8"] },
    { lo: ["12"], hi: ["101"] },
    { lo: ["4096"], hi: ["4097"] },
    { lo: ["65536"], hi: null },
  ],
};

const COMPOSITE: Case = {
  name: "composite [text, integer] key",
  fixture: { key: COMPOSITE_KEY, columns: COMPOSITE_COLUMNS, rows: scramble(COMPOSITE_ROWS) },
  order: REGIONS.flatMap((region, r) => SEQS.flatMap((seq, s) => ((r + s) % 4 === 3 ? [] : [[region, seq]]))),
  ranges: [
    FULL_RANGE,
    { lo: ["a", "-100"], hi: ["é", "2"] },
    { lo: ["B", "2"], hi: ["B", "3"] },
    { lo: ["Z", "0"], hi: null },
    { lo: null, hi: ["a", "2"] },
    { lo: ["\uFFFF", "10"], hi: ["😀", "-5"] },
    { lo: ["😀", "11"], hi: null },
    { lo: ["A", "2"], hi: ["A", "2"] },
  ],
  missing: ["b", "3"],
  leaves: [
    { lo: null, hi: ["A", "2"] },
    { lo: ["A", "2"], hi: ["B", "-5"] },
    { lo: ["B", "3"], hi: ["B", "3"] },
    { lo: ["B", "3"], hi: ["a", "-100"] },
    { lo: ["a|b", "2"], hi: ["é", "2"] },
    { lo: ["\uFFFF", "-5"], hi: ["\uFFFF", "10"] },
    { lo: ["😀", "-5"], hi: null },
  ],
};

const CASES: readonly Case[] = [TYPED, COMPOSITE];

// ---------------------------------------------------------------------------------------------------------
// An independent model of the contract's key order: integers as BigInt, text by code point.

function comparePart(type: ColumnSpec["type"], a: string, b: string): number {
  if (type === "integer") return BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
  const x = Array.from(a, (ch) => ch.codePointAt(0)!);
  const y = Array.from(b, (ch) => ch.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function oracleCompare(key: readonly ColumnSpec[], a: Key, b: Key): number {
  for (let i = 0; i < key.length; i++) {
    const c = comparePart(key[i]!.type, a[i]!, b[i]!);
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

function oracleInRange(key: readonly ColumnSpec[], range: KeyRange, k: Key): boolean {
  return (
    (!range.lo || oracleCompare(key, k, range.lo) >= 0) && (!range.hi || oracleCompare(key, k, range.hi) < 0)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Helpers.

function shapeOf(fixture: TableFixture): RecordShape {
  return { key: fixture.key, columns: fixture.columns };
}

/** Expected records of a fixture, by key id. */
function recordsOf(fixture: TableFixture): Map<string, StoredRecord> {
  const width = fixture.key.length;
  return new Map(
    fixture.rows.map((row) => {
      const key = row.slice(0, width) as string[];
      const values = row.slice(width);
      return [keyId(key), { key, values, fingerprint: fingerprintRow(key, values) }];
    }),
  );
}

async function streamAll(
  c: Connector,
  shape: RecordShape,
  range: KeyRange,
  batchSize: number,
): Promise<{ sizes: number[]; rows: KeyFingerprint[] }> {
  const sizes: number[] = [];
  const rows: KeyFingerprint[] = [];
  for await (const batch of c.streamFingerprints(shape, range, batchSize)) {
    sizes.push(batch.length);
    rows.push(...batch);
  }
  return { sizes, rows };
}

/** `streamFingerprintsIn` of a connector that has it, collected with its batch sizes. */
async function streamAllIn(
  c: Connector,
  shape: RecordShape,
  ranges: readonly KeyRange[],
  batchSize: number,
): Promise<{ sizes: number[]; rows: KeyFingerprint[] }> {
  const sizes: number[] = [];
  const rows: KeyFingerprint[] = [];
  for await (const batch of c.streamFingerprintsIn!(shape, ranges, batchSize)) {
    sizes.push(batch.length);
    rows.push(...batch);
  }
  return { sizes, rows };
}

function checksumOf(fingerprints: readonly string[]): RangeChecksum {
  const acc = new ChecksumAccumulator();
  for (const fp of fingerprints) acc.add(fp);
  return acc.result();
}

async function fetchOne(c: Connector, shape: RecordShape, key: Key): Promise<StoredRecord | undefined> {
  const got = await c.fetchRecords(shape, [key]);
  expect(got.length).toBeLessThanOrEqual(1);
  return got[0];
}

/** Whether the store keeps key order (the contract's default); unordered stores serve only the full range. */
function isOrdered(c: Connector): boolean {
  return c.ordered !== false;
}

/** The ranges a store can be asked about: every range of the case, or only the full range when unordered. */
function rangesFor(c: Connector, tc: Case): readonly KeyRange[] {
  return isOrdered(c) ? tc.ranges : [FULL_RANGE];
}

/**
 * Streamed rows in key order. An ordered store's rows are returned as streamed (their order is under test).
 * An unordered store may stream in any order and repeat a key (SCAN does when the keyspace is resized):
 * a repeat must carry the same fingerprint, and the rows are sorted by the independent model.
 */
function inKeyOrder(
  c: Connector,
  key: readonly ColumnSpec[],
  rows: readonly KeyFingerprint[],
): KeyFingerprint[] {
  if (isOrdered(c)) return [...rows];
  const byKey = new Map<string, KeyFingerprint>();
  for (const r of rows) {
    const seen = byKey.get(keyId(r.key));
    if (seen) expect(r.fingerprint, `repeated ${JSON.stringify(r.key)}`).toBe(seen.fingerprint);
    byKey.set(keyId(r.key), r);
  }
  return [...byKey.values()].sort((a, b) => oracleCompare(key, a.key, b.key));
}

function describeRange(range: KeyRange): string {
  return `[${range.lo ? JSON.stringify(range.lo) : "-∞"}, ${range.hi ? JSON.stringify(range.hi) : "+∞"})`;
}

// ---------------------------------------------------------------------------------------------------------

describe("fixtures", () => {
  it("hold canonical values only", () => {
    for (const { fixture } of CASES) {
      const types = [...fixture.key, ...fixture.columns].map((c) => c.type);
      for (const row of fixture.rows) {
        for (const [i, v] of row.entries()) expect(canonicalValue(types[i]!, v)).toBe(v);
      }
    }
  });

  it("list their keys in the hand-written order the independent model agrees with", () => {
    for (const { fixture, order } of CASES) {
      expect(order.length).toBe(fixture.rows.length);
      for (let i = 1; i < order.length; i++)
        expect(oracleCompare(fixture.key, order[i - 1]!, order[i]!)).toBe(-1);
    }
  });
});

/** Server stores whose server does not answer are skipped (outside CI; in CI `available` throws). */
const availability = new Map(
  await Promise.all(connectorFactories.map(async (f) => [f.name, (await f.available?.()) ?? true] as const)),
);

describe.each(connectorFactories)("$name connector", (factory: ConnectorFactory) => {
  beforeEach(({ skip }) => {
    if (!availability.get(factory.name)) skip();
  });
  const opened: StoreTable[] = [];
  async function create(fixture: TableFixture): Promise<StoreTable> {
    const store = await factory.create(fixture);
    opened.push(store);
    return store;
  }
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.dispose();
  });

  describe.each(CASES)("$name table", (tc: Case) => {
    const shape = shapeOf(tc.fixture);
    const expected = recordsOf(tc.fixture);

    it("describes every column with its logical type (a schemaless store: a sample of untyped fields)", async () => {
      const { connector } = await create(tc.fixture);
      const { columns, schemaless } = await connector.describe();
      const all = [...tc.fixture.key, ...tc.fixture.columns];
      if (schemaless) {
        // No schema to report: the fields of a few records, typed by the other replicas or `types:`.
        expect(columns.length).toBeGreaterThan(0);
        for (const c of columns) {
          expect(all.map((a) => a.name)).toContain(c.name);
          expect(c.typed, c.name).toBe(false);
        }
      } else {
        expect(columns.map((c) => ({ name: c.name, type: c.type }))).toEqual(
          all.map((c) => ({ name: c.name, type: c.type })),
        );
      }
      for (const c of columns) expect(c.nativeType).not.toBe("");
    });

    it.each([1, 7, 1000])(
      "streams every key, in ascending key order unless unordered, in batches of at most %i",
      async (batchSize) => {
        const { connector } = await create(tc.fixture);
        const { sizes, rows } = await streamAll(connector, shape, FULL_RANGE, batchSize);
        expect(inKeyOrder(connector, tc.fixture.key, rows).map((r) => r.key)).toEqual(tc.order);
        for (const n of sizes) expect(n).toBeLessThanOrEqual(batchSize);
        // Bounded memory: a store must not hand the whole table over in one batch.
        if (batchSize < tc.order.length) expect(sizes.length).toBeGreaterThan(1);
      },
    );

    it("streams the fingerprints computed client-side from canonical values", async () => {
      const { connector } = await create(tc.fixture);
      const { rows } = await streamAll(connector, shape, FULL_RANGE, 10);
      for (const r of rows)
        expect(r.fingerprint, JSON.stringify(r.key)).toBe(expected.get(keyId(r.key))!.fingerprint);
    });

    it("fetches canonical values of the keys that exist, and only those", async () => {
      const { connector } = await create(tc.fixture);
      const keys = [...tc.order].reverse();
      const got = await connector.fetchRecords(shape, [...keys, tc.missing]);
      expect(got.length).toBe(keys.length);
      for (const rec of got) expect(rec).toEqual(expected.get(keyId(rec.key)));
      expect(await connector.fetchRecords(shape, [])).toEqual([]);
      expect(await connector.fetchRecords(shape, [tc.missing])).toEqual([]);
    });

    it("checksums and counts each range exactly like the fingerprints it streams", async () => {
      const { connector } = await create(tc.fixture);
      const ranges = rangesFor(connector, tc);
      const sums = await connector.checksumRanges(shape, ranges);
      expect(sums.length).toBe(ranges.length);
      for (const [i, range] of ranges.entries()) {
        const what = describeRange(range);
        const streamed = await streamAll(connector, shape, range, 5);
        streamed.rows = inKeyOrder(connector, tc.fixture.key, streamed.rows);
        const inRange = tc.order.filter((k) => oracleInRange(tc.fixture.key, range, k));
        expect(
          streamed.rows.map((r) => r.key),
          what,
        ).toEqual(inRange);
        const fromStream = checksumOf(streamed.rows.map((r) => r.fingerprint));
        const fromModel = checksumOf(inRange.map((k) => expected.get(keyId(k))!.fingerprint));
        expect(sums[i], what).toEqual(fromStream);
        expect(sums[i], what).toEqual(fromModel);
        expect(await connector.count(shape, range), what).toBe(inRange.length);
      }
      expect(await connector.checksumRanges(shape, [])).toEqual([]);
      if (!isOrdered(connector)) return;
      const empty = tc.ranges.filter((r) => !tc.order.some((k) => oracleInRange(tc.fixture.key, r, k)));
      expect(empty.length).toBeGreaterThan(0);
      for (const sum of await connector.checksumRanges(shape, empty)) {
        expect(sum).toEqual({ count: 0, xor: "0000000000000000" });
      }
    });

    it("lists many ranges at once exactly like streaming each in turn, if it can", async ({ skip }) => {
      const { connector } = await create(tc.fixture);
      // Optional in the port; the engine then streams one range at a time.
      if (!connector.streamFingerprintsIn) skip();
      const oneByOne: KeyFingerprint[] = [];
      for (const range of tc.leaves) oneByOne.push(...(await streamAll(connector, shape, range, 5)).rows);
      const inAny = tc.order.filter((k) => tc.leaves.some((r) => oracleInRange(tc.fixture.key, r, k)));
      expect(oneByOne.map((r) => r.key)).toEqual(inAny);
      for (const r of oneByOne)
        expect(r.fingerprint, JSON.stringify(r.key)).toBe(expected.get(keyId(r.key))!.fingerprint);
      for (const batchSize of [1, 3, 1000]) {
        const { sizes, rows } = await streamAllIn(connector, shape, tc.leaves, batchSize);
        expect(rows, `in batches of ${batchSize}`).toEqual(oneByOne);
        for (const n of sizes) expect(n).toBeLessThanOrEqual(batchSize);
        if (batchSize < rows.length) expect(sizes.length).toBeGreaterThan(1);
      }
      for (const range of [...tc.leaves, FULL_RANGE]) {
        const alone = await streamAllIn(connector, shape, [range], 4);
        expect(alone.rows, describeRange(range)).toEqual((await streamAll(connector, shape, range, 4)).rows);
      }
      expect((await streamAllIn(connector, shape, [], 4)).rows).toEqual([]);
      const empty = tc.leaves.filter((r) => !tc.order.some((k) => oracleInRange(tc.fixture.key, r, k)));
      expect(empty.length).toBeGreaterThan(0);
      expect((await streamAllIn(connector, shape, empty, 4)).rows).toEqual([]);
    });

    it("bounds each range by its least and greatest key, if it can", async ({ skip }) => {
      const { connector } = await create(tc.fixture);
      // Optional in the port: only where an index finds them without a pass over the rows.
      if (!connector.keyBounds) skip();
      for (const range of [...tc.ranges, FULL_RANGE]) {
        const inRange = tc.order.filter((k) => oracleInRange(tc.fixture.key, range, k));
        const bounds = await connector.keyBounds!(shape, range);
        // Null also when no index serves the key order: then for every range.
        if (bounds === null && inRange.length > 0) {
          expect(await connector.keyBounds!(shape, FULL_RANGE)).toBeNull();
          continue;
        }
        expect(bounds, describeRange(range)).toEqual(
          inRange.length ? { first: inRange[0], last: inRange.at(-1) } : null,
        );
      }
    });

    it("lists native row hashes like its fingerprints: same keys, equal where rows are equal, if it can", async ({
      skip,
    }) => {
      const { connector } = await create(tc.fixture);
      if (!connector.streamNativeHashesIn || !(await connector.nativeChecksumSignature?.(shape))) skip();
      const listed: KeyFingerprint[] = [];
      for await (const batch of connector.streamNativeHashesIn!(shape, tc.leaves, 3)) listed.push(...batch);
      const canonical = (await streamAllIn(connector, shape, tc.leaves, 1000)).rows;
      expect(listed.map((r) => r.key)).toEqual(canonical.map((r) => r.key));
      // A native hash is a function of the record: records with equal fingerprints hash equal.
      const byFingerprint = new Map<string, string>();
      for (const [i, r] of listed.entries()) {
        const fp = canonical[i]!.fingerprint;
        if (byFingerprint.has(fp)) expect(r.fingerprint).toBe(byFingerprint.get(fp));
        byFingerprint.set(fp, r.fingerprint);
      }
      const sums = await connector.nativeChecksumRanges!(shape, tc.leaves);
      expect(sums.reduce((n, s) => n + s.count, 0)).toBe(listed.length);
    });

    it.for([2, 3, 4, 16])(
      "splits ranges into %i ascending runs of about equal size",
      async (parts, { skip }) => {
        const { connector } = await create(tc.fixture);
        // Split points are key order; the engine never asks an unordered store for them.
        if (!isOrdered(connector)) skip();
        for (const range of tc.ranges) {
          const what = `${describeRange(range)} into ${parts}`;
          const inRange = tc.order.filter((k) => oracleInRange(tc.fixture.key, range, k));
          const splits = await connector.splitRange(shape, range, parts);
          expect(splits.length, what).toBeLessThanOrEqual(parts - 1);
          const positions = splits.map((s) =>
            inRange.findIndex((k) => oracleCompare(tc.fixture.key, k, s) === 0),
          );
          // Existing keys, strictly inside the range (never its first row), strictly ascending.
          for (const [j, p] of positions.entries()) {
            expect(p, `${what}: ${JSON.stringify(splits[j])}`).toBeGreaterThan(0);
            if (j > 0) expect(p, what).toBeGreaterThan(positions[j - 1]!);
          }
          const bounds = [0, ...positions, inRange.length];
          const runs = bounds.slice(1).map((b, j) => b - bounds[j]!);
          const even = Math.ceil(inRange.length / parts);
          for (const run of runs) expect(run, what).toBeLessThanOrEqual(2 * even);
          expect(runs.length, what).toBeGreaterThanOrEqual(Math.min(inRange.length, Math.ceil(parts / 2)));
        }
      },
    );

    it("changes nothing when read", async () => {
      const { connector } = await create(tc.fixture);
      const before = await connector.checksumRanges(shape, [FULL_RANGE]);
      await streamAll(connector, shape, FULL_RANGE, 3);
      await connector.fetchRecords(shape, tc.order);
      await connector.splitRange(shape, FULL_RANGE, 5);
      await connector.count(shape, FULL_RANGE);
      await connector.describe();
      expect(await connector.checksumRanges(shape, [FULL_RANGE])).toEqual(before);
      expect(before[0]!.count).toBe(tc.order.length);
    });
  });

  describe("conditional writes", () => {
    const shape = shapeOf(TYPED.fixture);
    const original = recordsOf(TYPED.fixture);
    const key = ["2"];
    const next: CanonicalValue[] = [
      "99.5",
      "2.5",
      "f",
      "changed|value",
      "2025-06-01T12:00:00.000001Z",
      "2",
      "cafe",
    ];
    const theirs: CanonicalValue[] = ["1", "1", "t", "someone else", null, '{"by":"them"}', ""];

    it("applies an update whose expected fingerprint is current; the repeat is a noop", async () => {
      const { connector } = await create(TYPED.fixture);
      const write: ConditionalWrite = { key, expected: original.get(keyId(key))!.fingerprint, next };
      expect(await connector.applyWrites(shape, [write])).toEqual(["applied"]);
      expect(await fetchOne(connector, shape, key)).toEqual({
        key,
        values: next,
        fingerprint: fingerprintRow(key, next),
      });
      expect(await connector.applyWrites(shape, [write])).toEqual(["noop"]);
      expect(await fetchOne(connector, shape, key)).toEqual({
        key,
        values: next,
        fingerprint: fingerprintRow(key, next),
      });
      expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length);
    });

    it("writes every type and null faithfully", async () => {
      const { connector } = await create(TYPED.fixture);
      const writes: ConditionalWrite[] = IDS.map((id, i) => {
        const values = TYPED_COLUMNS.map((_, c) => TYPED_ROWS[(i + c + 1) % TYPED_ROWS.length]![c + 1]!);
        return { key: [id], expected: original.get(keyId([id]))!.fingerprint, next: values };
      });
      const outcomes = await connector.applyWrites(shape, writes);
      expect(outcomes).toEqual(
        writes.map((w) =>
          w.next!.join() === original.get(keyId(w.key))!.values.join() ? "noop" : "applied",
        ),
      );
      const got = new Map(
        (
          await connector.fetchRecords(
            shape,
            IDS.map((id) => [id]),
          )
        ).map((r) => [keyId(r.key), r]),
      );
      for (const w of writes) expect(got.get(keyId(w.key))?.values, JSON.stringify(w.key)).toEqual(w.next);
      expect(await connector.applyWrites(shape, writes)).toEqual(writes.map(() => "noop"));
    });

    it("refuses (superseded) a write whose expected fingerprint is stale, and writes nothing", async () => {
      const store = await create(TYPED.fixture);
      const { connector } = store;
      const seen = (await fetchOne(connector, shape, key))!;
      await store.put([...key, ...theirs]);
      expect(await connector.applyWrites(shape, [{ key, expected: seen.fingerprint, next }])).toEqual([
        "superseded",
      ]);
      expect((await fetchOne(connector, shape, key))?.values).toEqual(theirs);
      expect(await connector.applyWrites(shape, [{ key, expected: seen.fingerprint, next: null }])).toEqual([
        "superseded",
      ]);
      expect((await fetchOne(connector, shape, key))?.values).toEqual(theirs);
    });

    it("inserts where expected is null; the repeat is a noop; expecting absence of a present record is superseded", async () => {
      const { connector } = await create(TYPED.fixture);
      const insert: ConditionalWrite = { key: TYPED.missing, expected: null, next };
      expect(await connector.applyWrites(shape, [insert])).toEqual(["applied"]);
      expect(await fetchOne(connector, shape, TYPED.missing)).toEqual({
        key: TYPED.missing,
        values: next,
        fingerprint: fingerprintRow(TYPED.missing, next),
      });
      expect(await connector.applyWrites(shape, [insert])).toEqual(["noop"]);
      expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length + 1);

      const clobber: ConditionalWrite = { key, expected: null, next };
      expect(await connector.applyWrites(shape, [clobber])).toEqual(["superseded"]);
      expect(await fetchOne(connector, shape, key)).toEqual(original.get(keyId(key)));
    });

    it("deletes with next = null; the repeat is a noop; a stale delete is superseded", async () => {
      const store = await create(TYPED.fixture);
      const { connector } = store;
      const del: ConditionalWrite = { key, expected: original.get(keyId(key))!.fingerprint, next: null };
      expect(await connector.applyWrites(shape, [del])).toEqual(["applied"]);
      expect(await fetchOne(connector, shape, key)).toBeUndefined();
      expect(await connector.applyWrites(shape, [del])).toEqual(["noop"]);
      expect(await connector.count(shape, FULL_RANGE)).toBe(IDS.length - 1);

      const other = ["10"];
      const seen = (await fetchOne(connector, shape, other))!;
      await store.put([...other, ...theirs]);
      expect(
        await connector.applyWrites(shape, [{ key: other, expected: seen.fingerprint, next: null }]),
      ).toEqual(["superseded"]);
      expect((await fetchOne(connector, shape, other))?.values).toEqual(theirs);
    });

    it("returns one outcome per write, in order, for a mixed batch on a composite key", async () => {
      const store = await create(COMPOSITE.fixture);
      const { connector } = store;
      const cshape = shapeOf(COMPOSITE.fixture);
      const rows = recordsOf(COMPOSITE.fixture);
      const [k1, k2, k3] = [COMPOSITE.order[0]!, COMPOSITE.order[5]!, COMPOSITE.order[9]!];
      await store.put([...k3, "moved on", "7"]);
      const writes: ConditionalWrite[] = [
        { key: k1, expected: rows.get(keyId(k1))!.fingerprint, next: ["updated", null] },
        { key: COMPOSITE.missing, expected: null, next: ["new", "1"] },
        { key: k2, expected: rows.get(keyId(k2))!.fingerprint, next: null },
        { key: k3, expected: rows.get(keyId(k3))!.fingerprint, next: ["lost", "0"] },
        { key: k1, expected: "0123456789abcdef", next: ["updated", null] },
      ];
      expect(await connector.applyWrites(cshape, writes)).toEqual([
        "applied",
        "applied",
        "applied",
        "superseded",
        "noop",
      ]);
      const got = new Map(
        (await connector.fetchRecords(cshape, [k1, k2, k3, COMPOSITE.missing])).map((r) => [keyId(r.key), r]),
      );
      expect(got.get(keyId(k1))?.values).toEqual(["updated", null]);
      expect(got.get(keyId(COMPOSITE.missing))?.values).toEqual(["new", "1"]);
      expect(got.has(keyId(k2))).toBe(false);
      expect(got.get(keyId(k3))?.values).toEqual(["moved on", "7"]);
      const streamed = inKeyOrder(
        connector,
        COMPOSITE_KEY,
        (await streamAll(connector, cshape, FULL_RANGE, 4)).rows,
      );
      expect(streamed.length).toBe(COMPOSITE.order.length);
      for (let i = 1; i < streamed.length; i++) {
        expect(oracleCompare(COMPOSITE_KEY, streamed[i - 1]!.key, streamed[i]!.key)).toBe(-1);
      }
    });
  });
});

describe.each(connectorFactories.filter((f) => f !== memoryFactory))(
  "cross-store equality: $name and memory",
  (factory: ConnectorFactory) => {
    beforeEach(({ skip }) => {
      if (!availability.get(factory.name)) skip();
    });
    const opened: StoreTable[] = [];
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.dispose();
    });

    it.each(CASES)(
      "hold the same logical rows with identical fingerprints and checksums ($name)",
      async (tc) => {
        const shape = shapeOf(tc.fixture);
        const a = await memoryFactory.create(tc.fixture);
        const b = await factory.create(tc.fixture);
        opened.push(a, b);
        const streamA = await streamAll(a.connector, shape, FULL_RANGE, 8);
        const streamB = await streamAll(b.connector, shape, FULL_RANGE, 8);
        expect(inKeyOrder(b.connector, tc.fixture.key, streamB.rows)).toEqual(streamA.rows);
        const ranges = rangesFor(b.connector, tc);
        expect(await b.connector.checksumRanges(shape, ranges)).toEqual(
          await a.connector.checksumRanges(shape, ranges),
        );
        const sort = (rs: StoredRecord[]) =>
          [...rs].sort((x, y) => oracleCompare(tc.fixture.key, x.key, y.key));
        expect(sort(await b.connector.fetchRecords(shape, tc.order))).toEqual(
          sort(await a.connector.fetchRecords(shape, tc.order)),
        );
      },
    );

    it("stay equal after the same conditional writes", async () => {
      const shape = shapeOf(TYPED.fixture);
      const a = await memoryFactory.create(TYPED.fixture);
      const b = await factory.create(TYPED.fixture);
      opened.push(a, b);
      const original = recordsOf(TYPED.fixture);
      const writes: ConditionalWrite[] = [
        { key: ["-1"], expected: original.get(keyId(["-1"]))!.fingerprint, next: null },
        {
          key: ["7"],
          expected: null,
          next: ["3.25", "-0.5", "t", "", "2030-01-01T00:00:00.000000Z", "[1,2]", "ff"],
        },
        {
          key: ["100"],
          expected: original.get(keyId(["100"]))!.fingerprint,
          next: TYPED_COLUMNS.map(() => null),
        },
      ];
      expect(await b.connector.applyWrites(shape, writes)).toEqual(
        await a.connector.applyWrites(shape, writes),
      );
      expect(
        inKeyOrder(b.connector, TYPED_KEY, (await streamAll(b.connector, shape, FULL_RANGE, 100)).rows),
      ).toEqual((await streamAll(a.connector, shape, FULL_RANGE, 100)).rows);
      const ranges = rangesFor(b.connector, TYPED);
      expect(await b.connector.checksumRanges(shape, ranges)).toEqual(
        await a.connector.checksumRanges(shape, ranges),
      );
    });
  },
);
