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
export interface DivergenceStore {
  recordDivergences(divergences: readonly StoredDivergence[]): Promise<void>;
  /** The run's divergences in the order (last) recorded. */
  listDivergences(runId: string): Promise<StoredDivergence[]>;
}
