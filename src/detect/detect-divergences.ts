/** Finds the keys whose replicas differ, reading as little as it can: range checksums, bisection, then key lists. */

import type { Connector, NativeHashCapability } from "../connectors/connector.js";
import type { Observation } from "../core/classify.js";
import { checksumsEqual, type RangeChecksum } from "../core/fingerprint.js";
import { integerSplit, rangesBetween } from "../core/key-split.js";
import {
  compareKeys,
  FULL_RANGE,
  type Key,
  type KeyFingerprint,
  type KeyRange,
  type RecordShape,
} from "../core/model.js";
import { bucketedDiff, bucketedReason } from "./bucketed-diff.js";
import { mergeStreams } from "./merge-streams.js";
import { inStorePair, pairedObservations } from "./paired-diff.js";
import { partitionedDiff } from "./partitioned-diff.js";

export { integerSplit, rangesBetween };

/** A replica of the dataset under detection. */
export interface DetectReplica {
  readonly name: string;
  readonly connector: Connector;
}

/** Tuning of detection. Defaults suit tables from a few rows to tens of millions. */
export interface DetectOptions {
  /** Rows per range in the first checksum round (default 128): the segment size. */
  readonly segmentRows?: number;
  /** Upper bound on first-round ranges (default 16384). */
  readonly maxSegments?: number;
  /** Sub-ranges each differing range is split into per round (default 16). */
  readonly fanout?: number;
  /** A differing range with at most this many rows (on every replica) is compared key by key (default 64). */
  readonly leafRows?: number;
  /** Observations per yielded batch and rows per streamed batch (default 1000). */
  readonly batchSize?: number;
  /** Keys per hash partition when a replica has no key order (default 200,000): bounds memory there. */
  readonly partitionRows?: number;
  /** Restrict detection to this range (default: the whole key space). */
  readonly range?: KeyRange;
  /**
   * Told the exact row count of a replica (within `range`) whenever detection learns it as a by-product
   * (it counts ordered replicas first; an unordered replica is read whole), so callers need not count again.
   */
  readonly onReplicaRows?: (name: string, rows: number) => void;
  /**
   * Ask the replicas one after the other instead of all at once (default false): slower, but a store
   * serving several replicas, or an application beside them, never sees more than one of Concord's
   * queries at a time. `serve` uses it below full intensity.
   */
  readonly serial?: boolean;
  /**
   * The caller's estimate of the rows in the range (a segment of a run holds about `checkpointRows`). For a
   * single integer key with pushdown on every replica, detection then sizes its first round from it instead
   * of counting every replica first, and reports exact counts (`onReplicaRows`) from that round.
   */
  readonly expectedRows?: number;
  /**
   * Told how many rows (of the largest replica) have been settled so far, and the total; `estimate` is true
   * while the total is an estimate (an expected row count, or a store's cheap estimate), not a count.
   */
  readonly onProgress?: (done: number, total: number, estimate: boolean) => void;
  /**
   * Compare two replicas inside their store when their connectors can (`pairDiff`: two SQLite files, two
   * PostgreSQL tables one connection reaches), instead
   * of by range checksums (default true). The result is the same; false is for measuring the difference.
   */
  readonly inStore?: boolean;
  /**
   * The first checksum round, already read (a dirty-segment pass's segment trees hashed these ranges just
   * before): ranges that cut `range` exactly (ascending, disjoint, covering it) and each replica's
   * canonical `Connector.checksumRanges` of them, by replica name. Detection then neither counts nor reads
   * its first round (nor compares in the store): it compares these, and splits, checksums and lists only the
   * ranges that differ in them. Rows changed since they were read are seen by a later pass, as if this
   * detection had read its first round then. Ignored when a replica has no order or no entry.
   */
  readonly firstRound?: KnownChecksums | undefined;
}

/** Range checksums read before detection: see `DetectOptions.firstRound`. */
export interface KnownChecksums {
  readonly ranges: readonly KeyRange[];
  readonly sums: Readonly<Record<string, readonly RangeChecksum[]>>;
}

