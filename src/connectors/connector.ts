/** The Connector port: everything the engine may ask of one replica's store, as a contract. Declarations only: no I/O. */
import type { CanonicalValue, ColumnType } from "../core/canonical.js";
import type { RangeChecksum } from "../core/fingerprint.js";
import type { Key, KeyFingerprint, KeyRange, RecordShape, StoredRecord } from "../core/model.js";
import type { RowImage } from "./change-feed.js";
import type { RowHash } from "./row-hash.js";

// -----------------------------------------------------------------------------------------------------------
// What `describe` reports

/**
 * A column as the store declares it, with what the engine needs to judge whether two stores can hold the same
 * values: the engine never reads a store's native type name, only these facts.
 */
export interface ColumnInfo {
  readonly name: string;
  /** The logical type the connector reads this column as. */
  readonly type: ColumnType;
  /** The store's own type name, for messages only ("DECIMAL(10,2)", "timestamp with time zone"). */
  readonly nativeType: string;
  /**
   * False when the store keeps no type for the column (Redis strings): the column's type then comes from
   * the other replicas or from `types:` in the config. Default true.
   */
  readonly typed?: boolean;
  /**
   * For integer and decimal columns: true when the store keeps every value exactly (integers, fixed-point
   * decimals, decimal text), false when it keeps them as binary floating point (SQLite's DECIMAL and NUMERIC,
   * which hold fractions as 64-bit floats). For json columns: false when the store keeps a document's numbers
   * as 64-bit integers and doubles (MySQL 8's JSON type), not as written. Default: true for integer, decimal
   * and json, false for float; not meaningful for other types.
   */
  readonly exactNumber?: boolean;
  /**
   * For timestamp and time columns: the fractional-second digits every value keeps (0 for MariaDB's bare
   * DATETIME, 3 for `timestamp(3)`, 6 for PostgreSQL's `timestamptz` and `time`). Default: undefined, meaning
   * no fixed precision (SQLite's text or epoch timestamps, values kept as text) or no time of day (dates).
   */
  readonly fractionalDigits?: number;
  /**
   * For text columns: the collation's name when the store compares distinct texts as equal in it ('a' = 'A'
   * under a case-insensitive collation, 'a' = 'a ' under PAD SPACE), so a unique key in it holds only one of
   * them. Default: undefined (texts are equal only when identical).
   */
  readonly lenientCollation?: string;
  /**
   * For spatial columns, the form a shape is kept in: "text" (PostgreSQL's geometric types, as `(1,2)`, and a
   * SQLite column declared with such a name, which holds their text) or "wkb" (MariaDB/MySQL's spatial types:
   * a 4-byte SRID, then WKB). Concord converts no shape from one form to the other, so a column kept in one
   * beside another type is not compared, and the schema issue says why. Default: undefined (not spatial).
   */
  readonly spatial?: "text" | "wkb";
}

/** The columns of one replica's table (or key space), as `describe` finds them. */
export interface TableDescription {
  readonly columns: readonly ColumnInfo[];
  /**
   * True for stores that keep no schema (Redis hashes and JSON documents): the record has whatever columns
   * the dataset compares, typed by the other replicas or `types:`; `columns` is only a sample. Default false.
   */
  readonly schemaless?: boolean;
  /** The store as messages name it ("SQLite", "PostgreSQL", "MariaDB"). Default: "the store". */
  readonly store?: string;
}

// -----------------------------------------------------------------------------------------------------------
// Counters, writes

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

// -----------------------------------------------------------------------------------------------------------
// Capabilities

/**
 * A cheaper range checksum for comparing replicas kept in the same kind of store, built on a store-native
 * per-row hash instead of the canonical fingerprint. Its three methods only work together, so a connector
 * offers all of them or none. Detection uses it only when every replica returns the same non-null
 * `signature`; it then fetches the records of the keys it finds for canonical fingerprints and values, so
 * what is reported does not change.
 */
