/** The SegmentDispatch port: how a coordinator hands a pass's segments to worker processes and learns their end. */
import type { Key, KeyRange } from "../core/model.js";
import type { CandidatePolicy } from "./candidate-decider.js";
import type { RetryReason } from "./retry-set.js";
import type { RunTotals } from "./run-totals.js";
import type { CandidateFigures } from "./segment-report.js";

/**
 * One segment of a distributed pass, or one batch of keys of a targeted run (a change-feed batch), as a job a
 * worker runs. Plain JSON.
 */
export interface SegmentJob {
  readonly dataset: string;
  /** The pass's run id: the coordinator begins and finishes it; workers write under it. */
  readonly runId: string;
  readonly mode: "scan" | "repair";
  /** Which segment of the pass (0-based), of `of`. */
  readonly index: number;
  readonly of: number;
  readonly range: KeyRange;
  /** About how many rows the segment holds (for detection's progress and leaf sizes). */
  readonly expectedRows: number;
  /**
   * A key job: re-read exactly these keys instead of the range (a run's key form, segment 0 of 1). No
   * checkpoint: the run is begun and finished by the coordinator, and a worker skips the job once the run is
   * finished. Retried after a worker died, it claims under the same run id, so each repair lands once.
   */
  readonly keys?: readonly Key[] | undefined;
  /**
   * A range of a run without a checkpoint (a dirty-segment pass): like a key job, skipped once its run is
   * finished (or was never begun), and its segment not recorded for the drill-down.
   */
  readonly standalone?: boolean | undefined;
  /** With `keys`: what each replica is expected to hold, by `keyId` (fingerprint, or null for absent). */
  readonly expected?: readonly (readonly [string, Readonly<Record<string, string | null>>])[] | undefined;
  /**
   * The dataset's description as the coordinator resolved it for this run (`describedFingerprint`): a worker
   * reuses the description it made under the same fingerprint rather than describe the replicas for every
   * job. A schema change the coordinator detects changes it, and the worker describes afresh.
   */
  readonly described?: string | undefined;
  /**
   * The pass's candidate policies, as the coordinator runs them: a shadow decides beside the live policy
   * (its figures come back in the result), a canary decides its `fraction` of keys. The coordinator's, not
   * the worker's config: a reload on the coordinator reaches every worker with the next pass.
   */
  readonly candidate?: {
    readonly shadow?: CandidatePolicy | undefined;
    readonly canary?: (CandidatePolicy & { readonly fraction: number }) | undefined;
  };
}

/** What a worker reports of a finished segment. Plain JSON. */
export interface SegmentJobResult {
  /** The segment's totals (schema issues excluded: the coordinator counts them once per pass). */
  readonly totals: RunTotals;
  /** The worker that ran it (`host:pid:random`). */
  readonly worker: string;
  /** How long the segment took on the worker, ms (pauses for intensity excluded). */
  readonly durationMs: number;
  /** Repair outcomes by target replica, then outcome (for per-replica metrics). */
  readonly repairs?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** True when the worker found the pass already finished or the segment already folded: nothing was done. */
  readonly skipped?: boolean;
  /** Escalations the segment opened, by class. */
  readonly opened?: Readonly<Record<string, number>>;
  /** Times to convergence of the keys the segment took back, seconds. */
  readonly ttcSeconds?: readonly number[];
  /** The job's candidates' figures (see SegmentJob.candidate). */
  readonly candidate?: CandidateFigures | undefined;
  /** A key job's keys (`keyId`) found divergent and not verified converged (for serve's consistency hints). */
  readonly unsettled?: readonly string[] | undefined;
  /** A key job's keys (`keyId`) a watch should check again, and why (`unsettledKeys`). */
  readonly retry?: readonly (readonly [string, RetryReason])[] | undefined;
}

/** Where the segments of a pass stand, as `poll` reports them. */
export interface SegmentProgress {
  /** Segments whose job completed, with their results (each reported until `forget`). */
  readonly done: ReadonlyMap<number, SegmentJobResult>;
  /** Segments whose job failed for good (every attempt), with the last error in one line. */
  readonly failed: ReadonlyMap<number, string>;
}

/**
 * A distributed job queue for a pass's segments.
 *
 * ## Submitting
 * `submit` makes sure each given segment's job exists: a job already waiting, running or completed is left as
 * it is (one job per run and segment, whoever submits it, however often), a job that failed for good is tried
 * again, and a missing one is added. So a coordinator that took over a pass may submit all its unfinished
 * segments again without running any twice at once.
 *
 * ## Delivery
 * A job runs on one worker at a time. A worker that dies (or stops renewing its lock) has its job run again
 * elsewhere: a segment may run more than once, never twice at the same moment unless a worker was only
 * paused past its lock. Segments are idempotent (conditional repairs, ledger claims), so that is safe.
 *
 * ## Progress
 * `poll` returns the state of the given segments of a run; it waits up to `waitMs` for something to change
 * first (a job completing or failing), so a coordinator can loop on it without busy polling.
 * `forget` removes a finished run's jobs.
 */
export interface SegmentDispatch {
  submit(jobs: readonly SegmentJob[]): Promise<void>;
  poll(
    dataset: string,
    runId: string,
    indexes: readonly number[],
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<SegmentProgress>;
  forget(dataset: string, runId: string, indexes: readonly number[]): Promise<void>;
}

/** One failed attempt of a segment job: which worker failed which segment, and why. Plain JSON. */
export interface SegmentFailure {
  readonly dataset: string;
  readonly runId: string;
  /** The segment (0-based); undefined when the job could not be read back. */
  readonly index: number | undefined;
  /** The worker that ran the attempt (`host:pid:random`), when the queue knows it. */
  readonly worker: string | undefined;
  /** The error, one line. */
  readonly error: string;
  /** Which attempt failed (1-based), and whether it was the last (the segment failed for good). */
  readonly attempt: number;
  readonly final: boolean;
}

/** A segment's job failed for good: the pass stops (its checkpoint kept) and is resumed after a back-off. */
export class SegmentFailedError extends Error {
  override readonly name = "SegmentFailedError";
  constructor(
    readonly dataset: string,
    readonly index: number,
    readonly of: number,
    reason: string,
  ) {
    super(`dataset ${dataset}: segment ${index + 1}/${of} failed on every attempt: ${reason}`);
  }
}

/** The checkpoint mode of a distributed pass: a single-process pass abandons it, and the other way round. */
export function queuedMode(mode: "scan" | "repair"): string {
  return `queue:${mode}`;
}

/** What a distributed pass keeps in its checkpoint's `totals`: the sum of folded segments and which they are. */
export interface QueuedTotals {
  readonly run: RunTotals;
  /** The segments folded into `run`, by index. */
  readonly done: readonly number[];
  /** About how many rows one of the pass's segments holds (a segment is up to 8 of `checkpointRows`). */
  readonly jobRows?: number;
}

/** How a dataset's queue looks right now, for metrics and the API. */
export interface QueueDepth {
  readonly dataset: string;
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  readonly completed: number;
  /** Age of the oldest job waiting to start, ms (0 when none waits). */
  readonly oldestWaitingMs: number;
}
