/** The SegmentSummaryStore port: what a dataset's last verified whole pass vouches for, and the segments changed since. */
import type { ColumnSpec, Key } from "../core/model.js";

/**
 * A dataset's segment summary: the bounds that cut its key space into segments (fixed once chosen, so the
 * dirty marks of a change feed keep their meaning across passes), when a whole pass last verified every
 * segment equal on every replica, and why the next pass must be whole, if it must.
 */
export interface SegmentSummary {
  readonly dataset: string;
  /** The key columns the bounds are keys of (a changed key invalidates the summary). */
  readonly keyColumns: readonly ColumnSpec[];
  /** Segment i is [bounds[i-1], bounds[i]) (open at both ends), so there are bounds.length + 1 segments. */
  readonly bounds: readonly Key[];
  /** When the last whole pass that found every replica equal began (ms); undefined before the first. */
  readonly verifiedAt: number | undefined;
  /** That pass's run id. */
  readonly runId: string | undefined;
  /**
   * Why the next pass must be whole (a feed's gap, a feed started without a position, no verified pass yet);
   * undefined while the dirty marks cover every change since `verifiedAt`.
   */
  readonly invalid: string | undefined;
  /** When `invalid` was set. */
  readonly invalidAt: number | undefined;
  /** The next segment the background sweep re-verifies although no feed marked it (0 in a new summary). */
  readonly sweepCursor: number;
}

/** One segment a change feed reported a change in, and when it last did. */
export interface DirtySegment {
  readonly segment: number;
  readonly markedAt: number;
  /**
   * How many changed keys the mark lists (key grain: a pass may check just those keys); absent when the
   * whole segment is marked (too many keys, or a mark without keys).
   */
  readonly keys?: number | undefined;
}

/** One changed key a segment's key-grain mark lists, and when it was last marked. */
export interface DirtyKey {
  readonly segment: number;
  readonly key: Key;
  readonly markedAt: number;
}

/**
 * Segment summaries and dirty segments, one summary per dataset.
 *
 * ## Summary
 * `putSegmentSummary` creates or replaces a dataset's summary; when it replaces one whose bounds differ,
 * the dataset's dirty marks are dropped (their segment numbers meant other ranges). `getSegmentSummary`
 * returns it exactly as given. `invalidateSegmentSummary` sets `invalid` and `invalidAt` when the summary
 * is valid (the first reason stays until a verified pass), and does nothing when there is none.
 * `verifySegmentSummary(dataset, runId, startedAt)` records a whole pass that began at `startedAt` and found
 * every replica equal: `verifiedAt` and `runId` are set, `invalid` is cleared only when it was set at or before
 * `startedAt` (a gap during the pass may have hidden a change the pass had already passed), and dirty marks
 * made before `startedAt` are dropped. `deleteSegmentSummary` drops the summary and its marks; idempotent.
 * `moveSweepCursor` sets `sweepCursor` (nothing else); no summary, nothing happens.
 *
 * ## Dirty marks
 * `markSegmentsDirty` records (or moves forward) each segment's `markedAt`; `listDirtySegments` lists a
 * dataset's marks by segment. `clearDirtySegments(dataset, segments, before)` drops the marks of those
 * segments made at or before `before` only: a change marked while a pass was checking the segment stays
 * (its key marks made at or before `before` go too).
 *
 * ## Key-grain marks
 * `markKeysDirty(dataset, marks, at, cap)` marks each segment of `marks` with its keys: a segment marked
 * whole only has its `markedAt` moved forward; otherwise its keys are added (or their `markedAt` moved
 * forward), and once the segment would list more than `cap` keys its keys are dropped and the whole segment
 * marked (so the store holds at most `cap` keys a segment). `markSegmentsDirty` marks segments whole and
 * drops their keys. `listDirtyKeys(dataset, segments)` lists the keys of those segments' key-grain marks by
 * segment, then key. `clearDirtyKeys(dataset, keys, before)` drops those keys' marks made at or before
 * `before`, and a key-grain segment's mark once it lists no key and was made at or before `before`; a
 * segment marked whole meanwhile keeps its mark. Like `clearDirtySegments` it first forgets, in the same
 * transaction, the leaves of those segments hashed before their marks: a pass that checked some keys has
 * not re-hashed the segment, so its trees cannot vouch for it until the sweep or a later pass re-hashes it.
 */
export interface SegmentSummaryStore {
  getSegmentSummary(dataset: string): Promise<SegmentSummary | undefined>;
  putSegmentSummary(summary: SegmentSummary): Promise<void>;
  invalidateSegmentSummary(dataset: string, reason: string, at: number): Promise<void>;
  verifySegmentSummary(dataset: string, runId: string, startedAt: number): Promise<void>;
  deleteSegmentSummary(dataset: string): Promise<void>;
  moveSweepCursor(dataset: string, cursor: number): Promise<void>;
  markSegmentsDirty(dataset: string, segments: readonly number[], at: number): Promise<void>;
  listDirtySegments(dataset: string): Promise<DirtySegment[]>;
  clearDirtySegments(dataset: string, segments: readonly number[], before: number): Promise<void>;
  markKeysDirty(
    dataset: string,
    marks: readonly { readonly segment: number; readonly keys: readonly Key[] }[],
    at: number,
    cap: number,
  ): Promise<void>;
  listDirtyKeys(dataset: string, segments: readonly number[]): Promise<DirtyKey[]>;
  clearDirtyKeys(
    dataset: string,
    keys: readonly { readonly segment: number; readonly key: Key }[],
    before: number,
  ): Promise<void>;
}
