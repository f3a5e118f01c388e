/** The conformance suite's tables, an independent model of the contract's key order, and helpers. Tests only. */
import { expect } from "vitest";
import type { Connector } from "../../src/connectors/connector.js";
import type { CanonicalValue } from "../../src/core/canonical.js";
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
import type { TableFixture } from "./connector-factories.js";

// ---------------------------------------------------------------------------------------------------------
// Fixtures. Expected key orders are written out by hand so that they do not rest on compareKeys.

export const TYPED_KEY: readonly ColumnSpec[] = [{ name: "id", type: "integer" }];
export const TYPED_COLUMNS: readonly ColumnSpec[] = [
  { name: "amount", type: "decimal" },
  { name: "ratio", type: "float" },
  { name: "active", type: "boolean" },
  { name: "label", type: "text" },
  { name: "at", type: "timestamp" },
  { name: "doc", type: "json" },
  { name: "blob", type: "bytes" },
];

/** Ascending numerically; text order differs (2 vs 10, -1 vs -10, 2^53 + 1). */
export const IDS = [
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

export const TYPED_ROWS: CanonicalValue[][] = IDS.map((id, i) => [
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
export const COMPOSITE_KEY: readonly ColumnSpec[] = [
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

export interface Case {
  /** Names the case in skip lists ("typed/native-hash"). */
  readonly id: string;
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

export const TYPED: Case = {
  id: "typed",
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

export const COMPOSITE: Case = {
  id: "composite",
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

export const CASES: readonly Case[] = [TYPED, COMPOSITE];

// ---------------------------------------------------------------------------------------------------------
// An independent model of the contract's key order: NULL first, integers as BigInt, text by code point.

function comparePart(type: ColumnSpec["type"], a: string | null, b: string | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  if (type === "integer") return BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
  const x = Array.from(a, (ch) => ch.codePointAt(0)!);
  const y = Array.from(b, (ch) => ch.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export function oracleCompare(key: readonly ColumnSpec[], a: Key, b: Key): number {
  for (let i = 0; i < key.length; i++) {
    const c = comparePart(key[i]!.type, a[i] ?? null, b[i] ?? null);
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

export function oracleInRange(key: readonly ColumnSpec[], range: KeyRange, k: Key): boolean {
  return (
    (!range.lo || oracleCompare(key, k, range.lo) >= 0) && (!range.hi || oracleCompare(key, k, range.hi) < 0)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Helpers.

export function shapeOf(fixture: TableFixture): RecordShape {
  return { key: fixture.key, columns: fixture.columns };
}

/** Expected records of a fixture, by key id. */
export function recordsOf(fixture: TableFixture): Map<string, StoredRecord> {
  const width = fixture.key.length;
  return new Map(
    fixture.rows.map((row) => {
      const key = row.slice(0, width) as string[];
      const values = row.slice(width);
      return [keyId(key), { key, values, fingerprint: fingerprintRow(key, values) }];
    }),
  );
}

export async function streamAll(
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
export async function streamAllIn(
  c: Connector,
  shape: RecordShape,
  ranges: readonly KeyRange[],
  batchSize: number,
): Promise<{ sizes: number[]; rows: KeyFingerprint[] }> {
  const sizes: number[] = [];
  const rows: KeyFingerprint[] = [];
  const streamIn = c.streamFingerprintsIn;
  if (!streamIn) throw new Error(`${c.kind} offers no streamFingerprintsIn`);
  for await (const batch of streamIn.call(c, shape, ranges, batchSize)) {
    sizes.push(batch.length);
    rows.push(...batch);
  }
  return { sizes, rows };
}

export function checksumOf(fingerprints: readonly string[]): RangeChecksum {
  const acc = new ChecksumAccumulator();
  for (const fp of fingerprints) acc.add(fp);
  return acc.result();
}

export async function fetchOne(
  c: Connector,
  shape: RecordShape,
  key: Key,
): Promise<StoredRecord | undefined> {
  const got = await c.fetchRecords(shape, [key]);
  expect(got.length).toBeLessThanOrEqual(1);
  return got[0];
}

/** Whether the store keeps key order (the contract's default); unordered stores serve only the full range. */
export function isOrdered(c: Connector): boolean {
  return c.ordered !== false;
}

/** The ranges a store can be asked about: every range of the case, or only the full range when unordered. */
export function rangesFor(c: Connector, tc: Case): readonly KeyRange[] {
  return isOrdered(c) ? tc.ranges : [FULL_RANGE];
}

/**
 * Streamed rows in key order. An ordered store's rows are returned as streamed (their order is under test).
 * An unordered store may stream in any order and repeat a key (SCAN does when the keyspace is resized):
 * a repeat must carry the same fingerprint, and the rows are sorted by the independent model.
 */
export function inKeyOrder(
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

export function describeRange(range: KeyRange): string {
  return `[${range.lo ? JSON.stringify(range.lo) : "-∞"}, ${range.hi ? JSON.stringify(range.hi) : "+∞"})`;
}