/** A differing range to list key by key, with its row count (on the replica holding the most). */
interface Leaf {
  readonly range: KeyRange;
  readonly rows: number;
}

/** A round is dense when at least 1 in DENSE_DIVISOR of its ranges differ. */
const DENSE_DIVISOR = 2;
/** In a dense round, differing ranges of up to this many rows are listed whole instead of split. */
const DENSE_LIST_ROWS = 4096;
/**
 * A differing range that only the store can split is listed instead when it holds at most this many
 * leaves' worth of rows: listing it with the round's other leaves costs less than a split query for it.
 */
const UNSPLIT_LEAVES = 4;
/** Rows listed per call to a store when listing many ranges (bounds what one statement returns). */
const LIST_ROWS = 4096;

/** Consecutive runs of `leaves` holding at most `rows` rows each (a larger leaf alone). */
function* groupByRows(leaves: readonly Leaf[], rows: number): Iterable<KeyRange[]> {
  let group: KeyRange[] = [];
  let held = 0;
  for (const leaf of leaves) {
    if (group.length > 0 && held + leaf.rows > rows) {
      yield group;
      group = [];
      held = 0;
    }
    group.push(leaf.range);
    held += leaf.rows;
  }
  if (group.length > 0) yield group;
}

/** `work` for every replica, in replica order: all at once, or one after the other when `serial`. */
async function eachReplica<T>(
  replicas: readonly DetectReplica[],
  serial: boolean | undefined,
  work: (r: DetectReplica) => Promise<T>,
): Promise<T[]> {
  if (!serial) return Promise.all(replicas.map(work));
  const out: T[] = [];
  for (const r of replicas) out.push(await work(r));
  return out;
}

/** Keys must fill at least 1 in SPARSEST of their span for an equal-width cut to give useful ranges. */
const SPARSEST = 64;

/**
 * Split points cutting a range of a single integer key into about `parts` ranges of equal width, found by
 * arithmetic: a range open on a side is first closed with the store's least and greatest key
 * (`keyBounds`). Undefined when the key is not one integer, the store cannot bound the range cheaply, or
 * the `rows` it holds are too sparse in their span for equal widths to mean roughly equal row counts (keys
 * far apart): the caller then asks the store for split points.
 */
export async function arithmeticSplit(
  shape: RecordShape,
  connector: Connector,
  range: KeyRange,
  parts: number,
  rows: number,
): Promise<Key[] | undefined> {
  if (shape.key.length !== 1 || shape.key[0]!.type !== "integer") return undefined;
  let closed = range;
  if (!range.lo || !range.hi) {
    const bounds = await connector.keyBounds?.(shape, range);
    if (!bounds || bounds.first[0] === null || bounds.last[0] === null) return undefined;
    closed = { lo: range.lo ?? bounds.first, hi: range.hi ?? [(BigInt(bounds.last[0]!) + 1n).toString()] };
  }
  if (closed.lo![0] === null || closed.hi![0] === null) return undefined;
  try {
    const span = BigInt(closed.hi![0]!) - BigInt(closed.lo![0]!);
    if (span > BigInt(Math.max(1, rows)) * BigInt(SPARSEST)) return undefined;
  } catch {
    return undefined;
  }
  return integerSplit(shape, closed, parts);
}

/** Lists the key/hash pairs of ascending, disjoint ranges of one replica. */
type Lister = (ranges: readonly KeyRange[]) => AsyncIterable<readonly KeyFingerprint[]>;

/**
 * Every replica's native hash, when every replica offers one and all return the same non-null signature
 * for the shape (replicas in the same kind of store); otherwise undefined.
 */
async function agreedNativeHash(
  shape: RecordShape,
  replicas: readonly DetectReplica[],
): Promise<NativeHashCapability[] | undefined> {
  const hashes: NativeHashCapability[] = [];
  for (const { connector } of replicas) {
    if (!connector.nativeHash) return undefined;
    hashes.push(connector.nativeHash);
  }
  const signatures = await Promise.all(hashes.map((h) => h.signature(shape)));
  const first = signatures[0];
  return first != null && signatures.every((s) => s === first) ? hashes : undefined;
}