export interface NativeHashCapability {
  /**
   * A text naming everything the native hash depends on (store, hash version, server version, encoding,
   * each column's native type and collation), or null when this shape has no native hash. Two connectors
   * with equal signatures hash equal records equal.
   */
  signature(shape: RecordShape): Promise<string | null>;
  /**
   * (count, XOR of native row hashes) of each range. Among connectors with equal signatures, different
   * records differ except with probability about 2^-64, and equal records hash equal (so equal ranges have
   * equal checksums) except where the stored forms of an equal value differ (JSON documents spelled
   * differently, `1.0` and `1`): such rows cost a listing and a fetch, where their canonical fingerprints
   * agree and they are dropped, never a missed difference; the hash mixes all columns of a row non-linearly (values swapped between rows change the
   * checksum). Not comparable with `Connector.checksumRanges`. Throws when `signature` is null.
   */
  checksumRanges(shape: RecordShape, ranges: readonly KeyRange[]): Promise<RangeChecksum[]>;
  /**
   * `Connector.streamFingerprintsIn` with each row's native hash (the one `checksumRanges` XORs, as text)
   * in place of its fingerprint: the same keys, in the same order. Throws when `signature` is null.
   */
  streamHashesIn(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]>;
}

/**
 * Comparing replicas by key-hash buckets instead of key ranges, for stores whose key order no index serves
 * (a text key in a linguistic collation: every range query would sort or scan). Bucket b at modulus m holds
 * the rows whose `keyBucket(key, m)` is b (core/key-bucket.ts): computed from the key's canonical text, so it
 * is the same in every store and under every collation, and no key order is needed. Each call is one pass
 * over the table. Its three methods only work together, so a connector offers all of them or none.
 * Detection uses it when every replica offers it with pushdown and some replica's `orderServed` is false.
 */
export interface KeyBucketsCapability {
  /**
   * True when ranges in Concord's key order are index range scans in this store; false when each costs a
   * scan or a sort of the table (no index in binary order serves a text key).
   */
  orderServed(shape: RecordShape): Promise<boolean>;
  /**
   * (count, XOR of row hashes) of each of `buckets` at `modulus`, in the order given, in one pass over the
   * table. Equals the checksum of what `streamBuckets` returns for the same buckets and `hash`.
   * `hash` "fingerprint": buckets by `keyBucket`, rows by canonical fingerprint (comparable with every
   * store). "native" (only among connectors whose `nativeHash.signature` is equal and non-null): buckets by
   * the store's native hash of the key and rows by its native row hash, both cheaper; comparable only among
   * those connectors, so the engine fetches the records of the keys found, as after a native listing.
   */
  checksumBuckets(
    shape: RecordShape,
    modulus: number,
    buckets: readonly number[],
    hash: RowHash,
  ): Promise<RangeChecksum[]>;
  /** Key and row hash (see `checksumBuckets`) of every row in `buckets` at `modulus`, any order, one pass. */
  streamBuckets(
    shape: RecordShape,
    modulus: number,
    buckets: readonly number[],
    hash: RowHash,
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]>;
}

/** A key `InStorePair.diff` found differing, and which of the pair's two replicas hold it. */
export interface PairedKey {
  readonly key: Key;
  /** Held by the replica whose connector made the pair. */
  readonly here: boolean;
  /** Held by the other replica. */
  readonly there: boolean;
  /**
   * The two replicas' records, read with the listing, when the store returns them (PostgreSQL): the engine
   * then fetches neither. Absent, or missing a side that holds the key, when it does not.
   */
  readonly records?: { readonly here?: StoredRecord | undefined; readonly there?: StoredRecord | undefined };
}

/** Two replicas compared inside one store (see PairDiffCapability). */
export interface InStorePair {
  /**
   * Every key in `range` whose records differ between the two replicas, in key order, in batches of at most
   * `batchSize`, with where it is held. It may also list keys whose records are stored differently but read
   * as equal values (the engine fetches the records and drops them); it never leaves out a key that differs.
   * `onRows` is told once, before the first batch or after the last, how many rows the pair's own replica
   * holds in the range (not at all when the listing is given up before its end).
   */
  diff(
    range: KeyRange,
    batchSize: number,
    onRows: (rows: number) => void,
  ): AsyncIterable<readonly PairedKey[]>;
}

/**
 * Comparing two replicas of the same kind of store inside the store itself, where one connection can reach
 * both (two SQLite files in this process: ATTACH), without reading their rows into the engine. Detection
 * uses it for a dataset of exactly two replicas that both offer it.
 */
