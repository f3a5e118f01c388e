/** The DivergenceStore port: what each run found diverging, per key. */
import type { DivergenceClass } from "../core/classify.js";
import type { Key } from "../core/model.js";

export interface StoredDivergence {
  readonly runId: string;
  readonly dataset: string;
  readonly key: Key;
  readonly class: DivergenceClass;
  /** Free-form JSON detail (replica observations, differing columns). */
  readonly detail: unknown;
}

/**
 * The divergences of each run, one per (run, key).
 *
 * ## Recording
 * Must be idempotent: recording a (run, key) again replaces it, as the last word, and moves it to the end of
 * the run's order; the same divergences twice have the effect of once. All of a call's divergences are one
 * transaction.
 */
/** Which of a run's divergences to count or list: of one dataset, of one class. */
export interface DivergenceFilter {
  readonly dataset?: string | undefined;
  readonly class?: string | undefined;
}

/** A page of a run's divergences: `limit` of them after skipping `offset` (in the order recorded). */
export interface DivergencePage extends DivergenceFilter {
  readonly limit?: number | undefined;
  readonly offset?: number | undefined;
}

export interface DivergenceStore {
  recordDivergences(divergences: readonly StoredDivergence[]): Promise<void>;
  /**
   * The run's divergences in the order (last) recorded, filtered and paged in the store: a caller that
   * shows a page (serve's API, the dashboard) holds that page, not the run's every divergence.
   */
  listDivergences(runId: string, page?: DivergencePage): Promise<StoredDivergence[]>;
  /** How many of the run's divergences match (what `listDivergences` would list unpaged). */
  countDivergences(runId: string, filter?: DivergenceFilter): Promise<number>;
  /**
   * The run's divergent keys by dataset, in the order recorded, read a page at a time (no detail is
   * read or parsed): what `recheck --run` re-reads.
   */
  keysOfRun(runId: string): AsyncIterable<{ readonly dataset: string; readonly key: Key }>;
}
