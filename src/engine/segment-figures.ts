/** What a group of segments came to, as the run drill-down keeps it (the SegmentStore's record). No I/O. */
import type { RunSegment } from "../state/segment-store.js";
import type { SegmentOutcome } from "./run-dataset.js";

/**
 * Runs per dataset whose segment groups the state store keeps (older runs' groups are deleted as a new run
 * begins): with serve's `retention`, what bounds the drill-down's table however long Concord runs.
 */
export const SEGMENT_RUNS_KEPT = 50;

/** The figures of `outcome`, a group of run `runId` that started at `startedAt` and finished at `finishedAt`. */
export function segmentFigures(
  dataset: string,
  runId: string,
  outcome: SegmentOutcome,
  startedAt: number,
  finishedAt: number,
): RunSegment {
  const { scan, results } = outcome;
  const repairs: Record<string, number> = {};
  for (const r of results) repairs[r.outcome] = (repairs[r.outcome] ?? 0) + 1;
  // Schema issues are the run's, counted once in its totals, not per group.
  const counts: Record<string, number> = {};
  for (const [cls, n] of Object.entries(scan.counts))
    if (cls !== "schema" && n !== undefined) counts[cls] = n;
  return {
    dataset,
    runId,
    from: outcome.from,
    to: outcome.to,
    of: outcome.of,
    visit: outcome.visit?.at ?? 0,
    startedAt,
    durationMs: finishedAt - startedAt,
    scanMs: scan.stats.durationMs,
    rows: Object.fromEntries(Object.entries(scan.replicas).map(([r, { rows }]) => [r, rows])),
    counts,
    repairs,
    escalated: outcome.plan?.decisions.filter((d) => d.action === "escalate").length ?? 0,
  };
}

/** Two pieces of one group as one record: `b`'s figures added to `a`'s, spanning from `a`'s start to `b`'s end. */
export function addFigures(a: RunSegment, b: RunSegment): RunSegment {
  const sum = (x: Readonly<Record<string, number>>, y: Readonly<Record<string, number>>) => {
    const out: Record<string, number> = { ...x };
    for (const [k, n] of Object.entries(y)) out[k] = (out[k] ?? 0) + n;
    return out;
  };
  return {
    ...a,
    durationMs: b.startedAt + b.durationMs - a.startedAt,
    scanMs: a.scanMs + b.scanMs,
    rows: sum(a.rows, b.rows),
    counts: sum(a.counts, b.counts),
    repairs: sum(a.repairs, b.repairs),
    escalated: a.escalated + b.escalated,
  };
}
