/**
 * Reads the evidence snapshot a run decides inferred ownership by: once per run, before any decision, so
 * every decision of the run sees the same scores. Reads the EvidenceReader port only; never writes.
 */
import type { InferredBasis, OwnerEvidence, SourceScore } from "../core/inferred-owner.js";
import type { CompiledPolicy } from "../core/policy.js";
import { type ActivityEvidence, type EvidenceReader, reliability } from "../learning/evidence.js";

/**
 * How far back recent activity and latency look, ms: a day, so that who takes the writes (or lags) now is
 * not outvoted by last month, while a daily rhythm of writes still counts whole.
 */
export const RECENT_EVIDENCE_MS = 24 * 3_600_000;

/** The basis an inferred owner of any of these policies needs (undefined: none is inferred). */
export function inferredBasis(
  ...policies: readonly (CompiledPolicy | undefined)[]
): InferredBasis | undefined {
  for (const p of policies) if (p?.owner?.kind === "inferred") return p.owner.basis;
  return undefined;
}

/**
 * The scores of every replica (and replica × column, or × key range) of `dataset` by `basis`, from the
 * evidence aggregates. `now` ends the window of the windowed bases (the run's clock, read once).
 * - `reliability`: the Wilson 95% interval of the settled decisions each replica did not lose, everything
 *   retained, per replica and per replica × column.
 * - `recent-activity`: of the changes some replica alone held first in the last RECENT_EVIDENCE_MS (stale
 *   divergences with one newest replica), the share each replica held first, with its Wilson interval; per
 *   key range and for the whole dataset.
 * - `latency`: of the comparisons of each replica's freshness in the window (stale divergences, probes), the
 *   share in which it was not behind, with its Wilson interval and mean probe lag; for the whole dataset.
 */
export async function readOwnerEvidence(
  reader: Pick<EvidenceReader, "replicaEvidence" | "activityEvidence">,
  dataset: string,
  basis: InferredBasis,
  now: number,
): Promise<OwnerEvidence> {
  if (basis === "reliability") {
    const replicas: Record<string, SourceScore> = {};
    const columns: Record<string, Record<string, SourceScore>> = {};
    for (const e of await reader.replicaEvidence(dataset)) {
      const score = reliability(e.settled, e.lost);
      if (e.column === undefined) replicas[e.replica] = score;
      else columns[e.replica] = { ...columns[e.replica], [e.column]: score };
    }
    return { basis, replicas, columns };
  }
  const rows = await reader.activityEvidence(dataset, now - RECENT_EVIDENCE_MS);
  return basis === "recent-activity"
    ? recentActivityEvidence(rows, RECENT_EVIDENCE_MS)
    : latencyEvidence(rows, RECENT_EVIDENCE_MS);
}

/**
 * Recent activity from per replica × key range counts: in each range (and over the dataset), each replica's
 * share of the changes held first by one replica, as `reliability(total, total − ahead)`. Every replica seen
 * anywhere gets a score in every range with evidence (0 of the range's changes when it held none first).
 */
export function recentActivityEvidence(rows: readonly ActivityEvidence[], windowMs: number): OwnerEvidence {
  const names = [...new Set(rows.map((r) => r.replica))].sort();
  const perRange = new Map<number, Map<string, number>>();
  const whole = new Map<string, number>();
  for (const r of rows) {
    if (r.ahead <= 0) continue;
    whole.set(r.replica, (whole.get(r.replica) ?? 0) + r.ahead);
    if (r.segment < 0) continue;
    const range = perRange.get(r.segment) ?? new Map<string, number>();
    range.set(r.replica, (range.get(r.replica) ?? 0) + r.ahead);
    perRange.set(r.segment, range);
  }
  const shares = (ahead: ReadonlyMap<string, number>): Record<string, SourceScore> => {
    let total = 0;
    for (const n of ahead.values()) total += n;
    const out: Record<string, SourceScore> = {};
    if (total > 0) for (const name of names) out[name] = reliability(total, total - (ahead.get(name) ?? 0));
    return out;
  };
  const segments: Record<number, Record<string, SourceScore>> = {};
  for (const [segment, ahead] of [...perRange].sort((a, b) => a[0] - b[0])) segments[segment] = shares(ahead);
  return { basis: "recent-activity", replicas: shares(whole), segments, windowMs };
}

/**
 * Latency from per replica × key range counts: each replica's share of its freshness comparisons in which it
 * was not behind, as `reliability(observed, behind)`, over the dataset, with the mean lag of its probes.
 */
export function latencyEvidence(rows: readonly ActivityEvidence[], windowMs: number): OwnerEvidence {
  const sums = new Map<string, { observed: number; behind: number; probed: number; lagMs: number }>();
  for (const r of rows) {
    const s = sums.get(r.replica) ?? { observed: 0, behind: 0, probed: 0, lagMs: 0 };
    s.observed += r.observed;
    s.behind += r.behind;
    s.probed += r.probed;
    s.lagMs += r.lagMs;
    sums.set(r.replica, s);
  }
  const replicas: Record<string, SourceScore> = {};
  for (const [name, s] of [...sums].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (s.observed <= 0) continue;
    const score = reliability(s.observed, Math.min(s.behind, s.observed));
    replicas[name] = s.probed > 0 ? { ...score, meanLagMs: s.lagMs / s.probed } : score;
  }
  return { basis: "latency", replicas, windowMs };
}