/** Each replica's batched listing (`streamFingerprintsIn`), or undefined when one of them has none. */
function batchedListers(
  shape: RecordShape,
  replicas: readonly DetectReplica[],
  batchSize: number,
): Lister[] | undefined {
  const out: Lister[] = [];
  for (const { connector } of replicas) {
    const streamIn = connector.streamFingerprintsIn;
    if (!streamIn) return undefined;
    out.push((ranges) => streamIn.call(connector, shape, ranges, batchSize));
  }
  return out;
}

/** Each replica's sums of `known` in replica order, when every replica has one for every range. */
function knownFirstRound(
  replicas: readonly DetectReplica[],
  known: KnownChecksums | undefined,
): (readonly RangeChecksum[])[] | undefined {
  if (!known || known.ranges.length === 0) return undefined;
  const out: (readonly RangeChecksum[])[] = [];
  for (const r of replicas) {
    const sums = known.sums[r.name];
    if (!sums || sums.length !== known.ranges.length) return undefined;
    out.push(sums);
  }
  return out;
}

/**
 * Yields batches of Observations (presence and fingerprint per replica) for exactly the keys that differ.
 *
 * With pushdown on every replica: the key space is cut into segments of about `segmentRows` rows (split
 * points from the largest replica), each replica checksums every segment in the store, equal segments are
 * done, differing ones are split `fanout` ways and checksummed again, and only ranges of at most `leafRows`
 * rows are listed key by key (when most of a round's ranges differ, modest ranges are listed at once instead
 * of split again). Otherwise every replica streams key/fingerprint pairs in key order and the streams are
 * merged. Either way memory is bounded by the segment and batch sizes.
 *
 * An observation's fingerprints tell which replicas differ, and are comparable only within it: replicas in
 * the same kind of store are listed with store-native row hashes. Callers fetch the records for canonical
 * fingerprints and values.
 */
