/**
 * One group of segments (or one list of keys) of a run, the unit the orchestrator repeats and a worker can
 * run alone: scan → decide → record → repair → verify, added up into a segment's totals.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { Divergence, Observation } from "../core/classify.js";
import type { Decision } from "../core/decide.js";
import type { DecisionContext } from "../core/inferred-owner.js";
import { type Key, type KeyRange, keyId, type RecordShape } from "../core/model.js";
import type { EscalationRecord } from "../core/plan-record.js";
import type { CompiledPolicy } from "../core/policy.js";
import type { KnownChecksums } from "../detect/detect-divergences.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { RepairResult, RepairTask } from "../execute/execute-repairs.js";
import type { WriteGuard } from "../execute/write-guard.js";
import { placeInSegments, repairEvidence, segmentOfKey } from "../learning/evidence-of-run.js";
import type { StageWrites } from "../state/stage-writer.js";
import { stageIsEmpty } from "../state/state-store.js";
import { divergentMarks } from "./divergent-marks.js";
import type { FeedImages } from "./fetch-observations.js";
import { type Canary, type DatasetPlan, isRepairable, planDataset } from "./plan-dataset.js";
import { recordPlan } from "./record-plan.js";
import { keptByMode, type RepairMode, repairDatasetStaged, repairTasks } from "./repair-dataset.js";
import type { OpenReplica, RunContext } from "./run-context.js";
import { addCounts, emptyTotals, type RunTotals } from "./run-totals.js";
import { type DatasetScan, scanDataset } from "./scan-dataset.js";

/** What one group of segments (or the list of keys) came to, for observers. */
export interface SegmentWork {
  readonly scan: DatasetScan;
  /** The plan (every mode but scan). */
  readonly plan?: DatasetPlan | undefined;
  /** The writes planned (dry-run and repair; none once the guard tripped). */
  readonly tasks: readonly RepairTask[];
  /** True when the plan was recorded in audit and escalations (repair, before any guard trip). */
  readonly recorded: boolean;
  /** Escalations this segment opened (each is reported once, when it opens). */
  readonly opened: readonly EscalationRecord[];
  readonly results: readonly RepairResult[];
  /**
   * With `expected` (a diff file): its keys left alone because a replica no longer holds what the file says
   * (`changed`: the replicas that differ), or because the replicas agree now (`converged`).
   */
  readonly stale: readonly StaleEntry[];
  /** With `print` (dry-run): what each planned write would run on its target, in task order. */
  readonly printed: readonly PrintedWrite[];
  /**
   * With `mark`, once the repairs' last writes are in: the divergent-key marks were written with them, and
   * these are the keys taken back with their first-seen times (`StageResult.taken`). Undefined otherwise.
   */
  readonly marked?: ReadonlyMap<string, number> | undefined;
}

/** A key of a diff file that a run left alone: the replicas changed since the file was written. */
export interface StaleEntry {
  readonly key: Key;
  /** Replicas whose record is not what the file says (all of them when the key agrees now). */
  readonly changed: readonly string[];
  readonly converged: boolean;
}

/** What a diff file says each replica held, by `keyId`: a fingerprint, or null for absent. */
export type ExpectedState = ReadonlyMap<string, Readonly<Record<string, string | null>>>;

/** One planned write as its target's store would run it (`Connector.printWrites`). */
export interface PrintedWrite {
  readonly task: RepairTask;
  /** Statements (SQL) or commands (Redis), with the condition they run under; may span lines. */
  readonly text: string;
}

