/**
 * The part of a run whose segments run on workers: submit the segments not yet done to a SegmentDispatch and
 * fold each finished one as it comes back. Called by runDataset (which begins, checkpoints and finishes the
 * run); scans and writes nothing itself.
 */
import type { KeyRange } from "../core/model.js";
import {
  type SegmentDispatch,
  SegmentFailedError,
  type SegmentJob,
  type SegmentJobResult,
} from "./segment-dispatch.js";

/** What dispatching a run's segments needs. */
export interface DispatchSegmentsInput {
  readonly dispatch: SegmentDispatch;
  /** Every job's fields but the segment's own. */
  readonly job: Omit<SegmentJob, "index" | "of" | "range">;
  readonly segments: readonly KeyRange[];
  /**
   * The order to submit the segments in (indexes, each once; adaptive focus puts hot ranges first); segments
   * it leaves out follow in index order. Default: index order.
   */
  readonly order?: readonly number[] | undefined;
  /** Segments already folded (a resumed run's); not submitted again. */
  readonly done: ReadonlySet<number>;
  readonly signal: AbortSignal;
  /** How long one wait for finished segments lasts before the signal is looked at again (default 1 s). */
  readonly pollMs?: number | undefined;
  /**
   * Folds finished segments into the run (totals, checkpoint, observers), in the order they came back. Once
   * it resolves their jobs are forgotten: a late duplicate's result is ignored.
   */
  readonly fold: (finished: readonly (readonly [number, SegmentJobResult])[]) => Promise<void>;
}

/**
 * Submits the segments not yet done and folds them as workers finish them. Resolves true when every segment
 * is folded, false when the signal stopped the wait (the jobs stay queued: whoever resumes the run submits
 * them again, which starts none twice). A worker that found the run not (yet) its own did nothing: its
 * segment is submitted again. Throws SegmentFailedError when a segment failed on every attempt.
 */
export async function dispatchSegments(input: DispatchSegmentsInput): Promise<boolean> {
  const { dispatch, segments, signal } = input;
  const { dataset, runId } = input.job;
  const job = (index: number): SegmentJob => ({
    ...input.job,
    index,
    of: segments.length,
    range: segments[index]!,
  });
  const first = (input.order ?? []).filter((i) => Number.isInteger(i) && i >= 0 && i < segments.length);
  const todo = new Set([...first, ...segments.map((_, i) => i)].filter((i) => !input.done.has(i)));
  await dispatch.submit([...todo].map(job));
  while (todo.size > 0) {
    if (signal.aborted) return false;
    const progress = await dispatch.poll(dataset, runId, [...todo], input.pollMs ?? 1000, signal);
    const folded: [number, SegmentJobResult][] = [];
    const again: number[] = [];
    for (const [i, r] of progress.done) {
      if (!todo.has(i)) continue;
      if (r.skipped) again.push(i);
      else {
        todo.delete(i);
        folded.push([i, r]);
      }
    }
    if (folded.length) {
      await input.fold(folded);
      await dispatch.forget(
        dataset,
        runId,
        folded.map(([i]) => i),
      );
    }
    if (again.length) {
      await dispatch.forget(dataset, runId, again);
      await dispatch.submit(again.map(job));
    }
    const [failed] = [...progress.failed].filter(([i]) => todo.has(i));
    if (failed) throw new SegmentFailedError(dataset, failed[0], segments.length, failed[1]);
  }
  return true;
}
