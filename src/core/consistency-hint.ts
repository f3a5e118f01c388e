/** Consistency hints for applications: a dataset's state (fresh, lagging, diverged) from its figures. Pure. */

/** fresh: copies agree as far as Concord knows; lagging: changes take longer than the threshold to reach every copy; diverged: copies disagree now. */
export type HintState = "fresh" | "lagging" | "diverged";

/** What a dataset's hint is computed from. */
export interface HintInput {
  /** Keys seen divergent and not yet repaired and verified. */
  readonly openDivergences: number;
  /** Divergences waiting for a person. */
  readonly openEscalations: number;
  /** Recent lag samples, seconds (probe canary to replica, change to verified check); null: never arrived. */
  readonly lagSeconds: readonly (number | null)[];
  /** Lag past this (p99) makes the dataset `lagging`. */
  readonly lagThresholdSeconds: number;
}

/** A dataset's hint, as `GET /api/hints/:dataset` answers it. */
export interface DatasetHint {
  readonly state: HintState;
  /** p50 and p99 of the lag samples, seconds; null without samples, or when a sample never arrived (p99). */
  readonly lag: { readonly p50: number | null; readonly p99: number | null; readonly samples: number };
  readonly openDivergences: number;
  readonly openEscalations: number;
}

/** The `p` quantile (0–1) of ascending `sorted` by nearest rank; null when empty. */
export function quantile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * diverged when anything is divergent or escalated; otherwise lagging when the lag's p99 exceeds the
 * threshold (a sample that never arrived counts as past it); otherwise fresh.
 */
export function datasetHint(input: HintInput): DatasetHint {
  const arrived = input.lagSeconds.filter((s): s is number => s !== null).sort((a, b) => a - b);
  const lost = input.lagSeconds.length - arrived.length;
  // A lost sample ranks above every arrived one: it decides p99 once it is 1% of them or more.
  const p99Rank = Math.ceil(0.99 * input.lagSeconds.length);
  const p99 =
    lost > 0 && p99Rank > arrived.length ? null : quantile(arrived, p99Rank / Math.max(1, arrived.length));
  const lag = { p50: quantile(arrived, 0.5), p99, samples: input.lagSeconds.length };
  const lagging = (lost > 0 && p99 === null) || (p99 !== null && p99 > input.lagThresholdSeconds);
  const state: HintState =
    input.openDivergences > 0 || input.openEscalations > 0 ? "diverged" : lagging ? "lagging" : "fresh";
  return { state, lag, openDivergences: input.openDivergences, openEscalations: input.openEscalations };
}
