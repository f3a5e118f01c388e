/** Which keys a segment marks divergent and which it takes back as converged: pure, writes nothing. */
import { keyId } from "../core/model.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { isRepairable } from "./plan-dataset.js";
import type { DatasetScan } from "./scan-dataset.js";

/** A segment's divergent-key marks (`keyId`s): what `StageWrites.divergent` takes. */
export interface DivergentMarks {
  /** The scan's repairable divergent keys, marked (first and last seen). */
  readonly mark: string[];
  /** The keys whose every repair verified (applied or found done), taken back after the marks. */
  readonly converged: string[];
}

/** The marks of a segment's scan and repairs. */
export function divergentMarks(segment: {
  readonly scan: Pick<DatasetScan, "divergences">;
  readonly results: readonly RepairResult[];
}): DivergentMarks {
  const mark = segment.scan.divergences.filter(isRepairable).map((d) => keyId(d.key));
  const byKey = new Map<string, boolean>();
  for (const r of segment.results) {
    const id = keyId(r.key);
    const ok = r.outcome === "applied" || r.outcome === "noop";
    byKey.set(id, (byKey.get(id) ?? true) && ok);
  }
  const converged = [...byKey].filter(([, ok]) => ok).map(([id]) => id);
  return { mark, converged };
}
