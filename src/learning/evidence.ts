/**
 * The learning loop's shared vocabulary: what the evidence aggregates answer (per replica, per key range),
 * and the reliability score computed from them. The EvidenceStore port (src/state) keeps the aggregates;
 * insights, inferred ownership and adaptive focus read them through `EvidenceReader`.
 */

/** Settled decisions that named one replica (or one replica × column), and how many it lost. */
export interface ReplicaEvidence {
  readonly replica: string;
  /** The column the counts are about; undefined: the whole record (every column together). */
  readonly column?: string | undefined;
  /** Decisions settled by a policy or a person in which this replica held one of the competing values. */
  readonly settled: number;
  /** Of those, how many it held the losing value in (it was a repair target, or a person picked another). */
  readonly lost: number;
}

/** Drift observed in one key range (a segment of the dataset's key space) inside a window. */
export interface RangeDrift {
  /** The range's index in the dataset's segment order (stable while the segment count is). */
  readonly segment: number;
  /** Divergences first seen in the range inside the window. */
  readonly divergences: number;
  /** Of those, how many needed a repair (the rest converged by themselves or are still open). */
  readonly repaired: number;
  /** When the last one was seen, ms since the epoch (undefined: none). */
  readonly lastSeenAt?: number | undefined;
}

/**
 * One replica's freshness in one key range inside a window: how often it held a change first, how often it
 * was behind, and its probe lag. What inferred ownership by `recent-activity` and by `latency` reads.
 */
export interface ActivityEvidence {
  readonly replica: string;
  /** The key range's index in the dataset's segment order; -1 when not known (a probe, a run over keys). */
  readonly segment: number;
  /** The time bucket's start, ms since the epoch (an hour; a UTC day once rolled up). */
  readonly bucket: number;
  /** Stale divergences in which this replica alone held the newest version. */
  readonly ahead: number;
  /** Comparisons of its freshness with the others' (stale divergences holding the record, probes). */
  readonly observed: number;
  /** Of those, the ones in which it was behind. */
  readonly behind: number;
  /** Probes whose canary reached it within the timeout, and the sum of their lags (ms). */
  readonly probed: number;
  readonly lagMs: number;
}

/** What the learning features read: evidence aggregated so far, never recomputed from history. */
export interface EvidenceReader {
  /** Per replica (column undefined) and per replica × column, over everything retained. */
  replicaEvidence(dataset: string): Promise<readonly ReplicaEvidence[]>;
  /** Per key range, divergences first seen at or after `since` (ms since the epoch). */
  rangeDrift(dataset: string, since: number): Promise<readonly RangeDrift[]>;
  /** Per replica × key range × time bucket, the freshness counters of buckets ending after `since` (ms). */
  activityEvidence(dataset: string, since: number): Promise<readonly ActivityEvidence[]>;
}

/** A reliability score with its interval: the share of settled decisions a replica did NOT lose. */
export interface Reliability {
  /** Point estimate, (settled − lost) / settled; 1 when nothing is settled yet (no evidence against). */
  readonly score: number;
  /** Lower and upper bounds of the 95% Wilson score interval (0 and 1 with no evidence). */
  readonly low: number;
  readonly high: number;
  readonly settled: number;
  readonly lost: number;
}

const Z95 = 1.959963984540054;

/** The Wilson score interval of `settled − lost` successes in `settled` trials, at 95%. */
export function reliability(settled: number, lost: number): Reliability {
  if (!(settled >= 0) || !(lost >= 0) || lost > settled)
    throw new RangeError(`reliability: need 0 <= lost <= settled, got lost=${lost} settled=${settled}`);
  if (settled === 0) return { score: 1, low: 0, high: 1, settled, lost };
  const p = (settled - lost) / settled;
  const z2 = Z95 * Z95;
  const denom = 1 + z2 / settled;
  const centre = (p + z2 / (2 * settled)) / denom;
  const half = (Z95 * Math.sqrt((p * (1 - p)) / settled + z2 / (4 * settled * settled))) / denom;
  return { score: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half), settled, lost };
}
