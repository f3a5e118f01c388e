/** What a run adds up to: its totals (kept in its checkpoint), how segments add into them, and its record. */
import type { GuardTrip } from "../core/plan-record.js";
import type { RunRecord, StateStore } from "../state/state-store.js";
import type { ScanStats } from "./scan-dataset.js";

/** Running totals of a run, kept in its checkpoint so a resumed run reports the whole of it. */
export interface RunTotals {
  /** Divergences by class (schema issues counted once per run). */
  counts: Record<string, number>;
  /** Rows per replica over the segments scanned. */
  replicas: Record<string, { rows: number }>;
  /** What crossed from the stores into the engine, summed over the scans (durationMs: scan time). */
  stats: ScanStats;
  /** Repair outcomes of this run's writes. */
  repairs: Record<string, number>;
  /** Outcomes of the pending repairs of interrupted runs that this run settled. */
  recovered: Record<string, number>;
  /** Decisions that wrote nothing: escalated (guard trips and schema issues included), waiting, ignored. */
  escalated: number;
  waiting: number;
  ignored: number;
  /** Writes planned (dry-run: the writes that would be made; repair: the writes attempted). */
  plannedWrites: number;
  /** Writes the repair mode held back (insert-only: updates and deletes; upsert-only: deletes). */
  heldBack: number;
  /** What remains for a person or a later run: divergence not repaired (scan, plan, dry-run: all of it). */
  remaining: number;
  /** The blast-radius guard's trip: once set, nothing more is recorded or written in the run. */
  guard?: GuardTrip | undefined;
}

/** Totals of nothing yet. */
export function emptyTotals(): RunTotals {
  return {
    counts: {},
    replicas: {},
    stats: { durationMs: 0, rowsRead: 0, rowsScanned: 0, bytesRead: 0, queries: 0 },
    repairs: {},
    recovered: {},
    escalated: 0,
    waiting: 0,
    ignored: 0,
    plannedWrites: 0,
    heldBack: 0,
    remaining: 0,
  };
}

/** Adds counts of `from` into `into`. */
export function addCounts(
  into: Record<string, number>,
  from: Readonly<Record<string, number | undefined>>,
): void {
  for (const [k, n] of Object.entries(from)) if (n) into[k] = (into[k] ?? 0) + n;
}

/** Adds a segment's totals into a run's: sums everywhere, and the first guard trip latches. */
export function addTotals(into: RunTotals, from: RunTotals): void {
  addCounts(into.counts, from.counts);
  for (const [r, { rows }] of Object.entries(from.replicas))
    into.replicas[r] = { rows: (into.replicas[r]?.rows ?? 0) + rows };
  for (const k of Object.keys(into.stats) as (keyof ScanStats)[]) into.stats[k] += from.stats[k];
  addCounts(into.repairs, from.repairs);
  addCounts(into.recovered, from.recovered);
  into.escalated += from.escalated;
  into.waiting += from.waiting;
  into.ignored += from.ignored;
  into.plannedWrites += from.plannedWrites;
  into.heldBack += from.heldBack ?? 0;
  into.remaining += from.remaining;
  into.guard ??= from.guard;
}

/**
 * Records a run's end: its status, counts by class, and stats — scan statistics, wall `durationMs` since
 * `startedAt`, `repairs.<outcome>` (recovered ones included), `escalated`, and any `extra` figures.
 */
export async function recordRunEnd(
  state: StateStore,
  run: { readonly runId: string; readonly dataset: string; readonly startedAt: number },
  totals: RunTotals,
  status: RunRecord["status"],
  finishedAt: number,
  extra: Readonly<Record<string, number>> = {},
): Promise<void> {
  const stats: Record<string, number> = { ...totals.stats, ...extra, durationMs: finishedAt - run.startedAt };
  const repairs = { ...totals.repairs };
  addCounts(repairs, totals.recovered);
  for (const [k, n] of Object.entries(repairs)) stats[`repairs.${k}`] = n;
  stats.escalated = totals.escalated;
  if (totals.heldBack) stats.heldBack = totals.heldBack;
  await state.finishRun(run.runId, run.dataset, { finishedAt, status, counts: totals.counts, stats });
}
