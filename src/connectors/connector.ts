/** The Connector port: everything the engine may ask of one replica's store. Implementations live in sibling folders. */
import type { CanonicalValue, ColumnType } from "../core/canonical.js";
import type { RangeChecksum } from "../core/fingerprint.js";
import type { Key, KeyFingerprint, KeyRange, RecordShape, StoredRecord } from "../core/model.js";

/** A column as the store declares it. */
export interface ColumnInfo {
  readonly name: string;
  /** The logical type the connector reads this column as. */
  readonly type: ColumnType;
  /** The store's own type name, for messages ("DECIMAL(10,2)", "timestamptz"). */
  readonly nativeType: string;
  /**
   * False when the store keeps no type for the column (Redis strings): the column's type then comes from
   * the other replicas or from `types:` in the config. Default true.
   */
  readonly typed?: boolean;
}

export interface TableDescription {
  readonly columns: readonly ColumnInfo[];
  /**
   * True for stores that keep no schema (Redis hashes and JSON documents): the record has whatever columns
   * the dataset compares, typed by the other replicas or `types:`; `columns` is only a sample.
   */
  readonly schemaless?: boolean;
}

/**
 * Work counters kept by a connector. They measure what crossed from the store into the engine
 * (`rowsRead`, `bytesRead`), what the store examined on the engine's behalf (`rowsScanned`, for pushdown),
 * and round trips (`queries`). Bytes are an estimate of the payload, not of the wire protocol.
 */
export interface ConnectorStats {
  rowsRead: number;
  rowsScanned: number;
  bytesRead: number;
  queries: number;
  rowsWritten: number;
}

export function emptyStats(): ConnectorStats {
  return { rowsRead: 0, rowsScanned: 0, bytesRead: 0, queries: 0, rowsWritten: 0 };
}

/**
 * One write that carries out a repair on one key. It must apply only if the record still has
 * `expected` (a fingerprint, or null for "absent"); `next` is the canonical values to write (in shape
 * order), or null to delete.
 */
export interface ConditionalWrite {
  readonly key: Key;
  readonly expected: string | null;
  readonly next: readonly CanonicalValue[] | null;
}

/**
 * What a conditional write did: `applied` (the record held `expected` and now holds `next`), `noop` (it
 * already held `next`), `superseded` (it held something else; nothing was written).
 */
export type WriteOutcome = "applied" | "noop" | "superseded";

/**
 * The contract every store adapter fulfils (memory, SQLite, and the server stores). A connector serves one
 * replica (one table or key space) of one dataset; the engine calls it with the dataset's RecordShape.
 *
 * Invariants every implementation must keep, checked by test/conformance:
 * - Canonical: values are returned as `canonicalValue(type, raw)` of the shape's column types, and
 *   fingerprints equal `fingerprintRow(key, values)`, whether computed in the store or in the engine.
 * - Ordered: key order is `compareKeys` (integers numerically, text by code point / binary collation).
 * - Range checksums equal the checksum of the fingerprints the connector streams for the same range.
 * - Read-only reads: no method but `applyWrites` changes the store.
 * - Conditional writes: `applyWrites` writes a key only if its current fingerprint (or absence) equals
 *   `expected`, atomically with the check; it never overwrites a record changed by someone else.
 *   Idempotent: applying the same write twice has the effect of applying it once (the second is `noop`).
 * - Bounded memory: streaming methods hold at most one batch, never the whole table.
 */
export interface Connector {
  /** Store kind ("sqlite", "memory", …). */
  readonly kind: string;
  /** True when the store computes range checksums itself; otherwise the engine streams and merges. */
  readonly pushdown: boolean;
  /**
   * False for stores without key order (hash stores such as Redis). Such a connector only streams the full
   * range, in any order, and the engine compares by hash partitions instead of a merge. Default true.
   */
  readonly ordered?: boolean;
  /** Work done so far; the engine reads it into run statistics. */
  readonly stats: ConnectorStats;

