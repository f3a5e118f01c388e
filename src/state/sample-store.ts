/** The SampleStore port: timestamped measurements kept for the dashboard's history. */

/** One timestamped measurement kept for the dashboard's history (probe lag, time to convergence, …). */
export interface Sample {
  readonly dataset: string;
  /** What is measured, e.g. "lag" (seconds), "ttc" (seconds), "anomaly" (1 per event). */
  readonly series: string;
  /** The sub-series, e.g. the replica; "" when none. */
  readonly label: string;
  readonly at: number;
  /** The value; null records an event without one (e.g. a probe that timed out). */
  readonly value: number | null;
}

/** The filter of `listSamples`. */
export interface SampleFilter {
  dataset?: string;
  series?: string;
  /** Inclusive. */
  since?: number;
  /** Keeps the newest `limit` (on equal times, the last appended), still returned oldest first. */
  limit?: number;
}

/**
 * Samples, appended and pruned, never updated.
 *
 * ## Order
 * Listed oldest first; equal times in the order appended. Times and values read back exactly (fractional
 * milliseconds included).
 *
 * ## Consistency
 * `appendSamples` is all or nothing: one transaction however many samples.
 */
export interface SampleStore {
  appendSamples(samples: readonly Sample[]): Promise<void>;
  listSamples(filter: SampleFilter): Promise<Sample[]>;
  /** Removes the samples of every dataset with `at < before` (retention); returns how many. */
  pruneSamples(before: number): Promise<number>;
}
