/**
 * What a finished group of segments comes to, wherever it ran (in this process or on a worker): plain JSON,
 * small (bounded, not by the segment's divergences), so a job's result carries it back to the coordinator
 * and the run's observer counts every group the same way. Computes; reads and writes nothing.
 */
import { inCanary } from "../core/canary.js";
import type { Disagreement } from "../core/compare-decisions.js";
import type { Decision } from "../core/decide.js";
import { keyToJson, type RecordShape } from "../core/model.js";
import type { CandidateDecider } from "./candidate-decider.js";
import type { Canary } from "./plan-dataset.js";
import type { RetryReason } from "./retry-set.js";
import type { SegmentWork } from "./run-segment.js";
import type { RunTotals } from "./run-totals.js";

/** Disagreements a group's shadow figures keep as examples (their counts cover all of them). */
export const SHADOW_EXAMPLES = 100;

/** One decision as the shadow view shows it. */
export interface ShadowDecision {
  readonly action: string;
  readonly source: string | null;
  readonly targets: readonly string[];
  readonly rule: string;
  readonly reason: string;
}

/** A divergence the candidate decided differently: both decisions; the candidate's is what it would have written. */
export interface ShadowDisagreement {
  readonly key: readonly unknown[];
  readonly class: string;
  readonly live: ShadowDecision;
  readonly candidate: ShadowDecision;
}

/** A shadow candidate over one group: agreement, disagreements by pair of rules, writes it would have made. */
export interface ShadowFigures {
  readonly agree: number;
  readonly disagree: number;
  /** Targets the candidate would have written where the live policy decided otherwise. */
  readonly wouldWrite: number;
  readonly byRule: readonly { readonly live: string; readonly candidate: string; readonly count: number }[];
  /** The first SHADOW_EXAMPLES disagreements, in the live plan's order. */
  readonly disagreements: readonly ShadowDisagreement[];
}

/** How one side of a staged rollout fared: divergences decided, and how many ended badly. */
export interface SideFigures {
  decided: number;
  bad: number;
}

/** A staged rollout over one group: the keys the live policy decided against those the candidate decided. */
export interface CanaryFigures {
  readonly live: SideFigures;
  readonly candidate: SideFigures;
}

/** A group's candidate figures (each present when that candidate took part). */
export interface CandidateFigures {
  readonly shadow?: ShadowFigures | undefined;
  readonly canary?: CanaryFigures | undefined;
}

/** A group of segments done: what observers count, the same whether it ran here or on a worker. */
export interface SegmentReport {
  /** Segments `[from, to)` of `of`. */
  readonly from: number;
  readonly to: number;
  readonly of: number;
  readonly totals: RunTotals;
  /** How long the group took where it ran, ms. */
  readonly durationMs: number;
  /** The worker that ran it (`host:pid:random`); absent when it ran in the run's own process. */
  readonly worker?: string | undefined;
  /** Repair outcomes by target replica, then outcome. */
  readonly repairs: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Escalations the group opened, by class. */
  readonly opened: Readonly<Record<string, number>>;
  /** Times to convergence of the keys the group took back, seconds (recorded where it ran). */
  readonly ttcSeconds?: readonly number[] | undefined;
  readonly candidate?: CandidateFigures | undefined;
  /** A key job's keys (`keyId`) found divergent and not verified converged, as its worker reports them. */
  readonly unsettled?: readonly string[] | undefined;
  /** A key job's keys (`keyId`) worth checking again, and why (`unsettledKeys`), as its worker reports them. */
  readonly retry?: readonly (readonly [string, RetryReason])[] | undefined;
  /**
   * A piece of a group too dense to hold at once (its range cut smaller): each piece is reported as it is
   * done, with the group's `from`/`to`; only the `last` one completes the group's segments.
   */
  readonly part?: { readonly index: number; readonly last: boolean } | undefined;
}

const WRITES = new Set(["propagate", "delete", "merge"]);
const BAD_OUTCOMES = new Set(["failed", "superseded"]);

function decisionView(d: Decision): ShadowDecision {
  return { action: d.action, source: d.source ?? null, targets: d.targets, rule: d.rule, reason: d.reason };
}

/** A shadow comparison of one group as figures (counts of every disagreement, the first ones as examples). */
export function shadowFigures(
  shape: RecordShape,
  agree: number,
  disagreements: readonly Disagreement[],
): ShadowFigures {
  let wouldWrite = 0;
  const byRule = new Map<string, { live: string; candidate: string; count: number }>();
  for (const { live, candidate } of disagreements) {
    if (WRITES.has(candidate.action)) wouldWrite += candidate.targets.length;
    const id = `${live.rule}\u0000${candidate.rule}`;
    const r = byRule.get(id) ?? { live: live.rule, candidate: candidate.rule, count: 0 };
    r.count++;
    byRule.set(id, r);
  }
  return {
    agree,
    disagree: disagreements.length,
    wouldWrite,
    byRule: [...byRule.values()],
    disagreements: disagreements.slice(0, SHADOW_EXAMPLES).map(({ live, candidate }) => ({
      key: keyToJson(shape.key, live.key),
      class: live.class,
      live: decisionView(live),
      candidate: decisionView(candidate),
    })),
  };
}

/**
 * A staged rollout over one group: each decision counts for the side whose policy made it (escalations are
 * bad), each failed or superseded repair for the side its key falls in at `fraction`.
 */
export function canaryFigures(
  decisions: readonly Decision[],
  results: SegmentWork["results"],
  fraction: number,
  candidateVersion: string,
): CanaryFigures {
  const live = { decided: 0, bad: 0 };
  const candidate = { decided: 0, bad: 0 };
  for (const d of decisions) {
    const side = d.policyVersion === candidateVersion ? candidate : live;
    side.decided++;
    if (d.action === "escalate") side.bad++;
  }
  for (const r of results)
    if (BAD_OUTCOMES.has(r.outcome)) (inCanary(r.key, fraction) ? candidate : live).bad++;
  return { live, candidate };
}

/** The candidates' figures of a group that was decided (undefined when none took part, or nothing was decided). */
export function candidateFigures(
  work: SegmentWork,
  shadow: CandidateDecider | undefined,
  canary: Canary | undefined,
): CandidateFigures | undefined {
  const plan = work.plan;
  if (!plan || (!shadow?.policy && !canary)) return undefined;
  let figures: CandidateFigures = {};
  if (shadow?.policy) {
    const compared = shadow.decide(work.scan, plan);
    figures = { shadow: shadowFigures(work.scan.shape, compared.agree, compared.disagreements) };
  }
  if (canary)
    figures = {
      ...figures,
      canary: canaryFigures(plan.decisions, work.results, canary.fraction, canary.policy.version),
    };
  return figures;
}

/** A group's report from what it did where it ran. */
export function segmentReport(
  where: { readonly from: number; readonly to: number; readonly of: number },
  work: Pick<SegmentWork, "results" | "opened">,
  totals: RunTotals,
  durationMs: number,
  candidate: CandidateFigures | undefined,
): SegmentReport {
  const repairs: Record<string, Record<string, number>> = {};
  for (const r of work.results) {
    const of = repairs[r.target] ?? {};
    of[r.outcome] = (of[r.outcome] ?? 0) + 1;
    repairs[r.target] = of;
  }
  const opened: Record<string, number> = {};
  for (const e of work.opened) opened[e.class] = (opened[e.class] ?? 0) + 1;
  return { ...where, totals, durationMs, repairs, opened, ...(candidate ? { candidate } : {}) };
}