export async function* detectDivergences(
  shape: RecordShape,
  replicas: readonly DetectReplica[],
  options: DetectOptions = {},
): AsyncIterable<Observation[]> {
  const segmentRows = options.segmentRows ?? 128;
  const maxSegments = options.maxSegments ?? 16384;
  const fanout = Math.max(2, options.fanout ?? 16);
  const leafRows = Math.max(1, options.leafRows ?? 64);
  const batchSize = options.batchSize ?? 1000;
  const whole = options.range ?? FULL_RANGE;

  const unordered = replicas.some((r) => r.connector.ordered === false);
  const given = unordered ? undefined : knownFirstRound(replicas, options.firstRound);
  const pair = unordered || given ? undefined : await inStorePair(shape, replicas, options.inStore !== false);
  if (pair !== undefined && typeof pair !== "string") {
    // Compared inside the store: the first replica's rows are counted there, and the other's follow from
    // what differs.
    const [a, b] = replicas as readonly [DetectReplica, DetectReplica];
    let rows = 0;
    let onlyHere = 0;
    let onlyThere = 0;
    yield* pairedObservations(
      pair,
      [a.name, b.name],
      whole,
      batchSize,
      (n) => {
        rows = n;
        options.onProgress?.(0, n, true);
      },
      (here, there) => {
        onlyHere += here;
        onlyThere += there;
      },
    );
    const other = rows - onlyHere + onlyThere;
    options.onReplicaRows?.(a.name, rows);
    options.onReplicaRows?.(b.name, other);
    const total = Math.max(rows, other);
    options.onProgress?.(total, total, false);
    return;
  }
  // Given an estimate for a range of an integer key, nothing is counted up front: the first checksum round
  // counts every replica's rows as a by-product.
  const estimated =
    !given &&
    options.expectedRows !== undefined &&
    !unordered &&
    replicas.every((r) => r.connector.pushdown) &&
    shape.key.length === 1 &&
    shape.key[0]!.type === "integer";
  // An unordered replica is read whole anyway; exact counts would cost an extra pass over it.
  const counts = given
    ? given.map((sums) => sums.reduce((n, c) => n + c.count, 0))
    : estimated
      ? replicas.map(() => Math.max(1, options.expectedRows!))
      : await eachReplica(replicas, options.serial, (r) =>
          unordered && r.connector.estimateCount
            ? r.connector.estimateCount(shape)
            : r.connector.count(shape, whole),
        );
  let total = Math.max(0, ...counts);
  let estimate = estimated || (unordered && replicas.some((r) => !!r.connector.estimateCount));
  // Exact counts of the range (the whole key space, or the segment asked for): callers need not count again.
  if (!unordered && !estimated) {
    for (const [i, r] of replicas.entries()) options.onReplicaRows?.(r.name, counts[i]!);
  }
  let done = 0;
  const progress = (rows: number) => {
    done += rows;
    options.onProgress?.(Math.min(done, total), total, estimate);
  };
  options.onProgress?.(0, total, estimate);

  if (unordered) {
    if (options.range && (options.range.lo || options.range.hi)) {
      throw new Error(
        "detection over a key range needs ordered stores; an unordered replica can only be compared whole",
      );
    }
    let pending = 0;
    const streams = replicas.map((r) => ({
      name: r.name,
      batches: r.connector.streamFingerprints(shape, whole, batchSize),
    }));
    const parts = Math.ceil(total / (options.partitionRows ?? 200_000));
    for await (const batch of partitionedDiff(shape, streams, {
      parts,
      batchSize,
      ...(options.onReplicaRows ? { onStreamRows: options.onReplicaRows } : {}),
      onRow: () => {
        if (++pending === 4096 * replicas.length) {
          progress(pending / replicas.length);
          pending = 0;
        }
      },
    })) {
      yield batch;
    }
    progress(pending / replicas.length);
    return;
  }

  // Given the first round, only its differing ranges are read again: checksums serve every store then.
  if (!given && !replicas.every((r) => r.connector.pushdown)) {
    const streams = replicas.map((r) => ({
      name: r.name,
      batches: r.connector.streamFingerprints(shape, whole, batchSize),
    }));
    let pending = 0;
    for await (const batch of mergeStreams(shape, streams, batchSize, () => {
      if (++pending === 4096) {
        progress(pending);
        pending = 0;
      }
    })) {
      yield batch;
    }
    progress(pending);
    return;
  }

  if (total === 0) return;
  // No index serves the key order somewhere: ranges would sort or scan the table, hash buckets do not.
  if (!given && !whole.lo && !whole.hi && (await bucketedReason(shape, replicas)) !== undefined) {
    yield* bucketedDiff(shape, replicas, {
      total,
      segmentRows,
      maxSegments,
      fanout,
      leafRows,
      batchSize,
      serial: options.serial ?? false,
      progress,
      hash: (await agreedNativeHash(shape, replicas)) ? "native" : "fingerprint",
    });
    return;
  }
  const reference = replicas[counts.indexOf(total)]!;
  const segments = Math.min(maxSegments, Math.max(1, Math.ceil(total / segmentRows)));
  // A range of an integer key is cut by arithmetic; otherwise the store finds split points among its rows.
  let ranges = given
    ? [...options.firstRound!.ranges]
    : rangesBetween(
        whole,
        segments > 1
          ? ((await arithmeticSplit(shape, reference.connector, whole, segments, total)) ??
              (await reference.connector.splitRange(shape, whole, segments)))
          : [],
      );

  // Replicas in the same kind of store can compare (and list) a cheaper store-native row hash; the engine
  // fetches the records of the keys found, so what is reported does not change.
  const native = await agreedNativeHash(shape, replicas);
  const checksum = (i: number, rs: readonly KeyRange[]) =>
    native ? native[i]!.checksumRanges(shape, rs) : replicas[i]!.connector.checksumRanges(shape, rs);
  // How differing ranges are listed key by key: native hashes (cheapest to compute), many ranges per
  // statement, or (undefined) one range at a time.
  const listers: Lister[] | undefined = native
    ? native.map((n) => (rs) => n.streamHashesIn(shape, rs, batchSize))
    : batchedListers(shape, replicas, batchSize);

  let firstRound = true;
  while (ranges.length > 0) {
    const current = ranges;
    const sums: readonly (readonly RangeChecksum[])[] =
      firstRound && given
        ? given
        : await eachReplica(replicas, options.serial, (r) => checksum(replicas.indexOf(r), current));
    if (estimated && firstRound) {
      // The first round's ranges cover the whole range: their counts are the replicas' exact row counts.
      const exact = sums.map((rs) => rs.reduce((n, c) => n + c.count, 0));
      for (const [i, r] of replicas.entries()) options.onReplicaRows?.(r.name, exact[i]!);
      total = Math.max(0, ...exact);
      estimate = false;
    }
    firstRound = false;
    const leaves: Leaf[] = [];
    const splits: { range: KeyRange; rows: number; by: DetectReplica }[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const first = sums[0]![i]!;
      let most = 0;
      let equal = true;
      for (let r = 0; r < replicas.length; r++) {
        const c = sums[r]![i]!;
        if (c.count > sums[most]![i]!.count) most = r;
        if (r > 0 && !checksumsEqual(first, c)) equal = false;
      }
      const rows = sums[most]![i]!.count;
      if (equal) progress(rows);
      else if (rows <= leafRows) leaves.push({ range: ranges[i]!, rows });
      else splits.push({ range: ranges[i]!, rows, by: replicas[most]! });
    }

    // Dense differences (most of the round's ranges differ): splitting would find most sub-ranges differing
    // too, so a differing range of modest size is listed whole with native hashes instead of checksummed
    // again; listing costs about what another checksum round does, and the round after it is saved.
    const dense = native !== undefined && (leaves.length + splits.length) * DENSE_DIVISOR >= ranges.length;
    const next: KeyRange[] = [];
    for (const { range, rows, by } of splits) {
      if (dense && rows <= DENSE_LIST_ROWS) {
        leaves.push({ range, rows });
        continue;
      }
      // A bounded range of one integer key is cut by arithmetic, without asking the store. Any other key
      // would cost a split query per range, one after the other: a range of a few leaves' rows is listed
      // with the round's other leaves instead (one statement per many ranges).
      const arithmetic = integerSplit(shape, range, fanout);
      if (!arithmetic && listers !== undefined && rows <= leafRows * UNSPLIT_LEAVES) {
        leaves.push({ range, rows });
        continue;
      }
      const keys = arithmetic ?? (await by.connector.splitRange(shape, range, fanout));
      // The port allows no split points for a small range; re-checksumming it unsplit would never end.
      if (keys.length === 0) leaves.push({ range, rows });
      else next.push(...rangesBetween(range, keys));
    }

    if (listers && leaves.length > 0) {
      leaves.sort((x, y) =>
        !x.range.lo ? -1 : !y.range.lo ? 1 : compareKeys(shape.key, x.range.lo, y.range.lo),
      );
      // Disjoint ranges in ascending order: their pairs, concatenated, are still in key order. Listed in
      // groups of about LIST_ROWS rows, so a store never returns more than that at once.
      for (const group of groupByRows(leaves, LIST_ROWS)) {
        const streams = replicas.map((r, i) => ({ name: r.name, batches: listers[i]!(group) }));
        let rows = 0;
        for await (const batch of mergeStreams(shape, streams, batchSize, () => rows++)) yield batch;
        progress(rows);
      }
    } else {
      for (const { range } of leaves) {
        const streams = replicas.map((r) => ({
          name: r.name,
          batches: r.connector.streamFingerprints(shape, range, batchSize),
        }));
        let rows = 0;
        for await (const batch of mergeStreams(shape, streams, batchSize, () => rows++)) yield batch;
        progress(rows);
      }
    }
    ranges = next;
  }
}
