/**
 * Dirty-segment passes: a scheduled pass of a watched dataset checks only the segments its change feeds
 * marked dirty since the last verified whole pass, and falls back to a whole pass when the marks cannot be
 * trusted. Opens no store; calls `runDataset` and never assembles the stages itself.
 */
import type { DatasetConfig } from "../config/load-config.js";
import { type ColumnSpec, compareKeys, type Key, type KeyRange, keyId } from "../core/model.js";
import type { KnownChecksums } from "../detect/detect-divergences.js";
import type { DirtyKey, SegmentSummary, StateStore } from "../state/state-store.js";
import { describeDataset } from "./describe-dataset.js";
import { keyRunId } from "./fold-key-run.js";
import type { OpenReplica } from "./run-context.js";
import { type DatasetRunResult, type RunDatasetOptions, type RunDeps, runDataset } from "./run-dataset.js";
import {
  changedLeaves,
  compareSegmentTrees,
  firstRoundOf,
  type HashedSegments,
  hashSegments,
  staleMarks,
  type TreeComparison,
  unknownLeaves,
} from "./segment-trees.js";
import { MAX_SEGMENT_GROUP, segmentBounds, segmentsOf } from "./segments.js";

/** What a scheduled pass covers, and why. */
export type PassPlan =
  | { readonly kind: "whole"; readonly reason: string }
  | {
      readonly kind: "dirty";
      /** The dirty segments the pass re-reads whole, ascending. */
      readonly segments: readonly number[];
      /** The dirty segments checked by their marks' keys instead (key grain), ascending. */
      readonly keyed: readonly number[];
      /** The changed keys of the `keyed` segments: what the pass checks through the key form. */
      readonly keys: readonly DirtyKey[];
      /** Clean segments the background sweep re-verifies in this pass (`watch.sweepSegments`, in rotation). */
      readonly swept: readonly number[];
      /** Where the sweep goes on next time. */
      readonly sweepNext: number;
      /** Adjacent dirty segments joined (up to 8 at once): what the pass reads. */
      readonly ranges: readonly KeyRange[];
      /** How many segments the dataset has. */
      readonly of: number;
      /** The summary's bounds the segment numbers refer to. */
      readonly bounds: readonly Key[];
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
 * Changed keys one dirty-segment pass checks by key, at most: past them, further key-grain segments are
 * re-read whole. Bounds what a pass holds in memory (the keys live in the state store between passes).
 */
export const MAX_PASS_KEYS = 10_000;

/**
 * Marks dirty the segments that `keys` (changed on a watched replica) lie in, when the dataset has a summary
 * of its key; a watcher calls it before it stores the feed position after them, so a restart in between
 * loses no mark. With `dirtyKeys` (the dataset's `watch.dirtyKeys`), each segment's mark lists its keys
 * until it would list more than that many, then marks the segment whole. Returns how many segments were
 * marked.
 */
export async function markChangedKeys(
  state: StateStore,
  dataset: string,
  keys: readonly Key[],
  at: number,
  dirtyKeys = 0,
): Promise<number> {
  if (!keys.length) return 0;
  const summary = await state.getSegmentSummary(dataset);
  if (!summary) return 0;
  const width = summary.keyColumns.length;
  const segments = new Map<number, Map<string, Key>>();
  for (const key of keys) {
    // A key of another width (the dataset's key changed): the next pass is whole anyway.
    if (key.length !== width) {
      await state.invalidateSegmentSummary(dataset, "a change's key does not match the summary's key", at);
      return 0;
    }
    const segment = segmentOf(summary.keyColumns, summary.bounds, key);
    const mine = segments.get(segment) ?? new Map<string, Key>();
    mine.set(keyId(key), key);
    segments.set(segment, mine);
  }
  if (dirtyKeys > 0)
    await state.markKeysDirty(
      dataset,
      [...segments].map(([segment, mine]) => ({ segment, keys: [...mine.values()] })),
      at,
      dirtyKeys,
    );
  else await state.markSegmentsDirty(dataset, [...segments.keys()], at);
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
  const marks = (await state.listDirtySegments(ds.name)).filter((d) => d.segment < of);
  // Key grain: a segment whose mark lists few keys is checked by them, while the pass's budget lasts.
  let budget = MAX_PASS_KEYS;
  const keyed: number[] = [];
  const segments: number[] = [];
  for (const m of marks)
    if (m.keys !== undefined && m.keys > 0 && m.keys <= watch.dirtyKeys && m.keys <= budget) {
      keyed.push(m.segment);
      budget -= m.keys;
    } else segments.push(m.segment);
  const keys = await state.listDirtyKeys(ds.name, keyed);
  // The sweep: first the clean segments whose leaves the trees forgot (checked by key only, or written), from
  // the cursor on, so an edit beside a checked key is found within a few passes; then the next clean segments
  // in rotation, so every segment is re-read now and then.
  const dirty = new Set(marks.map((m) => m.segment));
  const start = summary.sweepCursor % of;
  const names = ds.replicas.map((r) => r.name);
  const forgotten = await unknownLeaves(
    state,
    ds.name,
    names,
    of,
    { from: start, to: of },
    watch.sweepSegments,
    dirty,
  );
  if (forgotten.length < watch.sweepSegments)
    forgotten.push(
      ...(await unknownLeaves(
        state,
        ds.name,
        names,
        of,
        { from: 0, to: start },
        watch.sweepSegments - forgotten.length,
        dirty,
      )),
    );
  const swept = [...forgotten];
  const picked = new Set(swept);
  let cursor = start;
  for (let looked = 0; looked < of && swept.length < watch.sweepSegments; looked++) {
    if (!dirty.has(cursor) && !picked.has(cursor)) swept.push(cursor);
    cursor = (cursor + 1) % of;
  }
  // The rotation goes on past forgotten segments swept at the cursor (and dirty ones among them, read by this
  // pass too): a dataset whose trees are forgotten whole after every write still rotates.
  for (let looked = 0; looked < of && forgotten.length && (picked.has(cursor) || dirty.has(cursor)); looked++)
    cursor = (cursor + 1) % of;
  const ranges = joinSegments(
    segmentsOf(summary.bounds),
    [...segments, ...swept].sort((a, b) => a - b),
  );
  const sweep = swept.length ? `; ${swept.length} clean re-verified by the sweep` : "";
  const byKey = keyed.length ? ` (${keyed.length} checked by their ${keys.length} changed keys)` : "";
  return {
    kind: "dirty",
    segments,
    keyed,
    keys,
    swept,
    sweepNext: cursor,
    ranges,
    of,
    bounds: summary.bounds,
    reason: `${marks.length} of ${of} segments changed since the verified whole pass ${summary.runId}${byKey}${sweep}`,
  };
}

/** The ranges of `dirty` (ascending segment numbers), adjacent ones joined up to MAX_SEGMENT_GROUP. */
function joinSegments(all: readonly KeyRange[], dirty: readonly number[]): KeyRange[] {
  return joinGroups(dirty).map((g) => ({ lo: all[g[0]!]!.lo, hi: all[g.at(-1)!]!.hi }));
}

/**
 * `dirty` (ascending segment numbers) in runs of adjacent segments, up to MAX_SEGMENT_GROUP each; a run
 * also ends where `kind` changes.
 */
function joinGroups(dirty: readonly number[], kind: (segment: number) => boolean = () => true): number[][] {
  const out: number[][] = [];
  let group: number[] = [];
  for (const s of dirty) {
    const last = group.at(-1);
    if (
      last !== undefined &&
      s === last + 1 &&
      group.length < MAX_SEGMENT_GROUP &&
      kind(s) === kind(group[0]!)
    )
      group.push(s);
    else {
      if (group.length) out.push(group);
      group = [s];
    }
  }
  if (group.length) out.push(group);
  return out;
}

/**
 * The ranges a tree-narrowed pass runs (the segments it checks, adjacent ones joined), each with its first
 * checksum round when the trees' re-hash read every segment of it and found it differing (its parts'
 * checksums are the run's first round: the segment is not read twice). Segments a change was marked in while
 * they were hashed, and differing ones not hashed in this pass, are read by the run itself.
 */
function checkedRanges(
  plan: Extract<PassPlan, { kind: "dirty" }>,
  tree: TreePassReport,
): { ranges: KeyRange[]; firstRounds: (KnownChecksums | undefined)[] } {
  const all = segmentsOf(plan.bounds);
  const differ = new Set(tree.comparison.differ);
  const known = (s: number) => differ.has(s) && tree.read?.parts.has(s) === true;
  const groups = joinGroups(tree.checked, known);
  return {
    ranges: groups.map((g) => ({ lo: all[g[0]!]!.lo, hi: all[g.at(-1)!]!.hi })),
    firstRounds: groups.map((g) => (tree.read && known(g[0]!) ? firstRoundOf(tree.read, g) : undefined)),
  };
}

/** What the segment trees told a dirty-segment pass (see `runPlannedPass`). */
export interface TreePassReport {
  /** Segments re-hashed on every replica before the run (the dirty ones and the sweep's). */
  readonly hashed: number;
  /** What descending the replicas' trees found. */
  readonly comparison: TreeComparison;
  /** The segments the run covered: differing ones, and hashed ones a change was marked in while hashing. */
  readonly checked: readonly number[];
  /** Swept segments whose checksum changed on some replica although no feed marked them (marked now). */
  readonly unseen: readonly number[];
  /** What the re-hash read (the parts' checksums a run over a differing segment starts from); in memory only. */
  readonly read?: HashedSegments | undefined;
}

/** A pass planned by `planPass` and what it came to. */
export interface PlannedPassResult {
  readonly plan: PassPlan;
  readonly run: DatasetRunResult;
  /** A dirty-segment pass that went through the segment trees; undefined otherwise. */
  readonly tree?: TreePassReport | undefined;
  /**
   * The check of the key-grain segments' changed keys (`plan.keys`), a run of its own (`<runId>-keys`) after
   * `run`; undefined when the plan has none or `run` did not finish.
   */
  readonly keyRun?: DatasetRunResult | undefined;
}

/** How `runPlannedPass` goes about a dirty-segment pass. */
export interface PlannedPassOptions {
  /**
   * Narrow the pass through the segment trees (default true): re-hash the planned segments first and run
   * only those the trees say differ. False runs every planned segment (a benchmark's baseline).
   */
  readonly tree?: boolean;
}

/**
 * One scheduled pass of `ds`: planned by `planPass`, run through `runDataset` over the dirty segments or the
 * whole key space (the run's notes say which and why), and then recorded in the summary. A whole pass makes
 * the summary first when there is none (so changes during it are marked), and one that finishes with every
 * replica equal verifies it; a dirty pass that finishes equal clears the marks it covered (marks made while
 * it ran stay). A pass that leaves divergence keeps its marks, so the next pass looks again.
 *
 * A dirty pass first re-hashes its segments (dirty and swept) on every replica into the replicas' segment
 * trees, marks the swept segments whose checksum changed unseen by any feed, and descends the trees: replicas
 * whose roots agree need nothing more, and the run covers only the segments the trees name (differing
 * leaves, and hashed segments a change was marked in while they were read); a segment of one integer key is
 * hashed in parts of about `leafRows` rows, and the run over one found differing starts from its parts'
 * checksums instead of reading it again (`firstRounds`). The segments it covered are
 * hashed again after a run that wrote or found them all equal, so the trees stay current. When the trees
 * cannot be used (a replica fails the checksum read), the run covers every planned segment, and its notes
 * say why. Memory: the leaf hashes of the segments hashed, and one tree level of the descent.
 */
export async function runPlannedPass(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: Omit<RunDatasetOptions, "keys" | "ranges" | "notes">,
  pass: PlannedPassOptions = {},
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
    let tree: TreePassReport | undefined;
    let treeNote: string | undefined;
    if (pass.tree !== false)
      try {
        const serial = options.detect?.serial === true;
        // Segments are read in parts of about a leaf's rows, so the part that differs is listed at once.
        const leafRows = options.detect?.leafRows ?? ds.detect.leafRows ?? 64;
        const parts = Math.ceil(ds.watch.segmentRows / Math.max(1, leafRows));
        tree = await narrowByTrees(ds.name, replicas, shape, plan, deps, began, serial, parts);
        treeNote = treeReportNote(tree);
      } catch (err) {
        treeNote = `segment trees not used: ${err instanceof Error ? err.message : String(err)}`;
      }
    const checked = tree ? checkedRanges(plan, tree) : undefined;
    const run = await runDataset(ds, replicas, deps, {
      ...options,
      described,
      ranges: checked ? checked.ranges : plan.ranges,
      ...(checked && !options.dispatch ? { firstRounds: checked.firstRounds } : {}),
      notes: [`dirty-segment pass: ${plan.reason}`, ...(treeNote ? [treeNote] : [])],
    });
    if (run.finished) await state.moveSweepCursor(ds.name, plan.sweepNext);
    // Pending repairs of earlier runs may have written anywhere; this run wrote only where it looked. A run
    // that found its segments equal without writing shows the trees' difference was out of date (a replica
    // someone else repaired meanwhile): hashed again too, or they would be checked at every pass.
    if (
      tree &&
      run.finished &&
      Object.entries(run.totals.recovered).some(([o, n]) => WRITTEN.has(o) && n > 0)
    )
      await state.staleSegmentHashes(ds.name, "all");
    else if (tree?.checked.length && run.finished && (wrote(run) || run.status === "ok"))
      await hashSegments(state, ds.name, replicas, shape, plan.bounds, tree.checked, now, {
        serial: options.detect?.serial === true,
      });
    if (run.finished && run.status === "ok")
      await state.clearDirtySegments(ds.name, [...plan.segments, ...(tree?.unseen ?? [])], began);
    const keyRun = run.finished
      ? await checkDirtyKeys(ds, replicas, deps, options, plan, described)
      : undefined;
    // A key mark is cleared only once its key was checked equal (a killed pass leaves every mark), and the
    // segment's leaves go with it: the pass did not re-hash the segment, so its trees cannot vouch for it
    // until the sweep or a later pass re-hashes it.
    if (keyRun?.finished && keyRun.status === "ok") await state.clearDirtyKeys(ds.name, plan.keys, began);
    // The parts' checksums served the run; the report does not keep them.
    return { plan, run, tree: tree && { ...tree, read: undefined }, keyRun };
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
 * The key-grain part of a dirty pass: the changed keys its plan lists, re-read exactly through `runDataset`'s
 * key form (a watch's targeted check: fetch, classify, decide, repair, verify), not their segments.
 */
async function checkDirtyKeys(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: Omit<RunDatasetOptions, "keys" | "ranges" | "notes">,
  plan: Extract<PassPlan, { kind: "dirty" }>,
  described: Awaited<ReturnType<typeof describeDataset>>,
): Promise<DatasetRunResult | undefined> {
  if (!plan.keys.length) return undefined;
  // The pass's candidates, focus and progress belong to its segment run: the key check decides with the live
  // policy, as a watch's targeted check does, and does not start the pass's progress over.
  const { canary, shadow, focus, refocus, checkpoint, observer, ...rest } = options;
  return runDataset(ds, replicas, deps, {
    ...rest,
    ...(observer ? { observer: { ...observer, onStart: undefined, onAbandoned: undefined } } : {}),
    runId: keyRunId(options.runId),
    described,
    keys: plan.keys.map((k) => k.key),
    notes: [
      `dirty-segment pass by key: ${plan.keys.length} changed keys of ${plan.keyed.length} segments whose marks list them`,
    ],
  });
}

/** Repair outcomes that wrote to a replica. */
const WRITTEN: ReadonlySet<string> = new Set(["applied", "rolled-back"]);

/** True when the run (or the pending repairs it settled) wrote to some replica. */
function wrote(run: DatasetRunResult): boolean {
  const { repairs, recovered } = run.totals;
  return [repairs, recovered].some((counts) =>
    Object.entries(counts).some(([outcome, n]) => WRITTEN.has(outcome) && n > 0),
  );
}

/**
 * The tree step of a dirty pass: re-hash the planned segments, mark swept ones that changed unseen, and
 * descend the trees to the segments the run must cover.
 */
async function narrowByTrees(
  dataset: string,
  replicas: readonly OpenReplica[],
  shape: Parameters<typeof hashSegments>[3],
  plan: Extract<PassPlan, { kind: "dirty" }>,
  deps: RunDeps,
  began: number,
  serial: boolean,
  parts: number,
): Promise<TreePassReport> {
  const { state, now } = deps;
  const planned = [...new Set([...plan.segments, ...plan.swept])].sort((a, b) => a - b);
  // The swept segments' leaves as the trees last knew them: clean, so current unless changed unseen.
  const before = plan.swept.length ? await state.getSegmentTreeNodes(dataset, 0, plan.swept) : [];
  const hashed: HashedSegments = await hashSegments(
    state,
    dataset,
    replicas,
    shape,
    plan.bounds,
    planned,
    now,
    { serial, parts },
  );
  const unseen = changedLeaves(before, hashed);
  // Marked at the pass's start: a pass that ends equal clears them; one that does not keeps them.
  if (unseen.length) await state.markSegmentsDirty(dataset, unseen, began);
  // Marks made while the segments were read describe changes the read may have missed.
  const marks = (await state.listDirtySegments(dataset)).filter((m) => m.segment < plan.of);
  const comparison = await compareSegmentTrees(
    state,
    dataset,
    replicas.map((r) => r.name),
    plan.of,
    staleMarks(marks, hashed),
  );
  const inPlan = new Set(planned);
  const checked = [
    ...new Set([...comparison.differ, ...comparison.unknown.filter((s) => inPlan.has(s))]),
  ].sort((a, b) => a - b);
  return { hashed: planned.length, comparison, checked, unseen, read: hashed };
}

function treeReportNote(t: TreePassReport): string {
  const c = t.comparison;
  const roots = c.rootsAgree ? "the replicas' roots agree" : `${t.checked.length} to check`;
  const unseen = t.unseen.length ? `; the sweep found ${t.unseen.length} changed that no feed marked` : "";
  return `segment trees: ${t.hashed} re-hashed, ${roots} (${c.differ.length} differing, ${c.compared} nodes compared)${unseen}`;
}

/**
 * After a whole pass (scheduled, or a watcher's after a gap): one that finished with every replica equal
 * verifies the dataset's summary from the time the pass began; one that wrote to a replica forgets the
 * segment trees' leaves (it wrote where they may say otherwise).
 */
export async function recordWholePass(
  state: StateStore,
  dataset: string,
  run: DatasetRunResult,
): Promise<void> {
  if (run.finished && run.status === "ok")
    await state.verifySegmentSummary(dataset, run.runId, run.startedAt);
  // It may have written anywhere: the trees' leaves are hashed again by later dirty passes and the sweep.
  if (wrote(run)) await state.staleSegmentHashes(dataset, "all");
}
