/** Detection by key-hash buckets, for replicas whose key order no index serves: checksums per bucket, bisection by refining the modulus. */
import type { Connector, KeyBucketsCapability } from "../connectors/connector.js";
import type { RowHash } from "../connectors/row-hash.js";
import type { Observation } from "../core/classify.js";
import { checksumsEqual, type RangeChecksum } from "../core/fingerprint.js";
import { MAX_BUCKET_MODULUS } from "../core/key-bucket.js";
import { type KeyFingerprint, keyId, type RecordShape } from "../core/model.js";
import { OrderError } from "./merge-streams.js";
import { partitionedDiff } from "./partitioned-diff.js";

/** A replica as detection sees it (DetectReplica, without importing detection's entry). */
interface BucketReplica {
  readonly name: string;
  readonly connector: Connector;
}

/**
 * Why detection compares these replicas by key-hash buckets, or undefined when it does not: every replica
 * offers `keyBuckets` with pushdown and is ordered, and at least one has no index serving the key order (so
 * each key range would cost a sort or a scan of the table there). The sentence names those replicas.
 */
export async function bucketedReason(
  shape: RecordShape,
  replicas: readonly BucketReplica[],
): Promise<string | undefined> {
  if (replicas.length < 2) return undefined;
  const caps: KeyBucketsCapability[] = [];
  for (const r of replicas) {
    if (!r.connector.keyBuckets || !r.connector.pushdown || r.connector.ordered === false) return undefined;
    caps.push(r.connector.keyBuckets);
  }
  const unserved: string[] = [];
  for (const [i, c] of caps.entries()) {
    try {
      if (!(await c.orderServed(shape))) unserved.push(replicas[i]!.name);
    } catch {
      // A shape the store cannot bucket (fingerprinted in the engine) keeps to key ranges.
      return undefined;
    }
  }
  if (unserved.length === 0) return undefined;
  return (
    `detection compares key-hash buckets, one pass per round and no sort: no index serves the key order ` +
    `(binary, Concord's) on ${unserved.join(", ")}, and bucketing by the hash of each key's canonical text ` +
    `is the same under every collation`
  );
}

/** Tuning, as in DetectOptions. */
export interface BucketedOptions {
  readonly total: number;
  readonly segmentRows: number;
  readonly maxSegments: number;
  readonly fanout: number;
  readonly leafRows: number;
  readonly batchSize: number;
  readonly serial: boolean;
  readonly progress: (rows: number) => void;
  /**
   * "native" when every replica's native hash signature agrees: buckets and rows by the store's cheaper
   * native hashes (observations then carry native hashes, as after a native listing).
   */
  readonly hash: RowHash;
}

/** Rows listed per statement (each statement is one pass over every replica's table). */
const LIST_ROWS = 65_536;

/**
 * Yields an Observation for every key that is absent somewhere or whose fingerprints differ, comparing
 * bucket checksums at a modulus sized like the first round's segments, then splitting each differing bucket
 * `fanout` ways (modulus × fanout) until it holds at most `leafRows` rows on every replica; such buckets are
 * listed (key and canonical fingerprint, any order) and compared in memory, a bounded group at a time.
 * Exact: bucket membership depends only on the key's canonical text, the same in every store. Within a
 * group, observations come in key order.
 */
export async function* bucketedDiff(
  shape: RecordShape,
  replicas: readonly BucketReplica[],
  options: BucketedOptions,
): AsyncIterable<Observation[]> {
  if (options.total === 0) return;
  const caps = replicas.map((r) => r.connector.keyBuckets!);
  const each = async <R>(fn: (c: KeyBucketsCapability) => Promise<R>): Promise<R[]> => {
    if (!options.serial) return Promise.all(caps.map(fn));
    const out: R[] = [];
    for (const c of caps) out.push(await fn(c));
    return out;
  };
  let modulus = Math.min(options.maxSegments, Math.max(1, Math.ceil(options.total / options.segmentRows)));
  let buckets = Array.from({ length: modulus }, (_, i) => i);
  while (buckets.length > 0) {
    const m = modulus;
    const current = buckets;
    const sums: RangeChecksum[][] = await each((c) => c.checksumBuckets(shape, m, current, options.hash));
    const leaves: { bucket: number; rows: number }[] = [];
    const splits: number[] = [];
    const finer = m * options.fanout;
    for (let i = 0; i < current.length; i++) {
      let rows = 0;
      let equal = true;
      const first = sums[0]![i]!;
      for (const s of sums) {
        rows = Math.max(rows, s[i]!.count);
        if (!checksumsEqual(first, s[i]!)) equal = false;
      }
      if (equal) options.progress(rows);
      else if (rows <= options.leafRows || finer > MAX_BUCKET_MODULUS)
        leaves.push({ bucket: current[i]!, rows });
      else splits.push(current[i]!);
    }
    for (const group of groupByRows(leaves, LIST_ROWS)) {
      const streams = replicas.map((r, i) => ({
        name: r.name,
        batches: once(r.name, caps[i]!.streamBuckets(shape, m, group, options.hash, options.batchSize)),
      }));
      let rows = 0;
      for await (const batch of partitionedDiff(shape, streams, {
        parts: 1,
        batchSize: options.batchSize,
        onRow: () => rows++,
      })) {
        yield batch;
      }
      options.progress(Math.ceil(rows / replicas.length));
    }
    // Bucket b at modulus m is buckets b + i·m at modulus m·fanout.
    buckets = splits.flatMap((b) => Array.from({ length: options.fanout }, (_, i) => b + i * m));
    modulus = finer;
  }
}

/**
 * `batches`, failing on a key listed twice: the store promised unique keys (a view checked at first use can
 * gain a duplicate during the run), and a listing that silently kept one of them would hide a row.
 */
async function* once(
  name: string,
  batches: AsyncIterable<readonly KeyFingerprint[]>,
): AsyncIterable<readonly KeyFingerprint[]> {
  const seen = new Set<string>();
  for await (const batch of batches) {
    for (const { key } of batch) {
      const id = keyId(key);
      if (seen.has(id))
        throw new OrderError(
          `duplicate key ${JSON.stringify(key)} in replica ${name}: key columns must be unique (back them with a primary key or unique index)`,
        );
      seen.add(id);
    }
    yield batch;
  }
}

/** Buckets in groups of about `rows` rows (a bucket larger than that is a group of its own). */
function* groupByRows(leaves: readonly { bucket: number; rows: number }[], rows: number): Iterable<number[]> {
  let group: number[] = [];
  let held = 0;
  for (const leaf of leaves) {
    if (group.length > 0 && held + leaf.rows > rows) {
      yield group;
      group = [];
      held = 0;
    }
    group.push(leaf.bucket);
    held += leaf.rows;
  }
  if (group.length > 0) yield group;
}