/** What a run hands each of its segments. */
export interface SegmentInput {
  readonly ds: DatasetConfig;
  readonly replicas: readonly OpenReplica[];
  readonly ctx: RunContext;
  readonly resolved: ResolvedShape;
  /** The compiled policy; undefined in scan mode (nothing is decided). */
  readonly policy: CompiledPolicy | undefined;
  /** A staged rollout: its share of keys decided by the candidate. */
  readonly canary?: Canary | undefined;
  /** The run's evidence snapshot for inferred ownership (read once per run: `readOwnerEvidence`). */
  readonly decisionContext?: DecisionContext | undefined;
  /** Whether the plan is recorded and written (repair), or only reported. */
  readonly writes: boolean;
  /** The run's write guard (one per run: its breaker and rate bucket span the segments). */
  readonly guard: WriteGuard;
  readonly signal?: AbortSignal | undefined;
  /** True when an earlier segment of the run tripped the blast-radius guard: nothing is recorded or written. */
  readonly latched: boolean;
  /**
   * Asked again just before the plan is recorded and written (a distributed run: another worker's segment
   * may have tripped the guard since this one started); true latches this segment as `latched` would.
   */
  readonly latch?: (() => Promise<boolean>) | undefined;
  /** Which writes are made (insert-only, upsert-only); the others are held back and remain. Default all. */
  readonly repairMode?: RepairMode;
  /**
   * Only decide the keys whose replicas still hold what this says (a diff file, `repair --from`); the rest
   * are reported in `stale` and neither decided nor written. Used with a list of keys.
   */
  readonly expected?: ExpectedState | undefined;
  /** Dry-run: also render each planned write as its target would run it (`repair --print`). */
  readonly print?: boolean;
  /**
   * Repair: write the segment's divergent-key marks (`divergentMarks`) in the same transaction as the repairs'
   * versions and evidence, instead of one of their own after the segment (`work.marked` says they were).
   */
  readonly mark?: boolean;
  /**
   * The run's segment cut points (segment i is [bounds[i-1], bounds[i])), which place evidence in its key
   * range; undefined for a list of keys (the range is then unknown).
   */
  readonly bounds?: readonly Key[] | undefined;
  /**
   * A piece of a group the blast-radius guard weighed whole before any of it was done (`countPast`), and
   * found it cannot trip: the piece's own plan is not weighed (its share of differing rows is not the
   * group's), so the group is decided, recorded and written as it would be whole.
   */
  readonly weighed?: boolean | undefined;
  /**
   * The range (and about how many rows it holds), or the keys to re-read. With `limit`, a range listing more
   * differing keys overflows; `countPast` then counts them all (the scan's `listed`) for the guard.
   */
  readonly target:
    | {
        readonly range: KeyRange;
        readonly expectedRows?: number;
        readonly limit?: number;
        readonly countPast?: boolean;
        /** Detection's first checksum round over the range, already read (a dirty-segment pass's trees). */
        readonly firstRound?: KnownChecksums | undefined;
        /** With `countPast`: keep up to this many listed keys for the caller (`DatasetScan.kept`). */
        readonly keepPast?: number | undefined;
        /** The range's keys as an earlier scan listed them (its `kept`): classified, not detected again. */
        readonly observations?: readonly Observation[] | undefined;
        /** With `observations`: the replicas' rows in the range. */
        readonly rows?: Readonly<Record<string, number>> | undefined;
      }
    | {
        readonly keys: readonly Key[];
        readonly rows?: Readonly<Record<string, number>>;
        /** Rows a change feed delivered for some of the keys (see FeedImages). */
        readonly images?: FeedImages | undefined;
      };
}

/** A segment's outcome: its totals, and whether the signal cut it short (mid-scan, or between writes). */
export interface SegmentResult {
  /** The signal stopped detection: nothing of the segment was decided, recorded or written. */
  readonly stopped: boolean;
  /** False when the signal stopped its writes between batches (what was written is in `work.results`). */
  readonly whole: boolean;
  /** The range held more differing keys than `target.limit`: nothing was done, it is to be cut smaller. */
  readonly overflow?: boolean;
  readonly totals: RunTotals;
  readonly work: SegmentWork;
}

/**
 * Scans one range (or list of keys), decides each divergence, and — writing, before any guard trip —
 * records the plan and repairs it through the run's guard. The segment's totals count what it found, decided
 * and wrote, and what it leaves: in scan, plan and dry-run every divergence that needs a write; in repair the
 * escalated ones, the writes superseded, failed or not reached, and everything once the guard has tripped.
 * A plan that trips the guard sets `totals.guard` (the run latches it) and writes nothing.
 */
