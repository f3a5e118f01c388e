/**
 * Dirty-segment passes: a scheduled pass of a watched dataset checks only the segments its change feeds
 * marked dirty since the last verified whole pass, and falls back to a whole pass when the marks cannot be
 * trusted. Opens no store; calls `runDataset` and never assembles the stages itself.
 */
import type { DatasetConfig } from "../config/load-config.js";
import { type ColumnSpec, compareKeys, type Key, type KeyRange } from "../core/model.js";
import type { SegmentSummary, StateStore } from "../state/state-store.js";
import { describeDataset } from "./describe-dataset.js";
import type { OpenReplica } from "./run-context.js";
import { type DatasetRunResult, type RunDatasetOptions, type RunDeps, runDataset } from "./run-dataset.js";
import { MAX_SEGMENT_GROUP, segmentBounds, segmentsOf } from "./segments.js";

/** What a scheduled pass covers, and why. */
export type PassPlan =
  | { readonly kind: "whole"; readonly reason: string }
  | {
      readonly kind: "dirty";
      /** The dirty segments' numbers, ascending. */
      readonly segments: readonly number[];
      /** Clean segments the background sweep re-verifies in this pass (`watch.sweepSegments`, in rotation). */
      readonly swept: readonly number[];
      /** Where the sweep goes on next time. */
      readonly sweepNext: number;
      /** Adjacent dirty segments joined (up to 8 at once): what the pass reads. */
      readonly ranges: readonly KeyRange[];
      /** How many segments the dataset has. */
      readonly of: number;
      readonly reason: string;
    };

