/** The CheckpointStore port: where an unfinished `serve` pass stands, one per dataset. */
import type { Key } from "../core/model.js";

/** Where an unfinished `serve` pass over a dataset stands, so a restart resumes after the last finished segment. */
export interface Checkpoint {
  readonly dataset: string;
  /** The pass's run id (a resumed pass keeps it). */
  readonly runId: string;
  /** "scan" or "repair". */
  readonly mode: string;
  /** Segment boundaries fixed at the pass's start (keys, in order): segment i covers [bounds[i-1], bounds[i]). */
  readonly bounds: readonly Key[];
  /** How many segments are finished (0 … bounds.length + 1). */
  readonly done: number;
  /** Running totals of the pass so far (free-form JSON: counts by class, repair outcomes, stats). */
  readonly totals: unknown;
  readonly startedAt: number;
  readonly updatedAt: number;
}

/**
 * One checkpoint per dataset.
 *
 * ## Round trip
 * `putCheckpoint` creates or replaces the dataset's checkpoint; `getCheckpoint` then returns it as given
 * (bounds exactly, totals in their JSON form, times exactly). `deleteCheckpoint` is idempotent: no error when
 * there is none. Which process may write a dataset's checkpoint is decided by a lease (LeaseStore), not here.
 */
export interface CheckpointStore {
  /** The dataset's unfinished pass, if any. */
  getCheckpoint(dataset: string): Promise<Checkpoint | undefined>;
  putCheckpoint(checkpoint: Checkpoint): Promise<void>;
  /**
   * Removes the dataset's checkpoint (the pass finished, or an operator dropped it) and returns the run id it
   * named, read from the row as stored: a damaged checkpoint, which `getCheckpoint` refuses, is removed too.
   */
  deleteCheckpoint(dataset: string): Promise<string | undefined>;
}
