/** How a run cuts a dataset's key space into segments, and takes them a group at a time. */
import { FULL_RANGE, type Key, type KeyRange, type RecordShape } from "../core/model.js";
import { bucketedReason } from "../detect/bucketed-diff.js";
import { arithmeticSplit, rangesBetween } from "../detect/detect-divergences.js";
import { inStorePair } from "../detect/paired-diff.js";
import type { OpenReplica } from "./run-context.js";

/** Ranges between consecutive bounds: [null, b0), [b0, b1), …, [bn, null). */
export function segmentsOf(bounds: readonly Key[]): KeyRange[] {
  return rangesBetween(FULL_RANGE, bounds);
}

/**
 * Bounds that cut a dataset's key space into segments of about `rowsPerSegment` rows, split on its
 * largest replica (none: one segment, also when a replica has no key order or no index serving it on
 * some replica, where detection compares key-hash buckets): by arithmetic on an integer
 * key whose keys are not sparse in their span, otherwise at rows the store picks (with `inStore`, two replicas
 * compared inside their store are cut on the first, the only one counted). Runs over large tables
 * go segment by segment, so what they hold in memory is bounded by the segment, not the table.
 */
export async function segmentBounds(
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  rowsPerSegment: number,
  options: { inStore?: boolean } = {},
): Promise<Key[]> {
  if (replicas.some((r) => r.connector.ordered === false)) return [];
  // Compared by key-hash buckets: a key range would cost a sort or a scan on some replica.
  if ((await bucketedReason(shape, replicas)) !== undefined) return [];
  // Two replicas compared inside their store: the comparison reads both whole whatever the split points, so
  // the first replica's rows cut the segments and the other is not counted (a pass over its table).
  const paired = options.inStore === true && typeof (await inStorePair(shape, replicas)) === "object";
  let largest: OpenReplica | undefined;
  let rows = 0;
  const counted = paired ? replicas.slice(0, 1) : replicas;
  // Every replica at once: behind a slow link, counting them in turn cost their round trips end to end.
  const counts = await Promise.all(
    counted.map(
      async (r) => (await r.connector.estimateCount?.(shape)) ?? (await r.connector.count(shape, FULL_RANGE)),
    ),
  );
  for (const [i, r] of counted.entries()) {
    const n = counts[i]!;
    if (n >= rows) {
      rows = n;
      largest = r;
    }
  }
  const parts = Math.ceil(rows / rowsPerSegment);
  if (!largest || parts <= 1) return [];
  return (
    (await arithmeticSplit(shape, largest.connector, FULL_RANGE, parts, rows)) ??
    largest.connector.splitRange(shape, FULL_RANGE, parts)
  );
}

/** At most this many segments are scanned as one while differences are sparse. */
export const MAX_SEGMENT_GROUP = 8;

/** A run of adjacent segments `[from, to)` scanned as one range. */
export interface SegmentGroup {
  readonly range: KeyRange;
  readonly from: number;
  readonly to: number;
}

/**
 * The segments of a run from `start` on, taken a group at a time: one at first, then as many adjacent
 * segments (up to 8) as the last group's rate of divergences per segment fits into `budget` divergences. A
 * mostly equal table then costs a few passes instead of one per segment, which matters where a key range is
 * not stored together (random keys such as UUIDs: each segment's rows are spread over the whole table).
 * Memory stays bounded by the configuration: a group never spans more than 8 segments, and one that found
 * many divergences drops the next back to a single segment. `found` tells how many divergences the group
 * just scanned held.
 */
export function* segmentGroups(
  segments: readonly KeyRange[],
  budget: number,
  found: () => number,
  start = 0,
): Iterable<SegmentGroup> {
  let take = 1;
  for (let from = start; from < segments.length; ) {
    const to = Math.min(segments.length, from + take);
    const range = to - from === 1 ? segments[from]! : { lo: segments[from]!.lo, hi: segments[to - 1]!.hi };
    yield { range, from, to };
    const perSegment = found() / (to - from);
    take = Math.max(
      1,
      Math.min(MAX_SEGMENT_GROUP, perSegment === 0 ? MAX_SEGMENT_GROUP : Math.floor(budget / perSegment)),
    );
    from = to;
  }
}

