/** The RolloutStore port: where a dataset's policy rollout stands (a canary's step, approvals collected), kept across restarts. */

/**
 * One piece of a dataset's rollout state, by kind: `canary` (a staged rollout's step, passes held,
 * approvals) or `approval` (a policy change waiting for its approvers). Serve owns the meaning of `state`.
 */
export interface RolloutState {
  readonly dataset: string;
  readonly kind: string;
  /**
   * What the state belongs to (for a canary, a hash of the candidate's settings and policy): a reader whose
   * subject differs treats the state as another rollout's and starts afresh.
   */
  readonly subject: string;
  /** Free-form JSON, read back as written. */
  readonly state: unknown;
  readonly updatedAt: number;
}

/**
 * Rollout state, one record per (dataset, kind).
 *
 * ## Round trip
 * `putRollout` creates or replaces the record of (dataset, kind); `getRollout` returns it as written (state
 * deep-equal), or undefined. `deleteRollout` is idempotent. Another process sharing the store reads what
 * was written: a restarted serve resumes a rollout where it stood.
 */
export interface RolloutStore {
  getRollout(dataset: string, kind: string): Promise<RolloutState | undefined>;
  putRollout(state: RolloutState): Promise<void>;
  deleteRollout(dataset: string, kind: string): Promise<void>;
}
