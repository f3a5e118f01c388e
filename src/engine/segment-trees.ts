/**
 * Segment trees in a pass: re-hashing segments into each replica's Merkle tree (state/segment-tree-store),
 * descending the trees to the segments that differ, and the trees as a status view. Opens no store; reads
 * replicas through `Connector.checksumRanges` only.
 */
import { combineChecksums, type RangeChecksum } from "../core/fingerprint.js";
import { integerSplit, rangesBetween } from "../core/key-split.js";
import type { Key, KeyRange, RecordShape } from "../core/model.js";
import { childrenOf, compareNodes, leafHash, treeHeight } from "../core/segment-tree.js";
import type { KnownChecksums } from "../detect/detect-divergences.js";
import type { DirtySegment, StateStore } from "../state/state-store.js";
import type { OpenReplica } from "./run-context.js";
import { segmentsOf } from "./segments.js";

/** Segments hashed per `checksumRanges` call and per tree update: what one step holds in memory. */
export const HASH_CHUNK = 256;

/** At most this many parts a segment is read in (`hashSegments`' `parts`). */
export const MAX_SEGMENT_PARTS = 64;

/** What re-hashing segments found, per replica. */
export interface HashedSegments {
  /** Each replica's new leaf hash of each segment hashed. */
  readonly leaves: ReadonlyMap<string, ReadonlyMap<number, string>>;
  /** When the earliest replica's read began: a mark after it may describe a change the read missed. */
  readonly readAt: number;
  /** The parts each segment hashed whose replicas differ was read in (the segment's range when not cut). */
  readonly parts: ReadonlyMap<number, readonly KeyRange[]>;
  /** Each replica's checksum of each part, by segment (`parts` order): a run's first round. */
  readonly sums: ReadonlyMap<string, ReadonlyMap<number, readonly RangeChecksum[]>>;
}

/**
 * The first checksum round of a run over `segments` (adjacent, ascending): their parts and every replica's
 * checksums of them as `hashed` read them. Undefined when a segment was not hashed on every replica.
 */
export function firstRoundOf(
  hashed: HashedSegments,
  segments: readonly number[],
): KnownChecksums | undefined {
  const ranges: KeyRange[] = [];
  const sums: Record<string, RangeChecksum[]> = {};
  for (const s of segments) {
    const parts = hashed.parts.get(s);
    if (!parts) return undefined;
    ranges.push(...parts);
  }
  for (const [replica, bySegment] of hashed.sums) {
    const mine: RangeChecksum[] = [];
    for (const s of segments) {
      const got = bySegment.get(s);
      if (!got) return undefined;
      mine.push(...got);
    }
    sums[replica] = mine;
  }
  return { ranges, sums };
}

/**
 * A segment cut into about `parts` ranges of equal width (a bounded range of one integer key: arithmetic,
 * no store asked), or the segment whole. Its checksum is their checksums combined, so the leaf is the same.
 */
export function segmentParts(shape: RecordShape, range: KeyRange, parts: number): KeyRange[] {
  const splits = parts > 1 ? integerSplit(shape, range, Math.min(parts, MAX_SEGMENT_PARTS)) : undefined;
  return splits?.length ? rangesBetween(range, splits) : [range];
}

/**
 * Reads the checksum of each of `segments` on every replica (replicas at once unless `serial`) and puts it into that
 * replica's tree (leaves `hashedAt` the time its read began), `HASH_CHUNK` segments at a time. With `parts`,
 * a segment of one integer key is read as that many ranges (`segmentParts`) in the same statement, its leaf
 * their checksums combined — the same leaf — and the parts' checksums are kept, so a run over a segment
 * that differs starts from them instead of reading it again (`firstRoundOf`). Memory: the leaf hashes of the
 * segments hashed (bounded by the dataset's segment count), and the part checksums of those whose replicas
 * differ (and of one chunk).
 */
