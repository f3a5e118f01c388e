/** The DivergentKeys port: which keys are divergent now, and since when, for time-to-convergence. */

/**
 * Keys (`keyId` text) seen divergent, per dataset, with when they were first and last seen.
 *
 * ## Marks commute
 * `markDivergent` notes keys seen divergent at `at`, in one transaction: a key not yet tracked gets
 * `firstSeen = lastSeen = at`; a tracked key keeps the earliest `firstSeen` and the latest `lastSeen` of its
 * marks. Several processes marking at once (their clocks and commit order may disagree) leave the same
 * result as any sequence of the same calls.
 *
 * ## Reading
 * `countDivergent` is how many keys of the dataset are tracked now; `getDivergent` a tracked key's first and
 * last seen (undefined when it is not tracked): what consistency hints read.
 *
 * ## Takes are exclusive
 * `takeDivergent` stops tracking keys and returns when each was first seen, in the order given (untracked
 * keys are absent). Atomic: of several calls taking the same key at once, exactly one returns it.
 */
export interface DivergentKeys {
  markDivergent(dataset: string, keys: readonly string[], at: number): Promise<void>;
  takeDivergent(dataset: string, keys: readonly string[]): Promise<Map<string, number>>;
  /**
   * Stops tracking the dataset's keys with `lastSeen < before` (they converged without a repair); returns
   * how many.
   */
  purgeDivergent(dataset: string, before: number): Promise<number>;
  countDivergent(dataset: string): Promise<number>;
  getDivergent(dataset: string, key: string): Promise<{ firstSeen: number; lastSeen: number } | undefined>;
}