export interface PairDiffCapability {
  /**
   * The pair of this replica and `other`, or a sentence saying why they cannot be compared in the store
   * (another kind of store, an in-memory database, columns declared with different types…): the engine then
   * compares them as it would without this capability and says so in the scan's notes.
   */
  pair(shape: RecordShape, other: Connector): Promise<InStorePair | string>;
}

/** The optional capabilities a connector may offer, by the member that offers it. */
export const OPTIONAL_CAPABILITIES = [
  "estimateCount",
  "keyBounds",
  "pushdownLimits",
  "streamFingerprintsIn",
  "nativeHash",
  "pairDiff",
  "keyBuckets",
  "recordFromImage",
] as const;
export type OptionalCapability = (typeof OPTIONAL_CAPABILITIES)[number];

/** The optional capabilities `connector` offers, in OPTIONAL_CAPABILITIES order. */
export function capabilitiesOf(connector: Connector): OptionalCapability[] {
  return OPTIONAL_CAPABILITIES.filter((c) => connector[c] !== undefined);
}

// -----------------------------------------------------------------------------------------------------------
// The port

/**
 * The contract every store adapter fulfils (memory, SQLite, and the server stores). A connector serves one
 * replica (one table or key space) of one dataset; the engine calls it with the dataset's RecordShape.
 *
 * Invariants every implementation must keep, checked by test/conformance:
 * - Canonical: values are returned as `canonicalValue(type, raw)` of the shape's column types, and
 *   fingerprints equal `fingerprintRow(key, values)`, whether computed in the store or in the engine.
 * - Ordered: key order is `compareKeys` (integers numerically, text by code point / binary collation),
 *   whatever collation the store declares for the key columns.
 * - Unique keys: one record per key. A connector refuses, with a ConnectorError naming the replica, table
 *   and columns, a key its store does not guarantee unique (no primary key or unique index made of key
 *   columns), on the first call that names the shape; where the store cannot tell (a view), it checks the
 *   rows instead and names a duplicate key it finds.
 * - Range checksums equal the checksum of the fingerprints the connector streams for the same range.
 * - Read-only reads: no method but `applyWrites` changes the store.
 * - Conditional writes: `applyWrites` writes a key only if its current fingerprint (or absence) equals
 *   `expected`, atomically with the check; it never overwrites a record changed by someone else.
 *   Idempotent: applying the same write twice has the effect of applying it once (the second is `noop`).
 * - Bounded memory: streaming methods hold at most one batch, never the whole table.
 * - Errors: a store's failure is a ConnectorError on one line, naming the replica, without credentials.
 *
 * Capabilities are either flags with a stated default or optional members: the engine uses a capability
 * when the connector offers it and otherwise does what each one's comment says, so a connector offers only
 * what its store does well.
 */
export interface Connector {
  // ----------------------------------------------------------------------------------- identity and flags

  /** Store kind ("sqlite", "memory", …). */
  readonly kind: string;
  /**
   * True when `checksumRanges` runs in the store, so comparing a range costs a checksum and not its rows:
   * detection then bisects differing ranges. False: the engine streams every replica's fingerprints and
   * merges them. No default: every connector states it.
   */
  readonly pushdown: boolean;
  /**
   * False for stores without key order (hash stores such as Redis). Such a connector is only asked about the
   * full range, streams it in any order, and the engine compares by hash partitions instead of a merge.
   * Default true.
   */
  readonly ordered?: boolean;
  /**
   * True when range reads see only the rows a row filter keeps (`where:`, `--where`, `--min-age`,
   * `--max-age`), while `fetchRecords` and writes reach every row by key. A key its reads list as absent may
   * then be held outside the filter (a row whose filtered column differs from another replica's): the engine
   * reads such keys by key before deciding, so a row that left the filter is updated, never deleted as
   * missing. Default false.
   */
  readonly filtered?: boolean;
  /** Work done so far; the engine reads it into run statistics. */
  readonly stats: ConnectorStats;

  // ------------------------------------------------------------------------------------------------ reads

  /** The table's columns. Throws a ConnectorError when the table does not exist. */
  describe(): Promise<TableDescription>;

  /** Rows in the range. */
  count(shape: RecordShape, range: KeyRange): Promise<number>;

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

  /** The full records of those keys that exist, in any order. */
  fetchRecords(shape: RecordShape, keys: readonly Key[]): Promise<StoredRecord[]>;