/**
 * How many differing keys a range of one integer key lists, estimated from the start of a listing that
 * overflowed (`listed` keys from `first` to `last`, in key order) at that rate up to the range's end, or
 * undefined (another key, an open end, keys that are not integers): a range whose keys differ evenly is then
 * cut into pieces of about half a budget at once instead of one a budget of its rows (`cutDenseRange`).
 */
export function listedEstimate(
  shape: RecordShape,
  range: KeyRange,
  reached: { readonly first: Key; readonly last: Key; readonly listed: number } | undefined,
): number | undefined {
  if (!reached || !range.hi || shape.key.length !== 1 || shape.key[0]!.type !== "integer") return undefined;
  try {
    const first = BigInt(reached.first[0] as string);
    const last = BigInt(reached.last[0] as string);
    const hi = BigInt(range.hi[0] as string);
    if (last < first || hi <= first) return undefined;
    const estimate = (Number(hi - first) * reached.listed) / Number(last - first + 1n);
    return Number.isFinite(estimate) ? Math.max(reached.listed, Math.ceil(estimate)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A range that held more differing keys than a run holds at once, cut into about `rows / budget` adjacent
 * pieces (at least two) on its largest replica: by arithmetic on an integer key, otherwise at rows the store
 * picks. Given how many differing keys the range lists (`listed`), into about `2 * listed / budget` pieces
 * instead (at most one a row): each then holds about half a budget where differences are spread evenly,
 * and a piece that still holds more is cut again; an `estimated` count (`listedEstimate`) never cuts it
 * into more pieces than `rows / budget`. Given the rows the run already expects in the range
 * (`expectedRows`: its segments were cut by row count), a range of one integer key is cut by arithmetic on
 * that figure and no replica is counted (two `count(*)` passes over the range saved per cut); the pieces
 * still tile the range, so a poor estimate only moves where they meet. Empty when the range cannot be cut
 * (the store finds no split point in it).
 */
export async function cutDenseRange(
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  range: KeyRange,
  budget: number,
  options: { listed?: number; estimated?: boolean; expectedRows?: number } = {},
): Promise<{ pieces: KeyRange[]; rows: number }> {
  if (!(await rangesCut(replicas, shape))) return { pieces: [], rows: 0 };
  const { listed, estimated = false, expectedRows } = options;
  const each = Math.max(1, budget);
  const partsOf = (rows: number) =>
    Math.max(
      2,
      listed === undefined
        ? Math.ceil(rows / each)
        : Math.min(estimated ? Math.ceil(rows / each) : rows, Math.ceil((2 * listed) / each)),
    );
  const first = replicas[0];
  if (expectedRows !== undefined && expectedRows > 1 && first) {
    // Any replica closes an open end: the pieces are cut from the range itself, whose ends stay open.
    const keys = await arithmeticSplit(shape, first.connector, range, partsOf(expectedRows), expectedRows);
    if (keys) return { pieces: keys.length ? rangesBetween(range, keys) : [], rows: expectedRows };
  }
  let largest: OpenReplica | undefined;
  let rows = 0;
  for (const r of replicas) {
    const n = await r.connector.count(shape, range);
    if (n >= rows) {
      rows = n;
      largest = r;
    }
  }
  if (!largest || rows <= 1) return { pieces: [], rows };
  const parts = partsOf(rows);
  const keys =
    (await arithmeticSplit(shape, largest.connector, range, parts, rows)) ??
    (await largest.connector.splitRange(shape, range, parts));
  return { pieces: keys.length ? rangesBetween(range, keys) : [], rows };
}

/**
 * Whether the dataset's key space can be cut into ranges detection compares as cheaply as the whole: every
 * replica ordered, and no key compared by key-hash buckets (a range would cost a sort or a scan).
 */
export async function rangesCut(replicas: readonly OpenReplica[], shape: RecordShape): Promise<boolean> {
  if (replicas.some((r) => r.connector.ordered === false)) return false;
  return (await bucketedReason(shape, replicas)) === undefined;
}
