/**
 * A worker's part of a distributed pass: one segment job run through the same segment stage a
 * single-process run uses (scan → decide → record → repair → verify), under the pass's run id. It never
 * begins, checkpoints or finishes the run: the coordinator does.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { WriteGuard } from "../execute/write-guard.js";
import { datasetPolicy, describeDataset } from "./describe-dataset.js";
import type { OpenReplica } from "./run-context.js";
import { type RunDeps, runDecisionContext, type SegmentOutcome } from "./run-dataset.js";
import { HEARTBEAT_MS, keepAlive } from "./run-liveness.js";
import { runSegment } from "./run-segment.js";
import { emptyTotals } from "./run-totals.js";
import { type QueuedTotals, queuedMode, type SegmentJob, type SegmentJobResult } from "./segment-dispatch.js";

/** What a worker hands a segment job besides the job. */
export interface SegmentJobOptions {
  /** The worker (`host:pid:random`), reported with the result. */
  readonly worker: string;
  /** The worker's write guard for this pass: its breaker and (fleet-wide) rate limit span the jobs it runs. */
  readonly guard: WriteGuard;
  /** The dataset's shape as this worker last described it for this pass (described afresh when absent). */
  readonly resolved?: ResolvedShape | undefined;
  /** Heartbeat period on the pass's run while the segment runs (default 10 s; 0: none). */
  readonly heartbeatMs?: number;
}

/** A finished segment job: the result for the coordinator, and the segment's work for the worker's observers. */
export interface SegmentJobOutcome {
  readonly result: SegmentJobResult;
  /** Undefined when skipped. */
  readonly outcome?: SegmentOutcome | undefined;
  readonly resolved?: ResolvedShape | undefined;
}

/**
 * Runs one segment of a distributed pass. Skips it (nothing read or written) when the dataset's checkpoint is
 * not this pass's or already has the segment folded: a job left over from a finished pass, or delivered
 * again after its result was taken in. While it runs it beats the pass's heartbeat, so the pass stays live
 * while any worker works on it. Repair mode writes under the pass's run id: ledger claims by the same run
 * are taken again, so a job retried after its worker died redoes only what did not land (its scan no longer
 * finds what did). The blast-radius latch holds for segments that start after the trip was folded.
 */
export async function runSegmentJob(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  job: SegmentJob,
  options: SegmentJobOptions,
): Promise<SegmentJobOutcome> {
  const { state, now } = deps;
  const started = now();
  const cp = await state.getCheckpoint(ds.name);
  const kept = cp?.totals as QueuedTotals | undefined;
  if (!cp || cp.runId !== job.runId || cp.mode !== queuedMode(job.mode) || kept?.done.includes(job.index))
    return {
      result: { totals: emptyTotals(), worker: options.worker, durationMs: 0, skipped: true },
    };
  const resolved = options.resolved ?? (await describeDataset(ds, replicas));
  const policy = job.mode === "scan" ? undefined : datasetPolicy(ds, resolved);
  // A worker reads the inferred owner's evidence once per job: one snapshot for every decision of its segment.
  const decisionContext = await runDecisionContext(deps, ds.name, policy);
  const everyMs = options.heartbeatMs ?? HEARTBEAT_MS;
  // The pass's lease is the coordinator's: a worker only keeps the run's heartbeat fresh.
  const alive =
    everyMs > 0 ? keepAlive({ state, now, runId: job.runId, everyMs, lost: () => {} }) : undefined;
  try {
    const segment = await runSegment({
      ds,
      replicas,
      ctx: { runId: job.runId, state, now, command: `worker ${job.mode}` },
      resolved,
      policy,
      decisionContext,
      writes: job.mode === "repair",
      guard: options.guard,
      latched: kept?.run.guard !== undefined,
      bounds: cp.bounds,
      target: { range: job.range, expectedRows: job.expectedRows },
    });
    const repairs: Record<string, Record<string, number>> = {};
    for (const r of segment.work.results) {
      const of = repairs[r.target] ?? {};
      of[r.outcome] = (of[r.outcome] ?? 0) + 1;
      repairs[r.target] = of;
    }
    return {
      result: { totals: segment.totals, worker: options.worker, durationMs: now() - started, repairs },
      outcome: { from: job.index, to: job.index + 1, of: job.of, ...segment.work },
      resolved,
    };
  } finally {
    await alive?.stop();
  }
}
