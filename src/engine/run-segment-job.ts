/**
 * A worker's part of a distributed pass: one segment job run through the same segment stage a
 * single-process run uses (scan → decide → record → repair → verify), under the pass's run id. It never
 * begins, checkpoints or finishes the run: the coordinator does.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { WriteGuard } from "../execute/write-guard.js";
import { CandidateDecider } from "./candidate-decider.js";
import { datasetPolicy, describeDataset } from "./describe-dataset.js";
import type { OpenEscalations } from "./open-escalations.js";
import { unsettledKeys } from "./retry-set.js";
import type { OpenReplica } from "./run-context.js";
import { type RunDeps, runDecisionContext, type SegmentOutcome } from "./run-dataset.js";
import { HEARTBEAT_MS, keepAlive, LATCH_TTL_MS, latchLease } from "./run-liveness.js";
import { runSegment } from "./run-segment.js";
import { emptyTotals } from "./run-totals.js";
import { type QueuedTotals, queuedMode, type SegmentJob, type SegmentJobResult } from "./segment-dispatch.js";
import { segmentFigures } from "./segment-figures.js";
import { candidateFigures, segmentReport } from "./segment-report.js";

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
  /**
   * Write the segment's divergent-key marks with its repairs' last writes, in one transaction
   * (`SegmentInput.mark`), for a caller that marks each segment (`markSegment` then sends nothing of its own).
   */
  readonly mark?: boolean;
  /**
   * The pass's open escalations as this worker keeps them across its jobs of the pass (read once, kept by its
   * own openings and closings, as a single-process run keeps them); without it each job lists them.
   */
  readonly escalations?: OpenEscalations | undefined;
}

/** A finished segment job: the result for the coordinator, and the segment's work for the worker's observers. */
export interface SegmentJobOutcome {
  readonly result: SegmentJobResult;
  /** Undefined when skipped. */
  readonly outcome?: SegmentOutcome | undefined;
  readonly resolved?: ResolvedShape | undefined;
}

/**
 * Runs one segment of a distributed pass, or a key job (a run's list of keys). Skips a segment (nothing read
 * or written) when the dataset's checkpoint is not this pass's or already has the segment folded: a job left
 * over from a finished pass, or delivered again after its result was taken in; a key job once its run is
 * finished. While it runs it beats the run's heartbeat, so the run stays live while any worker works on it.
 * Repair mode writes under the run's id: ledger claims by the same run are taken again, so a job retried
 * after its worker died redoes only what did not land (its scan no longer finds what did). The blast-radius
 * latch holds across workers: a segment that trips the guard latches the run at once (latchLease), and every
 * segment asks again just before it records and writes.
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
  const skipped = { result: { totals: emptyTotals(), worker: options.worker, durationMs: 0, skipped: true } };
  // A key job, or a range of a dirty-segment pass, has no checkpoint: it is left alone once its run is
  // finished (or was never begun).
  const standalone = job.keys !== undefined || job.standalone === true;
  const cp = standalone ? undefined : await state.getCheckpoint(ds.name);
  const kept = cp?.totals as QueuedTotals | undefined;
  if (standalone) {
    const run = (await state.getRun(job.runId)).find((r) => r.dataset === ds.name);
    if (!run || run.finishedAt !== undefined) return skipped;
  } else if (
    !cp ||
    cp.runId !== job.runId ||
    cp.mode !== queuedMode(job.mode) ||
    kept?.done.includes(job.index)
  )
    return skipped;
  const resolved = options.resolved ?? (await describeDataset(ds, replicas));
  const policy = job.mode === "scan" ? undefined : datasetPolicy(ds, resolved);
  // The pass's candidates decide here as they would in a single-process pass: a shadow beside the live
  // policy (a shadow that does not fit the shape is left out, as the coordinator left it out), a canary on
  // its share of keys.
  const { shadow: shadowPolicy, canary: canaryPolicy } = (policy && job.candidate) || {};
  let shadow = shadowPolicy ? new CandidateDecider(ds, shadowPolicy) : undefined;
  try {
    const compiled = shadow?.start(resolved);
    if (shadow && compiled) shadow.useContext(await runDecisionContext(deps, ds.name, compiled));
  } catch {
    shadow = undefined;
  }
  const canary =
    canaryPolicy && canaryPolicy.fraction > 0
      ? {
          policy: datasetPolicy(ds, resolved, canaryPolicy.policy, canaryPolicy.where),
          fraction: canaryPolicy.fraction,
        }
      : undefined;
  // The run's latch as its workers share it: a segment that trips the guard takes it at once.
  const latch = latchLease(job.runId);
  const tripped = async () => (await state.getLease(latch)) !== undefined;
  // A worker reads the inferred owner's evidence once per job: one snapshot for every decision of its segment.
  const decisionContext = await runDecisionContext(deps, ds.name, policy, canary?.policy);
  const everyMs = options.heartbeatMs ?? HEARTBEAT_MS;
  // The pass's lease is the coordinator's: a worker only keeps the run's heartbeat fresh.
  const alive =
    everyMs > 0 ? keepAlive({ state, now, runId: job.runId, everyMs, lost: () => {} }) : undefined;
  try {
    const segment = await runSegment({
      ds,
      replicas,
      ctx: {
        runId: job.runId,
        state,
        now,
        command: `worker ${job.mode}`,
        ...(options.escalations ? { escalations: options.escalations } : {}),
      },
      resolved,
      policy,
      canary,
      decisionContext,
      writes: job.mode === "repair",
      guard: options.guard,
      // A repair asks the latch once, just before it records and writes (`latch`); a plan or a dry-run, which
      // never asks it again, asks it here. A scan decides nothing.
      latched:
        kept?.run.guard !== undefined || (policy !== undefined && job.mode !== "repair" && (await tripped())),
      latch: tripped,
      repairMode: ds.repairMode ?? "all",
      ...(options.mark ? { mark: true } : {}),
      ...(job.keys && job.expected ? { expected: new Map(job.expected) } : {}),
      // A range job's segment bounds place its evidence in the pass's key ranges (a key job has none).
      ...(cp ? { bounds: cp.bounds } : {}),
      target: job.keys ? { keys: job.keys } : { range: job.range, expectedRows: job.expectedRows },
    });
    if (segment.totals.guard) await state.acquireLease(latch, options.worker, now(), LATCH_TTL_MS);
    const where = { from: job.index, to: job.index + 1, of: job.of };
    const durationMs = now() - started;
    const report = segmentReport(
      where,
      segment.work,
      segment.totals,
      durationMs,
      candidateFigures(segment.work, shadow, canary),
    );
    const outcome = { ...where, ...segment.work };
    // The drill-down's record of the segment, written where it ran (a retried job replaces it).
    if (segment.whole && !standalone)
      await state.recordSegment(segmentFigures(ds.name, job.runId, outcome, started, now()));
    return {
      result: {
        totals: segment.totals,
        worker: options.worker,
        durationMs,
        repairs: report.repairs,
        opened: report.opened,
        ...(report.candidate ? { candidate: report.candidate } : {}),
        // A key job tells the watch that made it which keys to check again.
        ...(job.keys !== undefined && job.mode === "repair" ? { retry: unsettledKeys(segment.work) } : {}),
      },
      outcome,
      resolved,
    };
  } finally {
    await alive?.stop();
  }
}