export async function runSegment(input: SegmentInput): Promise<SegmentResult> {
  const { ds, replicas, ctx, resolved, policy, writes, guard, signal } = input;
  const scanned = await scanDataset(
    ds,
    replicas,
    ctx,
    "keys" in input.target
      ? {
          keys: input.target.keys,
          resolved,
          signal,
          ...(input.target.rows ? { knownRows: input.target.rows } : {}),
          ...(input.target.images ? { images: input.target.images } : {}),
          defer: true,
        }
      : {
          range: input.target.range,
          resolved,
          signal,
          ...(input.target.expectedRows !== undefined ? { expectedRows: input.target.expectedRows } : {}),
          ...(input.target.limit !== undefined ? { limit: input.target.limit } : {}),
          ...(input.target.countPast ? { countPast: true } : {}),
          ...(input.target.firstRound ? { firstRound: input.target.firstRound } : {}),
          ...(input.target.keepPast ? { keepPast: input.target.keepPast } : {}),
          ...(input.target.observations
            ? { observations: input.target.observations, knownRows: input.target.rows ?? {} }
            : {}),
          defer: true,
        },
  );
  // The scan's versions and divergences, written with the plan's record in repair (one transaction), else
  // as soon as the segment knows it records no plan.
  const pending = scanned.pending ?? {};
  const writeScan = async (): Promise<void> => {
    if (!stageIsEmpty(pending)) await ctx.state.recordStage(pending);
  };
  const { scan, stale } = input.expected
    ? keepExpected(scanned, input.expected)
    : { scan: scanned, stale: [] as StaleEntry[] };
  const t = emptyTotals();
  // Observers see everything the scan found; only the entries that still hold are decided.
  const base: SegmentWork = {
    scan: scanned,
    plan: undefined,
    tasks: [],
    recorded: false,
    opened: [],
    results: [],
    printed: [],
    stale,
  };
  if (scan.stopped || scan.overflow) await writeScan();
  if (scan.stopped) return { stopped: true, whole: false, totals: t, work: base };
  // Too dense to hold at once: nothing was found, decided or written; the caller cuts the range smaller.
  if (scan.overflow) return { stopped: false, whole: false, overflow: true, totals: t, work: base };
  const { schema: _schema, ...classes } = scanned.counts;
  addCounts(t.counts, classes);
  t.replicas = Object.fromEntries(Object.entries(scan.replicas).map(([r, { rows }]) => [r, { rows }]));
  t.stats = { ...scan.stats };
  const repairable = scan.divergences.filter(isRepairable).length;
  // A changed entry still diverges: it remains for a later run (or a fresh diff file).
  t.remaining += stale.filter((s) => !s.converged).length;
  const done = (work: SegmentWork, whole = true): SegmentResult => ({
    stopped: false,
    whole,
    totals: t,
    work,
  });
  if (!policy) {
    await writeScan();
    t.remaining += repairable;
    return done(base);
  }
  // Recent activity is judged per key range: the run's cut places each key (a run over keys has none).
  const bounds = input.bounds;
  const context = bounds
    ? { ...input.decisionContext, segmentOf: (key: Key) => segmentOfKey(scan.shape, bounds, key) }
    : input.decisionContext;
  const decided = planDataset(ds, scan, policy, input.canary, context);
  const plan = input.weighed && decided.guard ? { ...decided, guard: undefined } : decided;
  countDecisions(plan.decisions, t);
  // Asked as late as possible, so a trip elsewhere in the run since this segment began still holds it back
  // (and a plan that would trip the guard too is then held back by that trip, not counted as another).
  const latched = input.latched || (writes && (await input.latch?.()) === true);
  const trips = plan.guard !== undefined && !latched;
  if (trips) {
    t.guard = plan.guard;
    t.escalated++;
  }
  const planned = latched || trips ? [] : repairTasks(plan);
  const tasks = planned.filter((task) => keptByMode(task, input.repairMode));
  t.heldBack += planned.length - tasks.length;
  t.plannedWrites += tasks.length;
  if (!writes) {
    await writeScan();
    t.remaining += repairable;
    const printed = input.print ? await printTasks(tasks, replicas, scan.shape) : [];
    return done({ ...base, plan, tasks, printed });
  }
  // After a guard trip nothing more is recorded or written in the run: its escalation says why.
  if (latched) {
    await writeScan();
    t.remaining += repairable;
    return done({ ...base, plan });
  }
  const decidedAt = ctx.now();
  const opened = await recordPlan(plan, ctx, input.bounds, pending);
  const { results, versions } = await repairDatasetStaged(plan, replicas, ctx, {
    signal,
    guard,
    ...(input.repairMode ? { repairMode: input.repairMode } : {}),
  });
  const divergent = new Map(scan.divergences.map((d) => [keyId(d.key), d]));
  const marks = input.mark ? divergentMarks({ scan: scanned, results }) : undefined;
  // What the repairs leave to remember, in one transaction: the versions they wrote and their evidence (and
  // with `mark` the segment's divergent-key marks, which a separate transaction wrote after it until now).
  const after: StageWrites = {
    versions: versions ? [versions] : [],
    evidence: repairEvidence({
      dataset: ds.name,
      at: ctx.now(),
      results,
      divergenceOf: (key) => divergent.get(keyId(key)),
      placeOf: placeInSegments(scan.shape, input.bounds, policy),
      decidedAt,
    }),
    ...(marks
      ? { divergent: { dataset: ds.name, mark: marks.mark, take: marks.converged, at: ctx.now() } }
      : {}),
  };
  const marked = stageIsEmpty(after) ? new Map<string, number>() : (await ctx.state.recordStage(after)).taken;
  addCounts(
    t.repairs,
    results.reduce<Record<string, number>>((m, r) => {
      m[r.outcome] = (m[r.outcome] ?? 0) + 1;
      return m;
    }, {}),
  );
  // One result per task written or found done; fewer when the signal stopped between write batches.
  const unsettled = tasks.length - results.length;
  t.remaining +=
    (trips ? repairable : 0) +
    (planned.length - tasks.length) +
    plan.decisions.filter((d) => d.action === "escalate").length +
    results.filter((r) => r.outcome === "superseded" || r.outcome === "failed").length +
    unsettled;
  return done(
    { ...base, plan, tasks, recorded: true, opened, results, ...(marks ? { marked } : {}) },
    unsettled === 0,
  );
}

