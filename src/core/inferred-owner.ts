/**
 * Inferred ownership: the owner of each decision chosen from per-replica scores handed in with the decision
 * (an evidence snapshot the engine reads once per run). Pure: it never reads evidence itself.
 */
import type { Divergence } from "./classify.js";

/** What an inferred owner is chosen by (only `reliability` is decided today; see `INFERRED_BASES`). */
export type InferredBasis = "reliability" | "recent-activity" | "latency";

/** The bases `decideRepair` can decide by; config refuses the others with a one-line error. */
export const INFERRED_BASES: readonly InferredBasis[] = ["reliability"];

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
 * One replica's score with its 95% interval and the counts behind it (learning/evidence.ts `reliability`
 * computes it from settled decisions: the share the replica did not lose).
 */
export interface SourceScore {
  readonly score: number;
  readonly low: number;
  readonly high: number;
  readonly settled: number;
  readonly lost: number;
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
  /** Scores by replica, then column. */
  readonly columns?: Readonly<Record<string, Readonly<Record<string, SourceScore>>>> | undefined;
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
 * column), else the whole record's score.
 */
function scoreFor(
  replica: string,
  d: Divergence,
  evidence: OwnerEvidence | undefined,
): { score: SourceScore; columns?: readonly string[] } {
  const whole = evidence?.replicas[replica] ?? NO_EVIDENCE;
  const byColumn = evidence?.columns?.[replica];
  if (!byColumn || d.columns.length === 0) return { score: whole };
  const scores = d.columns.map((c) => byColumn[c]);
  if (scores.some((s) => s === undefined || s.settled === 0)) return { score: whole };
  const weakest = (scores as SourceScore[]).reduce((a, b) => (b.low < a.low ? b : a));
  return { score: weakest, columns: d.columns };
}

/**
 * Chooses the owner of one divergence from the evidence: among the replicas the divergence names (dataset
 * order), the one with the highest interval lower bound (ties: the first). It owns the decision when that
 * lower bound is at least `minConfidence`; otherwise the fallback does, or nobody (the caller escalates).
 * Comparing lower bounds, not points, keeps a replica with little evidence from outranking one with much.
 */
export function inferOwner(
  d: Divergence,
  ownership: InferredOwnership,
  replicas: readonly string[],
  evidence: OwnerEvidence | undefined,
): OwnerChoice {
  const usable = evidence && evidence.basis === ownership.basis ? evidence : undefined;
  let best: { replica: string; score: SourceScore; columns?: readonly string[] } | undefined;
  for (const r of replicas) {
    if (d.replicas[r] === undefined) continue;
    const s = scoreFor(r, d, usable);
    if (!best || s.score.low > best.score.low) best = { replica: r, ...s };
  }
  const chosen = best ?? { replica: replicas[0] ?? "", score: NO_EVIDENCE };
  const confident = best !== undefined && chosen.score.low >= ownership.minConfidence;
  return {
    basis: ownership.basis,
    best: chosen.replica,
    ...chosen.score,
    ...(chosen.columns ? { columns: chosen.columns } : {}),
    minConfidence: ownership.minConfidence,
    confident,
    owner: confident ? chosen.replica : ownership.fallback,
  };
}

const pct = (x: number) => x.toFixed(3);

/**
 * The evidence as a reason reads it: "reliability of a 0.975 (95% interval 0.93–0.99 over 120 settled, 3
 * lost) on price".
 */
export function choiceText(c: OwnerChoice): string {
  return `${c.basis} of ${c.best} ${pct(c.score)} (95% interval ${pct(c.low)}–${pct(c.high)} over ${c.settled} settled, ${c.lost} lost)${c.columns ? ` on ${c.columns.join(", ")}` : ""}`;
}