export async function hashSegments(
  state: StateStore,
  dataset: string,
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  bounds: readonly Key[],
  segments: readonly number[],
  now: () => number,
  options: { readonly serial?: boolean; readonly parts?: number } = {},
): Promise<HashedSegments> {
  const all = segmentsOf(bounds);
  const wanted = [...new Set(segments)].filter((s) => s >= 0 && s < all.length).sort((a, b) => a - b);
  const leaves = new Map<string, Map<number, string>>();
  const parts = new Map(wanted.map((s) => [s, segmentParts(shape, all[s]!, options.parts ?? 1)]));
  const sums = new Map<string, Map<number, RangeChecksum[]>>();
  let readAt = Number.POSITIVE_INFINITY;
  for (const r of replicas) {
    leaves.set(r.name, new Map());
    sums.set(r.name, new Map());
  }
  for (let i = 0; i < wanted.length; i += HASH_CHUNK) {
    const chunk = wanted.slice(i, i + HASH_CHUNK);
    const hashOne = async (r: OpenReplica) => {
      const at = now();
      readAt = Math.min(readAt, at);
      const read: RangeChecksum[] = await r.connector.checksumRanges(
        shape,
        chunk.flatMap((s) => parts.get(s)!),
      );
      let next = 0;
      const hashes = chunk.map((segment) => {
        const got = read.slice(next, next + parts.get(segment)!.length);
        next += got.length;
        sums.get(r.name)!.set(segment, got);
        return { segment, hash: leafHash(combineChecksums(got)) };
      });
      for (const h of hashes) leaves.get(r.name)!.set(h.segment, h.hash);
      await state.putSegmentHashes(dataset, r.name, all.length, hashes, at);
    };
    // Replicas are read at once, as a run reads them (one after the other when `serial`: a dataset below
    // full intensity), a chunk at a time.
    if (options.serial) for (const r of replicas) await hashOne(r);
    else await Promise.all(replicas.map(hashOne));
    // A segment every replica reads alike needs no run: its parts' checksums are dropped (memory: the
    // differing segments' parts, and one chunk's).
    for (const segment of chunk) {
      const hashes = replicas.map((r) => leaves.get(r.name)!.get(segment));
      if (hashes.every((h) => h === hashes[0])) {
        parts.delete(segment);
        for (const r of replicas) sums.get(r.name)!.delete(segment);
      }
    }
  }
  return { leaves, readAt: Number.isFinite(readAt) ? readAt : now(), parts, sums };
}

/** What descending the replicas' trees found. */
export interface TreeComparison {
  /** Every replica's root known, trusted and equal: every segment agrees on every replica. */
  readonly rootsAgree: boolean;
  /** Segments whose leaves every replica knows (and trusts) and that are not all equal. */
  readonly differ: readonly number[];
  /** Segments some replica's tree cannot vouch for (never hashed, or changed since). */
  readonly unknown: readonly number[];
  /** Nodes compared (each across every replica). */
  readonly compared: number;
  /** Levels read from the state store (one call each). */
  readonly reads: number;
}

/**
 * Descends the trees of `replicas` from their roots, a level per state-store call, into the nodes that
 * differ or cannot be trusted: O(d log n) nodes for d differing segments of n when the trees are complete.
 * A node is trusted when every replica knows it and no segment in `stale` lies under it (a change marked
 * after its leaf was hashed).
 */
export async function compareSegmentTrees(
  state: StateStore,
  dataset: string,
  replicas: readonly string[],
  leaves: number,
  stale: ReadonlySet<number>,
): Promise<TreeComparison> {
  const staleSorted = [...stale].sort((a, b) => a - b);
  const staleUnder = (level: number, index: number) => {
    const lo = index * 2 ** level;
    const hi = lo + 2 ** level;
    let a = 0;
    let b = staleSorted.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (staleSorted[m]! < lo) a = m + 1;
      else b = m;
    }
    return a < staleSorted.length && staleSorted[a]! < hi;
  };
  let level = treeHeight(leaves);
  let indexes = [0];
  let compared = 0;
  let reads = 0;
  let rootsAgree = false;
  for (;;) {
    const nodes = await state.getSegmentTreeNodes(dataset, level, indexes);
    reads++;
    const at = new Map<string, string>();
    for (const n of nodes) at.set(`${n.index}:${n.replica}`, n.hash);
    const step = compareNodes(
      indexes.map((index) => ({
        index,
        hashes: staleUnder(level, index) ? [undefined] : replicas.map((r) => at.get(`${index}:${r}`)),
      })),
    );
    compared += indexes.length;
    if (level === treeHeight(leaves)) rootsAgree = !step.differ.length && !step.unknown.length;
    if (level === 0) return { rootsAgree, differ: step.differ, unknown: step.unknown, compared, reads };
    indexes = childrenOf(leaves, level, [...step.differ, ...step.unknown]);
    if (!indexes.length) return { rootsAgree, differ: [], unknown: [], compared, reads };
    level--;
  }
}

/**
 * The first `limit` segments in [from, to), ascending and outside `skip`, whose leaf some replica of
 * `replicas` does not know (never hashed, or forgotten: a key-grain check, a write). Descends from the roots a
 * level per state-store call, keeping per level only the first unknown nodes that can hold such a leaf (an
 * inner node is known only when its children are, so the first leaves' ancestors come first):
 * O((limit + |skip|) log n) nodes read, never the whole tree.
 */
