/** The RunStore port: one record per (run, dataset), and the heartbeat that tells a live run from an abandoned one. */

/** One dataset's part of a run (an invocation covers every dataset it touched, under one run id). */
export interface RunRecord {
  readonly id: string;
  readonly dataset: string;
  readonly command: string;
  readonly startedAt: number;
  readonly finishedAt?: number | undefined;
  readonly status: "running" | "ok" | "diverged" | "failed";
  readonly counts: Readonly<Record<string, number>>;
  readonly stats: Readonly<Record<string, number>>;
  /** The run's last heartbeat (`beginRun` gives the first); absent in records made before heartbeats. */
  readonly heartbeatAt?: number | undefined;
}

/** What `finishRun` records. */
export interface RunResult {
  finishedAt: number;
  status: RunRecord["status"];
  counts: Record<string, number>;
  stats: Record<string, number>;
}

/**
 * Where runs are recorded, and how the others learn that a run is still alive.
 *
 * ## Bracketing
 * `beginRun` then `finishRun` bracket every run of a dataset. A run never finished stays "running": it
 * crashed, was killed, or is still going; its heartbeat tells which.
 *
 * ## Liveness
 * A run is *live* for a dataset while its record there is "running" and its heartbeat is recent: at or after
 * the `staleBefore` time a caller gives (now minus a stale threshold of several heartbeat intervals). A run
 * that beats every interval stays live however long it takes; one that crashed, was killed or is suspended
 * (SIGSTOP, a paused VM) goes stale, and what it left pending may be recovered by another process
 * (RepairLedger.listAbandonedRepairs). Times are the callers' clocks: hosts sharing a store must keep their
 * clocks well within the stale threshold of each other.
 *
 * ## Consistency
 * Each method is one transaction; its writes are durable when the promise resolves.
 */
export interface RunStore {
  /** Records the dataset's part of a new run as "running", its heartbeat at `startedAt`. Throws if it exists. */
  beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void>;
  /** Records how the dataset's part of the run ended; the run is no longer live there. */
  finishRun(id: string, dataset: string, result: RunResult): Promise<void>;
  /**
   * Notes that the run is alive at `at`, for every dataset it is still running. Must be idempotent and
   * commute: a heartbeat never moves back (the latest `at` is kept), so a late or repeated call is harmless.
   * Returns false when no dataset of the run is running any more (finished, or never begun): the caller has
   * no claim left to keep alive.
   */
  heartbeatRun(id: string, at: number): Promise<boolean>;
  /** The per-dataset records of one run, in the order begun. */
  getRun(id: string): Promise<RunRecord[]>;
  /** Records newest first (by start, then the order begun); `limit` defaults to 100. */
  listRuns(options?: { dataset?: string; limit?: number }): Promise<RunRecord[]>;
  /**
   * Retention for runs made per change (change-feed checks): deletes the dataset's runs of `commands` that
   * found nothing — finished `ok`, no divergence counted, no repair settled (so no divergence row, ledger
   * entry, audit entry or escalation refers to them) — except the newest `keep` runs of those commands.
   * Runs that found or repaired anything are kept whatever their age; nothing else is touched. Returns how
   * many runs were deleted.
   */
  pruneQuietRuns(dataset: string, commands: readonly string[], keep: number): Promise<number>;
}
