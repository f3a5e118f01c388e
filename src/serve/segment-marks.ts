/** What a finished segment leaves in the state store for serve's read models: divergent-key marks and TTC. */
import { keyId } from "../core/model.js";
import { isRepairable } from "../engine/plan-dataset.js";
import type { SegmentWork } from "../engine/run-segment.js";
import type { StateStore } from "../state/state-store.js";

/**
 * Marks the segment's repairable divergent keys (first/last seen) and takes back the keys whose every
 * repair verified, recording each one's time to convergence as a sample. Returns those times, seconds, for
 * metrics. The same in a single-process pass and on a worker of a distributed one.
 */
export async function markSegment(
  state: StateStore,
  dataset: string,
  segment: Pick<SegmentWork, "scan" | "results">,
  now: () => number,
): Promise<number[]> {
  const divergent = segment.scan.divergences.filter(isRepairable).map((d) => keyId(d.key));
  if (divergent.length) await state.markDivergent(dataset, divergent, now());
  const byKey = new Map<string, boolean>();
  for (const r of segment.results) {
    const id = keyId(r.key);
    const ok = r.outcome === "applied" || r.outcome === "noop";
    byKey.set(id, (byKey.get(id) ?? true) && ok);
  }
  const converged = [...byKey].filter(([, ok]) => ok).map(([id]) => id);
  if (!converged.length) return [];
  const first = await state.takeDivergent(dataset, converged);
  const at = now();
  const seconds = [...first.values()].map((seen) => Math.max(0, (at - seen) / 1000));
  await state.appendSamples(seconds.map((value) => ({ dataset, series: "ttc", label: "", at, value })));
  return seconds;
}