  // ----------------------------------------------------------------------------------------------- writes

  /** Applies conditional writes (see the contract above); one outcome per write, in order. */
  applyWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<WriteOutcome[]>;

  /**
   * What `applyWrites` would run for each write, as text in the store's own language with the values
   * inlined (SQL statements in the table's dialect, Redis commands), one entry per write, in order: the
   * statement(s) for that key alone (a batch groups the same kinds over many keys), with the condition
   * they run under, as a WHERE clause or a comment line (`-- ` in SQL, `# ` for Redis). Reads at most the
   * records written (to render what a write keeps of them); never writes. For `repair --print`.
   */
  printWrites(shape: RecordShape, writes: readonly ConditionalWrite[]): Promise<string[]>;

  /** Releases what the connector holds (connections it was given included). Safe to call twice. */
  close(): Promise<void>;

  // ------------------------------------------------------------------------------- optional capabilities

  /**
   * A cheap estimate of the rows in the whole table (for sizing partitions and progress), where an exact
   * count would cost a pass over the store (Redis: DBSIZE-based). Without it the engine uses `count` over the
   * full range.
   */
  estimateCount?(shape: RecordShape): Promise<number>;

  /**
   * The least and greatest key in the range, found without a pass over its rows (index probes), or null
   * when the range holds no rows or no index finds them. Lets the engine cut ranges of an integer key by
   * arithmetic; without it (or when it answers null) the engine asks `splitRange` for split points.
   */
  keyBounds?(shape: RecordShape, range: KeyRange): Promise<{ first: Key; last: Key } | null>;

  /**
   * Why this shape's detection is slower than full pushdown (columns fingerprinted in the engine, a key
   * order no index serves), one sentence each naming the replica; empty when nothing limits it. The engine
   * prints them before a scan. Without it the engine says nothing.
   */
  pushdownLimits?(shape: RecordShape): Promise<string[]>;

  /**
   * A batched `streamFingerprints`: key and fingerprint of every row in any of `ranges` (ascending and
   * disjoint, as detection asks), in key order, in batches of at most `batchSize`, with as few round trips as
   * the store allows; the same pairs as streaming each range in turn. Only for ordered stores. Without it
   * detection lists each differing range with its own `streamFingerprints` call.
   */
  streamFingerprintsIn?(
    shape: RecordShape,
    ranges: readonly KeyRange[],
    batchSize: number,
  ): AsyncIterable<readonly KeyFingerprint[]>;

  /**
   * Store-native row hashes (see NativeHashCapability). Only for ordered stores that also offer
   * `streamFingerprintsIn`. Without it detection compares canonical checksums only.
   */
  readonly nativeHash?: NativeHashCapability;

  /**
   * Comparison of two replicas inside the store (see PairDiffCapability). Without it (or when it declines
   * a pair) detection compares checksums and fingerprints as above.
   */
  readonly pairDiff?: PairDiffCapability;

  /**
   * Checksums and listings by key-hash bucket (see KeyBucketsCapability). Without it detection reads key
   * ranges, sorted by the store where no index serves the key order.
   */
  readonly keyBuckets?: KeyBucketsCapability;

  /**
   * The record `fetchRecords` would return for a row this store's change feed delivered (`RowImage`: the
   * store's text of each column), computed without asking the store; undefined when the image cannot give
   * exactly that record (a column whose text depends on session settings, or missing from the image). A
   * targeted check then compares the image instead of fetching the key, and fetches it when the replicas
   * differ. Without it every changed key is fetched.
   */
  recordFromImage?(shape: RecordShape, image: RowImage): Promise<StoredRecord | undefined>;
}

/** A store could not be reached, answered with an error, or holds what the dataset cannot use. Messages never contain credentials. */
export class ConnectorError extends Error {
  override readonly name = "ConnectorError";
  /**
   * True when the store did not answer within its deadline (`timeouts`): it is unavailable, and what it
   * did with the call in flight (a write's commit) is unknown. Callers stop rather than retry or record an
   * outcome: a later run settles what was left pending.
   */
  readonly timedOut: boolean;

  constructor(message: string, options: { readonly timedOut?: boolean } = {}) {
    super(message);
    this.timedOut = options.timedOut ?? false;
  }
}