export async function unknownLeaves(
  state: StateStore,
  dataset: string,
  replicas: readonly string[],
  leaves: number,
  window: { readonly from: number; readonly to: number },
  limit: number,
  skip: ReadonlySet<number>,
): Promise<number[]> {
  const from = Math.max(0, window.from);
  const to = Math.min(leaves, window.to);
  if (limit <= 0 || from >= to || !replicas.length) return [];
  // Two more: a node straddling either end of the window may be unknown for leaves outside it.
  const keep = limit + skip.size + 2;
  let level = treeHeight(leaves);
  let indexes = [0];
  for (;;) {
    const known = new Map<number, Set<string>>();
    for (const n of await state.getSegmentTreeNodes(dataset, level, indexes))
      if (replicas.includes(n.replica)) known.set(n.index, (known.get(n.index) ?? new Set()).add(n.replica));
    const unknown = indexes.filter((i) => (known.get(i)?.size ?? 0) < replicas.length);
    if (level === 0) return unknown.filter((s) => !skip.has(s)).slice(0, limit);
    const below = level - 1;
    indexes = childrenOf(leaves, level, unknown.slice(0, keep))
      .filter((i) => (i + 1) * 2 ** below > from && i * 2 ** below < to)
      .slice(0, 2 * keep);
    if (!indexes.length) return [];
    level--;
  }
}

/**
 * The marked segments whose leaves cannot be trusted: a leaf hashed (by `hashed`, at or after its
 * `readAt`) before the mark, or not hashed by it at all (its stored leaf predates a mark made since the
 * marks were planned).
 */
export function staleMarks(marks: readonly DirtySegment[], hashed: HashedSegments | undefined): Set<number> {
  const out = new Set<number>();
  for (const m of marks) {
    const fresh =
      hashed !== undefined &&
      m.markedAt <= hashed.readAt &&
      [...hashed.leaves.values()].every((l) => l.has(m.segment));
    if (!fresh) out.add(m.segment);
  }
  return out;
}

/** The segments of `replica` whose new leaf differs from the one its tree held before (`before`). */
export function changedLeaves(
  before: readonly { replica: string; index: number; hash: string }[],
  hashed: HashedSegments,
): number[] {
  const out = new Set<number>();
  for (const n of before) {
    const now = hashed.leaves.get(n.replica)?.get(n.index);
    if (now !== undefined && now !== n.hash) out.add(n.index);
  }
  return [...out].sort((a, b) => a - b);
}

/** A dataset's segment trees for status views. */
export interface SegmentTreeView {
  readonly segments: number;
  /** Segments marked dirty now. */
  readonly dirty: number;
  /** Marked segments whose leaves were hashed before their mark (the trees cannot vouch for them). */
  readonly stale: number;
  readonly replicas: readonly {
    readonly replica: string;
    /** The root hash; null while a leaf is unknown. */
    readonly root: string | null;
    /** Leaves known, of `segments`. */
    readonly known: number;
    /** When the tree was last complete (root known), ms; null: never. */
    readonly completeAt: number | null;
    /** When a leaf was last hashed, ms. */
    readonly hashedAt: number;
  }[];
  /**
   * True: every replica's root is known, equal to the others and trusted (no stale mark), so every segment
   * agrees as last hashed; false: the roots are known and trusted but differ; null: the trees are incomplete
   * or stale, or there are none.
   */
  readonly agree: boolean | null;
  /** When every replica's tree was last complete at once (the oldest `completeAt`); null: some never was. */
  readonly completeAt: number | null;
}

/** The dataset's segment trees as a view (null when it has no summary). Three or four state-store reads. */
export async function viewSegmentTrees(state: StateStore, dataset: string): Promise<SegmentTreeView | null> {
  const summary = await state.getSegmentSummary(dataset);
  if (!summary) return null;
  const segments = summary.bounds.length + 1;
  const heads = (await state.listSegmentTrees(dataset)).filter((h) => h.leaves === segments);
  const marks = await state.listDirtySegments(dataset);
  const leaves = marks.length
    ? await state.getSegmentTreeNodes(
        dataset,
        0,
        marks.map((m) => m.segment),
      )
    : [];
  const stale = marks.filter((m) => leaves.some((n) => n.index === m.segment && n.hashedAt < m.markedAt));
  const roots = heads.map((h) => h.root);
  const complete = heads.length > 1 && roots.every((r) => r !== undefined) && !stale.length;
  return {
    segments,
    dirty: marks.length,
    stale: stale.length,
    replicas: heads.map((h) => ({
      replica: h.replica,
      root: h.root ?? null,
      known: h.known,
      completeAt: h.completeAt ?? null,
      hashedAt: h.hashedAt,
    })),
    agree: complete ? roots.every((r) => r === roots[0]) : null,
    completeAt:
      heads.length && heads.every((h) => h.completeAt !== undefined)
        ? Math.min(...heads.map((h) => h.completeAt!))
        : null,
  };
}