/** The segment `key` lies in: the number of bounds at or below it. */
export function segmentOf(keyColumns: readonly ColumnSpec[], bounds: readonly Key[], key: Key): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keyColumns, bounds[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when the summary's bounds are keys of `columns` (same names and types, in order). */
function sameKey(summary: SegmentSummary, columns: readonly ColumnSpec[]): boolean {
  return (
    summary.keyColumns.length === columns.length &&
    summary.keyColumns.every((c, i) => c.name === columns[i]!.name && c.type === columns[i]!.type)
  );
}

/**
 * Marks dirty the segments that `keys` (changed on a watched replica) lie in, when the dataset has a summary
 * of its key; a watcher calls it before it stores the feed position after them, so a restart in between
 * loses no mark. Returns how many segments were marked.
 */
export async function markChangedKeys(
  state: StateStore,
  dataset: string,
  keys: readonly Key[],
  at: number,
): Promise<number> {
  if (!keys.length) return 0;
  const summary = await state.getSegmentSummary(dataset);
  if (!summary) return 0;
  const width = summary.keyColumns.length;
  const segments = new Set<number>();
  for (const key of keys) {
    // A key of another width (the dataset's key changed): the next pass is whole anyway.
    if (key.length !== width) {
      await state.invalidateSegmentSummary(dataset, "a change's key does not match the summary's key", at);
      return 0;
    }
    segments.add(segmentOf(summary.keyColumns, summary.bounds, key));
  }
  await state.markSegmentsDirty(dataset, [...segments], at);
  return segments.size;
}

/**
 * What the next scheduled pass of `ds` covers. Only the dirty segments when all of these hold: the dataset
 * is watched with `incremental` on, a whole pass verified every replica equal (and not longer ago than
 * `wholeEvery`), nothing invalidated that since (a feed's gap, a feed started without a stored position),
 * every watched replica's feed has a stored position, the summary's key is the dataset's, and no unfinished
 * whole pass waits to be resumed. Otherwise the whole key space, with the reason.
 */
export async function planPass(
  ds: DatasetConfig,
  state: StateStore,
  keyColumns: readonly ColumnSpec[],
  now: number,
): Promise<PassPlan> {
  const watch = ds.watch;
  if (!watch?.incremental) return { kind: "whole", reason: "the dataset is not watched incrementally" };
  if (await state.getCheckpoint(ds.name)) return { kind: "whole", reason: "an unfinished pass resumes" };
  const summary = await state.getSegmentSummary(ds.name);
  if (!summary) return { kind: "whole", reason: "no segment summary yet (no verified whole pass)" };
  if (!sameKey(summary, keyColumns))
    return { kind: "whole", reason: "the dataset's key changed since the segment summary was made" };
  if (summary.invalid !== undefined) return { kind: "whole", reason: summary.invalid };
  if (summary.verifiedAt === undefined) return { kind: "whole", reason: "no verified whole pass yet" };
  if (now - summary.verifiedAt >= watch.wholeEveryMs)
    return {
      kind: "whole",
      reason: `the last verified whole pass is older than wholeEvery (${Math.round(watch.wholeEveryMs / 1000)} s)`,
    };
  for (const replica of watch.replicas)
    if (!(await state.getFeedPosition(ds.name, replica)))
      return {
        kind: "whole",
        reason: `the feed of ${replica} has no stored position (changes may be unseen)`,
      };
  const of = summary.bounds.length + 1;
  const segments = (await state.listDirtySegments(ds.name)).map((d) => d.segment).filter((s) => s < of);
  // The sweep: the next clean segments from the cursor on, so every segment is re-read now and then.
  const dirty = new Set(segments);
  const swept: number[] = [];
  let cursor = summary.sweepCursor % of;
  for (let looked = 0; looked < of && swept.length < watch.sweepSegments; looked++) {
    if (!dirty.has(cursor)) swept.push(cursor);
    cursor = (cursor + 1) % of;
  }
  const ranges = joinSegments(
    segmentsOf(summary.bounds),
    [...segments, ...swept].sort((a, b) => a - b),
  );
  const sweep = swept.length ? `; ${swept.length} clean re-verified by the sweep` : "";
  return {
    kind: "dirty",
    segments,
    swept,
    sweepNext: cursor,
    ranges,
    of,
    reason: `${segments.length} of ${of} segments changed since the verified whole pass ${summary.runId}${sweep}`,
  };
}

/** The ranges of `dirty` (ascending segment numbers), adjacent ones joined up to MAX_SEGMENT_GROUP. */
function joinSegments(all: readonly KeyRange[], dirty: readonly number[]): KeyRange[] {
  const out: KeyRange[] = [];
  let first = -1;
  let last = -1;
  const flush = () => {
    if (first >= 0) out.push({ lo: all[first]!.lo, hi: all[last]!.hi });
  };
  for (const s of dirty) {
    if (first >= 0 && s === last + 1 && s - first < MAX_SEGMENT_GROUP) last = s;
    else {
      flush();
      first = s;
      last = s;
    }
  }
  flush();
  return out;
}

/** A pass planned by `planPass` and what it came to. */
export interface PlannedPassResult {
  readonly plan: PassPlan;
  readonly run: DatasetRunResult;
}

/**
 * One scheduled pass of `ds`: planned by `planPass`, run through `runDataset` over the dirty segments or the
 * whole key space (the run's notes say which and why), and then recorded in the summary. A whole pass makes
 * the summary first when there is none (so changes during it are marked), and one that finishes with every
 * replica equal verifies it; a dirty pass that finishes equal clears the marks it covered (marks made while
 * it ran stay). A pass that leaves divergence keeps its marks, so the next pass looks again.
 */
export async function runPlannedPass(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: Omit<RunDatasetOptions, "keys" | "ranges" | "notes">,
): Promise<PlannedPassResult> {
  const { state, now } = deps;
  const began = now();
  if (!ds.watch?.incremental)
    return {
      plan: { kind: "whole", reason: "not watched" },
      run: await runDataset(ds, replicas, deps, options),
    };
  // Described once: the plan needs the key, and the run goes on with the same description.
  const described = await describeDataset(ds, replicas);
  const { shape } = described;
  const plan = await planPass(ds, state, shape.key, began);
  if (plan.kind === "dirty") {
    const run = await runDataset(ds, replicas, deps, {
      ...options,
      described,
      ranges: plan.ranges,
      notes: [`dirty-segment pass: ${plan.reason}`],
    });
    if (run.finished) await state.moveSweepCursor(ds.name, plan.sweepNext);
    if (run.finished && run.status === "ok") await state.clearDirtySegments(ds.name, plan.segments, began);
    return { plan, run };
  }
  const summary = await state.getSegmentSummary(ds.name);
  if (!summary || !sameKey(summary, shape.key)) {
    const bounds = await segmentBounds(replicas, shape, ds.watch.segmentRows);
    await state.putSegmentSummary({
      dataset: ds.name,
      keyColumns: shape.key.map((c) => ({ name: c.name, type: c.type })),
      bounds,
      verifiedAt: undefined,
      runId: undefined,
      invalid: plan.reason,
      invalidAt: began,
      sweepCursor: 0,
    });
  }
  const run = await runDataset(ds, replicas, deps, {
    ...options,
    described,
    notes: [`whole pass: ${plan.reason}`],
  });
  await recordWholePass(state, ds.name, run);
  return { plan, run };
}

/**
 * After a whole pass (scheduled, or a watcher's after a gap): one that finished with every replica equal
 * verifies the dataset's summary from the time the pass began.
 */
export async function recordWholePass(
  state: StateStore,
  dataset: string,
  run: DatasetRunResult,
): Promise<void> {
  if (run.finished && run.status === "ok")
    await state.verifySegmentSummary(dataset, run.runId, run.startedAt);
}
