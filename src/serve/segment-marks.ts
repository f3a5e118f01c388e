/** What serve records of a finished group of segments (a pass's or a change-feed check's): metrics, divergent keys, time to convergence. */
import { keyId } from "../core/model.js";
import { isRepairable } from "../engine/plan-dataset.js";
import type { SegmentOutcome } from "../engine/run-dataset.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { StateStore } from "../state/state-store.js";
import type { ServeMetrics } from "./metrics.js";

export interface SegmentMarkDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly now: () => number;
}

/**
 * Counts rows, escalations opened and repairs; marks the repairable divergent keys; takes back the keys whose
 * every repair verified (their time since first detection is a time-to-convergence sample). Returns the
 * keys (`keyId`) found in agreement or verified converged, for callers that remember when a key was last
 * known good.
 */
export async function markSegment(
  dataset: string,
  deps: SegmentMarkDeps,
  segment: Pick<SegmentOutcome, "scan" | "opened" | "results">,
): Promise<string[]> {
  const { state, metrics, now } = deps;
  const { scan, opened, results } = segment;
  for (const [replica, { rows }] of Object.entries(scan.replicas))
    metrics.scanRows.inc({ dataset, replica }, rows);
  const divergent = scan.divergences.filter(isRepairable).map((d) => keyId(d.key));
  if (divergent.length) await state.markDivergent(dataset, divergent, now());
  // Each escalation counts once, when it opens; a later pass that finds it still open adds nothing.
  for (const e of opened) metrics.escalations.inc({ dataset, class: e.class });
  for (const r of results) metrics.repairs.inc({ dataset, replica: r.target, outcome: r.outcome });
  return convergedKeys(dataset, deps, results);
}

/** Counts repairs settled outside a segment (recovered from an interrupted run). */
export function countRepairs(dataset: string, metrics: ServeMetrics, results: readonly RepairResult[]): void {
  for (const r of results) metrics.repairs.inc({ dataset, replica: r.target, outcome: r.outcome });
}

/** Keys whose every repair verified: the time from their first detection is their time to convergence. */
async function convergedKeys(
  dataset: string,
  deps: SegmentMarkDeps,
  results: readonly RepairResult[],
): Promise<string[]> {
  const byKey = new Map<string, boolean>();
  for (const r of results) {
    const id = keyId(r.key);
    const ok = r.outcome === "applied" || r.outcome === "noop";
    byKey.set(id, (byKey.get(id) ?? true) && ok);
  }
  const converged = [...byKey].filter(([, ok]) => ok).map(([id]) => id);
  if (!converged.length) return [];
  const { state, metrics, now } = deps;
  const first = await state.takeDivergent(dataset, converged);
  const at = now();
  const samples = [...first.values()].map((seen) => {
    const seconds = Math.max(0, (at - seen) / 1000);
    metrics.timeToConvergence.observe({ dataset }, seconds);
    return { dataset, series: "ttc", label: "", at, value: seconds };
  });
  await state.appendSamples(samples);
  return converged;
}