/**
 * The scan with only the divergences whose every replica holds what `expected` says; the other keys of
 * `expected` are stale (changed since, or converged).
 */
function keepExpected(
  scan: DatasetScan,
  expected: ExpectedState,
): { scan: DatasetScan; stale: StaleEntry[] } {
  const found = new Map(scan.divergences.map((d) => [keyId(d.key), d]));
  const kept = new Set<Divergence>();
  const stale: StaleEntry[] = [];
  // In the file's order, so reports list its entries as it does.
  for (const [id, want] of expected) {
    const d = found.get(id);
    if (!d) {
      stale.push({ key: JSON.parse(id) as Key, changed: Object.keys(want), converged: true });
      continue;
    }
    const changed = Object.entries(d.replicas)
      .filter(([name, r]) => (r.present ? (r.fingerprint ?? null) : null) !== (want[name] ?? null))
      .map(([name]) => name);
    if (changed.length) stale.push({ key: d.key, changed, converged: false });
    else kept.add(d);
  }
  return { scan: { ...scan, divergences: scan.divergences.filter((d) => kept.has(d)) }, stale };
}

/** Each task as its target's connector would run it; reads, never writes. */
async function printTasks(
  tasks: readonly RepairTask[],
  replicas: readonly OpenReplica[],
  shape: RecordShape,
): Promise<PrintedWrite[]> {
  const texts = new Map<RepairTask, string>();
  for (const r of replicas) {
    const mine = tasks.filter((t) => t.target === r.name);
    if (!mine.length) continue;
    const printed = await r.connector.printWrites(
      shape,
      mine.map((t) => ({ key: t.key, expected: t.expected, next: t.next })),
    );
    mine.forEach((t, i) => {
      texts.set(t, printed[i] ?? "");
    });
  }
  return tasks.map((task) => ({ task, text: texts.get(task) ?? "" }));
}

function countDecisions(decisions: readonly Decision[], t: RunTotals): void {
  for (const d of decisions) {
    if (d.action === "escalate") t.escalated++;
    else if (d.action === "wait") t.waiting++;
    else if (d.action === "ignore") t.ignored++;
  }
}
