/** The SegmentStore port: the figures of each group of segments a run went through, for the run drill-down. */

/** What one group of segments of a run came to (a run over a list of keys is not recorded). */
export interface RunSegment {
  readonly dataset: string;
  readonly runId: string;
  /** Segments `[from, to)` of `of`. */
  readonly from: number;
  readonly to: number;
  readonly of: number;
  /**
   * With a focus order, the visit's position in the pass (a hot segment is visited several times, each its
   * own record); 0 for a pass in segment order.
   */
  readonly visit: number;
  /** When the group started (after any pause before it), ms since the epoch, and how long it took. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** Of that, time spent detecting (scan). */
  readonly scanMs: number;
  /** Rows read per replica. */
  readonly rows: Readonly<Record<string, number>>;
  /** Divergences found, by class. */
  readonly counts: Readonly<Record<string, number>>;
  /** Repair outcomes (applied, noop, superseded, failed). */
  readonly repairs: Readonly<Record<string, number>>;
  readonly escalated: number;
}

/**
 * Run segments, written by the one run pipeline as each group finishes (CLI runs, serve passes and worker
 * segments alike) and read by the drill-down of any process sharing the store.
 *
 * ## Round trip
 * `recordSegment` stores a group, replacing the run's group that starts at the same segment (a checkpointed
 * run redoes a group cut short when it resumes); `listSegments` returns a run's groups by `from`, exactly as
 * recorded, empty for an unknown run.
 *
 * ## Bounded
 * `keepSegmentRuns(dataset, n)` keeps the groups of the dataset's `n` runs that recorded most recently (by
 * their latest group's `startedAt`) and deletes the others; `pruneSegments(before)` deletes every group that
 * started before `before` (serve's retention). Both return how many groups they deleted and are idempotent.
 */
export interface SegmentStore {
  recordSegment(segment: RunSegment): Promise<void>;
  listSegments(runId: string): Promise<RunSegment[]>;
  keepSegmentRuns(dataset: string, runs: number): Promise<number>;
  pruneSegments(before: number): Promise<number>;
}
