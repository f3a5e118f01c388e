/** A dirty-segment pass's two runs (segments, then changed keys) as the one pass they make; pure, no I/O. */
import type { RunRecord } from "../state/state-store.js";
import type { DatasetRunResult } from "./run-dataset.js";
import type { RunTotals } from "./run-totals.js";

/** The id a pass's key run takes (`runPlannedPass`): the pass's own, suffixed. */
export const keyRunId = (runId: string): string => `${runId}-keys`;

/** The worse of two statuses: failed, then running (unfinished), then diverged, then ok. */
export function worseStatus(a: RunRecord["status"], b: RunRecord["status"]): RunRecord["status"] {
  const rank = { ok: 0, diverged: 1, running: 2, failed: 3 } as const;
  return rank[a] >= rank[b] ? a : b;
}

/** `a` and `b` added key by key. */
export function addCounts(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/**
 * The pass as serve judges it: `run` (the segments' run, whose id, start and segments the pass keeps) with
 * `keyRun`'s divergences, repairs, settled repairs, remaining divergence and reads added, and the worse of the
 * two statuses; unfinished when either is. Without a key run, `run` itself.
 */
export function foldKeyRun(run: DatasetRunResult, keyRun: DatasetRunResult | undefined): DatasetRunResult {
  if (!keyRun) return run;
  const a = run.totals;
  const b = keyRun.totals;
  const totals: RunTotals = {
    ...a,
    counts: addCounts(a.counts, b.counts),
    replicas: a.replicas,
    stats: {
      durationMs: a.stats.durationMs + b.stats.durationMs,
      rowsRead: a.stats.rowsRead + b.stats.rowsRead,
      rowsScanned: a.stats.rowsScanned + b.stats.rowsScanned,
      bytesRead: a.stats.bytesRead + b.stats.bytesRead,
      queries: a.stats.queries + b.stats.queries,
    },
    repairs: addCounts(a.repairs, b.repairs),
    recovered: addCounts(a.recovered, b.recovered),
    escalated: a.escalated + b.escalated,
    waiting: a.waiting + b.waiting,
    ignored: a.ignored + b.ignored,
    plannedWrites: a.plannedWrites + b.plannedWrites,
    heldBack: a.heldBack + b.heldBack,
    remaining: a.remaining + b.remaining,
    guard: a.guard ?? b.guard,
  };
  return {
    ...run,
    totals,
    recovered: [...run.recovered, ...keyRun.recovered],
    warnings: [...run.warnings, ...keyRun.warnings],
    finished: run.finished && keyRun.finished,
    status: worseStatus(run.status, keyRun.status),
  };
}

/**
 * Run records (newest first, as `listRuns` gives them) with each pass's key run folded into the pass's record
 * (counts and stats added, the worse status, finished when both are) and left out on its own: what serve's
 * API shows as a dataset's passes. A key run whose pass is not among `records` stays as it is.
 */
export function foldKeyRunRecords(records: readonly RunRecord[]): RunRecord[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  const folded = new Set<string>();
  const out: RunRecord[] = [];
  for (const r of records) {
    const keys = byId.get(keyRunId(r.id));
    if (!keys || keys.dataset !== r.dataset) {
      out.push(r);
      continue;
    }
    folded.add(keys.id);
    out.push({
      ...r,
      finishedAt:
        r.finishedAt !== undefined && keys.finishedAt !== undefined
          ? Math.max(r.finishedAt, keys.finishedAt)
          : undefined,
      status: worseStatus(r.status, keys.status),
      counts: addCounts(r.counts, keys.counts),
      stats: addCounts(r.stats, keys.stats),
    });
  }
  return out.filter((r) => !folded.has(r.id));
}
