/**
 * What a finished segment leaves behind for serve's read models: divergent-key marks and time-to-convergence
 * samples in the state store (`markSegment`, the same in a single-process pass, on a worker of a distributed
 * one and after a change-feed check), and serve's metrics of it (`recordSegment`).
 */
import { divergentMarks } from "../engine/divergent-marks.js";
import type { SegmentWork } from "../engine/run-segment.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { StateStore } from "../state/state-store.js";
import type { ServeMetrics } from "./metrics.js";

/** What marking a segment found. */
export interface SegmentMarks {
  /** Keys (`keyId`) whose every repair verified, taken back from the divergent marks. */
  readonly converged: string[];
  /** Each taken-back key's time from first detection to convergence, seconds (recorded as `ttc` samples). */
  readonly ttcSeconds: number[];
}

/**
 * Marks the segment's repairable divergent keys (first/last seen) and takes back the keys whose every
 * repair verified, recording each one's time to convergence as a sample.
 */
export async function markSegment(
  state: StateStore,
  dataset: string,
  segment: Pick<SegmentWork, "scan" | "results" | "marked">,
  now: () => number,
): Promise<SegmentMarks> {
  const { mark, converged } = divergentMarks(segment);
  // Marked, then taken back, in one transaction (nothing is sent when there is neither) — or already, with
  // the segment's repairs' last writes (`SegmentInput.mark`).
  const first =
    segment.marked ??
    (await state.recordStage({ divergent: { dataset, mark, take: converged, at: now() } })).taken;
  if (!converged.length) return { converged, ttcSeconds: [] };
  const at = now();
  const ttcSeconds = [...first.values()].map((seen) => Math.max(0, (at - seen) / 1000));
  await state.appendSamples(ttcSeconds.map((value) => ({ dataset, series: "ttc", label: "", at, value })));
  return { converged, ttcSeconds };
}

export interface SegmentRecordDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly now: () => number;
}

/**
 * Marks the segment (markSegment) and counts it in serve's metrics: rows read, escalations opened (each once,
 * when it opens), repairs by outcome, times to convergence. Returns the converged keys, for callers that
 * remember when a key was last known good.
 */
export async function recordSegment(
  dataset: string,
  deps: SegmentRecordDeps,
  segment: Pick<SegmentWork, "scan" | "results"> & { readonly opened: readonly { readonly class: string }[] },
): Promise<string[]> {
  const { metrics } = deps;
  for (const [replica, { rows }] of Object.entries(segment.scan.replicas))
    metrics.scanRows.inc({ dataset, replica }, rows);
  for (const e of segment.opened) metrics.escalations.inc({ dataset, class: e.class });
  countRepairs(dataset, metrics, segment.results);
  const marks = await markSegment(deps.state, dataset, segment, deps.now);
  for (const seconds of marks.ttcSeconds) metrics.timeToConvergence.observe({ dataset }, seconds);
  return marks.converged;
}

/** Counts repairs by outcome (a segment's, or those settled outside one: recovered from an interrupted run). */
export function countRepairs(dataset: string, metrics: ServeMetrics, results: readonly RepairResult[]): void {
  for (const r of results) metrics.repairs.inc({ dataset, replica: r.target, outcome: r.outcome });
}
