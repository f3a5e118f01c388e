/**
 * Inferred ownership: the owner of each decision chosen from per-replica scores handed in with the decision
 * (an evidence snapshot the engine reads once per run). Pure: it never reads evidence itself.
 */
import type { Divergence } from "./classify.js";
import type { Key } from "./model.js";

/**
 * What an inferred owner is chosen by:
 * - `reliability`: the replica that lost the fewest settled decisions (it held the right value);
 * - `recent-activity`: the replica taking the writes now, in the key range when it has evidence there (it
 *   alone held the newest version of the most stale divergences recently);
 * - `latency`: the replica least behind (the fewest times behind the newest version or a probe's canary).
 */
export type InferredBasis = "reliability" | "recent-activity" | "latency";

/** The bases `decideRepair` can decide by. */
export const INFERRED_BASES: readonly InferredBasis[] = ["reliability", "recent-activity", "latency"];

/** A compiled `owner: { inferred, minConfidence, fallback }`. */
export interface InferredOwnership {
  readonly kind: "inferred";
  readonly basis: InferredBasis;
  /** The lower bound of the winner's 95% interval must reach this, else `fallback` (or an escalation). */
  readonly minConfidence: number;
  /** The replica that owns a decision when no replica is confident enough; undefined: escalate. */
  readonly fallback?: string | undefined;
}

/**
 * One replica's score with its 95% interval and the counts behind it: the share of `settled` trials it did not
 * lose (learning/evidence.ts `reliability` computes the Wilson interval). What a trial is depends on the basis:
 * - reliability: a settled decision naming the replica; `lost` those in which it held the losing value;
 * - recent-activity: a change some replica alone held first (in the window and key range); `lost` those
 *   another replica held first;
 * - latency: a comparison of its freshness with the others' (window); `lost` those in which it was behind.
 */
export interface SourceScore {
  readonly score: number;
  readonly low: number;
  readonly high: number;
  readonly settled: number;
  readonly lost: number;
  /** latency: the mean lag of the probes whose canary reached it, ms (absent: no probe did). */
  readonly meanLagMs?: number | undefined;
  /** recent-activity: the start of the oldest hour counted (the hours since another replica led), ms. */
  readonly sinceMs?: number | undefined;
}

/**
 * The evidence a run decides inferred ownership by: scores per replica, and per replica × column. Read once
 * per run before deciding, so every decision of the run sees the same snapshot; the same snapshot and policy
 * version give the same decisions.
 */
export interface OwnerEvidence {
  readonly basis: InferredBasis;
  /** Whole-record scores by replica; a replica without an entry has no evidence (interval 0–1). */
  readonly replicas: Readonly<Record<string, SourceScore>>;
  /** Scores by replica, then column (reliability). */
  readonly columns?: Readonly<Record<string, Readonly<Record<string, SourceScore>>>> | undefined;
  /**
   * Scores by key range (the segment index of the runs that recorded them), then replica (recent-activity):
   * a decision in a range with evidence is decided by the range's, else by the whole dataset's (`replicas`).
   */
  readonly segments?: Readonly<Record<number, Readonly<Record<string, SourceScore>>>> | undefined;
  /** The window the counts cover, ending when the run read them, ms (recent-activity, latency). */
  readonly windowMs?: number | undefined;
}

/** What `decideRepair` is handed besides the divergence and the policy. */
export interface DecisionContext {
  /** The run's evidence snapshot (undefined: none was read, so no inferred owner is confident). */
  readonly evidence?: OwnerEvidence | undefined;
  /**
   * The run's keys come from the owner's change log (a replay, or a check of the owner's feed): under
   * `resolve: replay` a divergence on them is a change the other replicas missed. Without it, none is.
   */
  readonly logged?: boolean | undefined;
  /**
   * The key range (segment index) of a key in the run's segment cut, -1 when the run has none (a run over a
   * list of keys). Recent activity is decided per key range with it; without it, by the dataset's evidence.
   */
  readonly segmentOf?: ((key: Key) => number) | undefined;
}

/** The evidence a decision by an inferred owner carries into its reason and its audit entry. */
export interface OwnerChoice {
  readonly basis: InferredBasis;
  /** The replica the scores chose (the best lower bound), confident or not. */
  readonly best: string;
  readonly score: number;
  readonly low: number;
  readonly high: number;
  readonly settled: number;
  readonly lost: number;
  /** The columns whose evidence was used (the weakest of them counts); absent: the whole record's. */
  readonly columns?: readonly string[] | undefined;
  /** recent-activity: the key range whose evidence was used; absent: the whole dataset's. */
  readonly segment?: number | undefined;
  /** recent-activity, latency: the window the counts cover, ms. */
  readonly windowMs?: number | undefined;
  /** latency: the best replica's mean probe lag, ms. */
  readonly meanLagMs?: number | undefined;
  /** recent-activity: the start of the oldest hour counted, ms since the epoch. */
  readonly sinceMs?: number | undefined;
  readonly minConfidence: number;
  /** True when `low` reached `minConfidence`. */
  readonly confident: boolean;
  /** The replica that owns the decision: `best` when confident, else the fallback; undefined: escalate. */
  readonly owner?: string | undefined;
}

