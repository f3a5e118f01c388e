/** What one recorded event adds to the evidence aggregates: the counters and the cell they go to. Types only. */

/** The counters one evidence cell keeps; an increment names only those it adds to (the rest add 0). */
export interface EvidenceCounts {
  /** Divergences a repair run decided (each decision counts: a divergence still there next run counts again). */
  readonly divergences: number;
  /** Decisions settled by a policy or a person in which this replica held one of the competing values. */
  readonly settled: number;
  /** Of `settled`, those in which it held the losing value (a repair target, or a person picked another). */
  readonly lost: number;
  /** Of `settled`, those a person settled (an escalation resolved by picking a replica). */
  readonly personSettled: number;
  /** Of `personSettled`, those in which the person picked another replica. */
  readonly personLost: number;
  /** Times this replica's version went backwards (monotonic-write violation). */
  readonly regressions: number;
  /** Repairs written to this replica that failed (transient errors exhausted, breaker open). */
  readonly failed: number;
  /** Repairs written to this replica that it refused: the conditional write found the record changed. */
  readonly rejected: number;
  /** Repairs applied (verified) on this replica; for replica "": divergences that needed a repair. */
  readonly repaired: number;
  /** Divergences that converged without any repair (an open escalation whose key agrees again). */
  readonly selfConverged: number;
  /** Convergences whose time is summed in `convergedMs` (mean time to convergence = convergedMs / converged). */
  readonly converged: number;
  /** Sum of times to convergence, ms (from detection or decision to the verified repair or agreement). */
  readonly convergedMs: number;
  /**
   * For a numeric column: divergences in which it was the only kind of difference and its values differed
   * by at most NOISE_RELATIVE of their magnitude (noise a tolerance could absorb).
   */
  readonly noise: number;
  /** The largest absolute difference among those `noise` divergences (kept as a maximum, not a sum). */
  readonly noiseMax: number;
  /**
   * Changes this replica held first: stale divergences in which it alone held the newest version (a write
   * the others had not received yet). What `owner: { inferred: recent-activity }` decides by.
   */
  readonly ahead: number;
  /**
   * Times this replica's freshness was compared with the others': each stale divergence holding the record,
   * each probe writing to it or polling it. What `owner: { inferred: latency }` decides by, with `behind`.
   */
  readonly observed: number;
  /**
   * Of `observed`, those in which it was behind: it held an older version than the newest of a stale
   * divergence, or a probe's canary was not there on the first read after the source acknowledged it.
   */
  readonly behind: number;
  /** Probes whose canary reached this replica within the timeout (mean probe lag = lagMs / probed). */
  readonly probed: number;
  /** Sum of those probes' lags, ms (the probe's source counts 0). */
  readonly lagMs: number;
}

/** How small a numeric difference is, relative to the values, to count as noise: 1 in 10,000. */
export const NOISE_RELATIVE = 1e-4;

/** One increment: counts to add to the cell of (dataset, replica, column, segment, class, facet, hour of `at`). */
export interface EvidenceIncrement {
  readonly dataset: string;
  /** The replica the counts are about; "" for the dataset as a whole (how much diverged, converged). */
  readonly replica: string;
  /** The column the counts are about; "" for the whole record. */
  readonly column: string;
  /** The key range's index in the dataset's segment order; -1 when the run did not cut segments (a key list). */
  readonly segment: number;
  /** The divergence class the counts are about; "" when none applies. */
  readonly class: string;
  /** A declared field's value the key falls under (`region=eu`); "" for none. */
  readonly facet: string;
  /** When it happened, ms since the epoch; the store adds it to the UTC hour holding it. */
  readonly at: number;
  readonly counts: Partial<EvidenceCounts>;
}
