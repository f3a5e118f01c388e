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
 * - `recent-activity`: of the changes some replica alone held first (stale divergences with one newest
 *   replica) in the hours since another replica last led, within RECENT_EVIDENCE_MS, the share each replica
 *   held first, with its Wilson interval; per key range and for the whole dataset.
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
 * Recent activity from per replica × key range × hour counts. In each range (and over the dataset) the
 * hours are taken newest first while the same replica held the most changes first in each (ties: the first
 * name), stopping at the first hour another replica led: when the writer moves, the old writer's hours stop
 * counting as soon as an hour is led by the new one. A range whose newest change predates the dataset's
 * current run and whose leader is another replica is left out (its decisions use the dataset's scores). Over the hours taken, each replica's share of the
 * changes held first is `reliability(total, total − ahead)`, and `sinceMs` is the oldest hour taken. Every
 * replica seen anywhere gets a score in every range with evidence (0 of the changes when it held none first).
 */
export function recentActivityEvidence(rows: readonly ActivityEvidence[], windowMs: number): OwnerEvidence {
  const names = [...new Set(rows.map((r) => r.replica))].sort();
  type Hours = Map<number, Map<string, number>>;
  const perRange = new Map<number, Hours>();
  const whole: Hours = new Map();
  const add = (hours: Hours, r: ActivityEvidence) => {
    const hour = hours.get(r.bucket) ?? new Map<string, number>();
    hour.set(r.replica, (hour.get(r.replica) ?? 0) + r.ahead);
    hours.set(r.bucket, hour);
  };
  for (const r of rows) {
    if (r.ahead <= 0) continue;
    add(whole, r);
    if (r.segment < 0) continue;
    const range = perRange.get(r.segment) ?? new Map();
    add(range, r);
    perRange.set(r.segment, range);
  }
  const leader = (hour: ReadonlyMap<string, number>) => {
    let best: [string, number] | undefined;
    for (const name of names) {
      const n = hour.get(name) ?? 0;
      if (!best || n > best[1]) best = [name, n];
    }
    return best?.[0];
  };
  /** The leadership run of `hours` (newest first while one replica leads) and its scores. */
  const run = (hours: Hours) => {
    const newestFirst = [...hours].sort((a, b) => b[0] - a[0]);
    const lead = newestFirst[0] && leader(newestFirst[0][1]);
    const ahead = new Map<string, number>();
    let total = 0;
    let sinceMs = 0;
    for (const [bucket, hour] of newestFirst) {
      if (leader(hour) !== lead) break;
      for (const [name, n] of hour) {
        ahead.set(name, (ahead.get(name) ?? 0) + n);
        total += n;
      }
      sinceMs = bucket;
    }
    const scores: Record<string, SourceScore> = {};
    if (total > 0)
      for (const name of names)
        scores[name] = { ...reliability(total, total - (ahead.get(name) ?? 0)), sinceMs };
    return { scores, lead, newest: newestFirst[0]?.[0] ?? 0, sinceMs };
  };
  const dataset = run(whole);
  const segments: Record<number, Record<string, SourceScore>> = {};
  for (const [segment, hours] of [...perRange].sort((a, b) => a[0] - b[0])) {
    const range = run(hours);
    // A range whose every change predates the dataset's current writer taking over, and names another
    // writer, says who wrote there before the move: the dataset's evidence decides it instead.
    if (range.newest < dataset.sinceMs && range.lead !== dataset.lead) continue;
    segments[segment] = range.scores;
  }
  return { basis: "recent-activity", replicas: dataset.scores, segments, windowMs };
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