const NO_EVIDENCE: SourceScore = { score: 1, low: 0, high: 1, settled: 0, lost: 0 };

/**
 * A replica's score for one divergence: the weakest lower bound over the differing columns when every one of
 * them has column evidence (a replica is trusted for a record only as far as for its least reliable differing
 * column), else the key range's scores when the range has evidence, else the whole record's.
 */
function scoreFor(
  replica: string,
  d: Divergence,
  evidence: OwnerEvidence | undefined,
  range: Readonly<Record<string, SourceScore>> | undefined,
): { score: SourceScore; columns?: readonly string[] } {
  const whole = (range ?? evidence?.replicas)?.[replica] ?? NO_EVIDENCE;
  const byColumn = evidence?.columns?.[replica];
  if (!byColumn || d.columns.length === 0) return { score: whole };
  const scores = d.columns.map((c) => byColumn[c]);
  if (scores.some((s) => s === undefined || s.settled === 0)) return { score: whole };
  const weakest = (scores as SourceScore[]).reduce((a, b) => (b.low < a.low ? b : a));
  return { score: weakest, columns: d.columns };
}

/** The scores of key range `segment` when it has any evidence (some replica with a trial there). */
function rangeScores(
  evidence: OwnerEvidence | undefined,
  segment: number | undefined,
): Readonly<Record<string, SourceScore>> | undefined {
  if (segment === undefined || segment < 0) return undefined;
  const range = evidence?.segments?.[segment];
  return range && Object.values(range).some((s) => s.settled > 0) ? range : undefined;
}

/**
 * Chooses the owner of one divergence from the evidence: among the replicas the divergence names (dataset
 * order), the one with the highest interval lower bound (ties: the first). It owns the decision when that
 * lower bound is at least `minConfidence`; otherwise the fallback does, or nobody (the caller escalates).
 * Comparing lower bounds, not points, keeps a replica with little evidence from outranking one with much.
 * `segment` is the divergence's key range: recent activity is judged there when the range has evidence.
 */
export function inferOwner(
  d: Divergence,
  ownership: InferredOwnership,
  replicas: readonly string[],
  evidence: OwnerEvidence | undefined,
  segment?: number,
): OwnerChoice {
  const usable = evidence && evidence.basis === ownership.basis ? evidence : undefined;
  const range = rangeScores(usable, segment);
  let best: { replica: string; score: SourceScore; columns?: readonly string[] } | undefined;
  for (const r of replicas) {
    if (d.replicas[r] === undefined) continue;
    const s = scoreFor(r, d, usable, range);
    if (!best || s.score.low > best.score.low) best = { replica: r, ...s };
  }
  const chosen = best ?? { replica: replicas[0] ?? "", score: NO_EVIDENCE };
  const confident = best !== undefined && chosen.score.low >= ownership.minConfidence;
  const { meanLagMs, sinceMs, ...score } = chosen.score;
  return {
    basis: ownership.basis,
    best: chosen.replica,
    ...score,
    ...(chosen.columns ? { columns: chosen.columns } : {}),
    ...(range ? { segment } : {}),
    ...(usable?.windowMs !== undefined ? { windowMs: usable.windowMs } : {}),
    ...(meanLagMs !== undefined ? { meanLagMs } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    minConfidence: ownership.minConfidence,
    confident,
    owner: confident ? chosen.replica : ownership.fallback,
  };
}

const pct = (x: number) => x.toFixed(3);

/** A window as a reason reads it: "24 h", "30 min". */
function windowText(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${Math.round(ms / 60_000)} min`;
}

/**
 * The evidence as a reason reads it, in the basis's own terms:
 * - "reliability of a 0.975 (95% interval 0.930–0.990 over 120 settled, 3 lost) on price";
 * - "recent-activity of b 0.950 (95% interval 0.835–0.986: first to hold 38 of 40 changes seen since
 *   2026-06-01T14:00Z, in key range 3)" (the hours since another replica last led);
 * - "latency of b 0.975 (95% interval 0.929–0.991: behind in 3 of 120 observations in the last 24 h; mean
 *   probe lag 12 ms)".
 */
export function choiceText(c: OwnerChoice): string {
  const head = `${c.basis} of ${c.best} ${pct(c.score)} (95% interval ${pct(c.low)}–${pct(c.high)}`;
  const within = c.windowMs !== undefined ? ` in the last ${windowText(c.windowMs)}` : "";
  switch (c.basis) {
    case "reliability":
      return `${head} over ${c.settled} settled, ${c.lost} lost)${c.columns ? ` on ${c.columns.join(", ")}` : ""}`;
    case "recent-activity": {
      const since =
        c.sinceMs !== undefined ? ` since ${new Date(c.sinceMs).toISOString().slice(0, 13)}:00Z` : within;
      return `${head}: first to hold ${c.settled - c.lost} of ${c.settled} changes seen${since}${c.segment !== undefined ? `, in key range ${c.segment}` : ""})`;
    }
    case "latency":
      return `${head}: behind in ${c.lost} of ${c.settled} observations${within}${c.meanLagMs !== undefined ? `; mean probe lag ${Math.round(c.meanLagMs)} ms` : ""})`;
  }
}