  /** The table's columns. Throws a ConnectorError when the table does not exist. */
  describe(): Promise<TableDescription>;

  /** Rows in the range. */
  count(shape: RecordShape, range: KeyRange): Promise<number>;

  /**
   * A cheap estimate of the rows in the whole table (for sizing partitions and progress), where an exact
   * count would cost a pass over the store (Redis: DBSIZE-based). Optional; `count` is used without it.
   */
  estimateCount?(shape: RecordShape): Promise<number>;

  /**
   * The least and greatest key in the range, found without a pass over its rows (index probes), or null
   * when the range holds no rows or no index finds them. Optional. Lets the engine cut ranges of an integer
   * key by arithmetic instead of asking `splitRange`.
   */
  keyBounds?(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null>;

  /**
   * Why this shape's detection is slower than full pushdown (columns fingerprinted in the engine, a key
   * order no index serves), one sentence each naming the replica; empty when nothing limits it. Optional.
   */
  pushdownLimits?(shape: RecordShape): Promise<string[]>;

  /** The checksum (count, XOR of fingerprints) of each range, computed in the store when `pushdown`. */
  checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]>;

  /**
   * Up to `parts - 1` keys of existing rows, ascending and strictly inside the range (not its `lo`), that
   * split its rows into `parts` runs of about equal size. Fewer (or none) for small ranges.
   */
  splitRange(shape: RecordShape, range: KeyRange, parts: number): Promise<Key[]>;

  /**
   * Key and fingerprint of every row in the range, in key order, in batches of at most `batchSize`.
   * Unordered stores (`ordered: false`) are only asked for the full range and may return any order; they
   * may also repeat a key (Redis SCAN does when the keyspace is resized mid-scan), and the consumer keeps
   * the last pair streamed for a key.
   */
  streamFingerprints(
    shape: RecordShape,
    range: KeyRange,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]>;

  /**
   * Optional, a batched `streamFingerprints`: key and fingerprint of every row in any of `ranges` (ascending
   * and disjoint, as detection asks), in key order, in batches of at most `batchSize`, with as few round
   * trips as the store allows. Same pairs as streaming each range in turn. Only for ordered stores.
   */
  streamFingerprintsIn?(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]>;

  /**
   * Optional, with `nativeChecksumRanges`: a cheaper range checksum for comparing replicas kept in the same
   * kind of store, built on a store-native per-row hash instead of the canonical fingerprint. Returns a
   * signature naming everything that hash depends on (store, hash version, encoding, each column's native
   * type and collation), or null when this shape has none. Detection uses native checksums (and native
   * listings, `streamNativeHashesIn`) only when every replica returns the same non-null signature; the
   * records of the keys found are then fetched for canonical fingerprints and values.
   */
  nativeChecksumSignature?(shape: RecordShape): Promise<string | null>;

  /**
   * (count, XOR of native row hashes) of each range. Contract: among connectors with equal signatures, equal
   * records hash equal (so equal ranges have equal checksums) and different records differ except with
   * probability about 2^-64; the hash mixes all columns of a row non-linearly (values swapped between rows
   * change the checksum). Not comparable with `checksumRanges`.
   */
  nativeChecksumRanges?(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]>;

  /**
   * Optional, with `nativeChecksumRanges`: `streamFingerprintsIn` with each row's native hash (the one
   * `nativeChecksumRanges` XORs, as text) in place of its fingerprint. Comparable only among connectors
   * with equal signatures; detection lists dense ranges this way and fetches records for canonical ones.
   */
  streamNativeHashesIn?(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]>;

  /** The full records of those keys that exist, in any order. */
  fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]>;

  /** Applies conditional writes (see the contract above); one outcome per write, in order. */
  applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]>;

  close(): Promise<void>;
}

/** A store could not be reached or answered with an error. Messages never contain credentials. */
export class ConnectorError extends Error {
  override readonly name = "ConnectorError";
}
