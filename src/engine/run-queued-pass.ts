/**
 * A checkpointed pass whose segments run as jobs on worker processes (`serve --role coordinator`): the
 * coordinator begins the run, cuts the segments, submits them, folds each finished one into the shared
 * checkpoint, and finishes the run. It scans and writes nothing itself but the settling of pending repairs.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { KeyRange } from "../core/model.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { Checkpoint, RunRecord } from "../state/state-store.js";
import { describeDataset } from "./describe-dataset.js";
import { recoverPending, STALE_RUN_MS } from "./recover-pending.js";
import type { OpenReplica, RunContext } from "./run-context.js";
import { abandonCheckpoint, type DatasetRunResult, type RunDeps, type RunObserver } from "./run-dataset.js";
import { acquirePass, HEARTBEAT_MS, keepAlive, LEASE_TTL_MS, passLease, runLease } from "./run-liveness.js";
import { addTotals, emptyTotals, type RunTotals, recordRunEnd } from "./run-totals.js";
import {
  type QueuedTotals,
  queuedMode,
  type SegmentDispatch,
  SegmentFailedError,
  type SegmentJob,
  type SegmentJobResult,
} from "./segment-dispatch.js";
import { SEGMENT_RUNS_KEPT } from "./segment-figures.js";
import { MAX_SEGMENT_GROUP, segmentBounds, segmentsOf } from "./segments.js";

/** Options of a distributed pass. */
export interface QueuedPassOptions {
  /** The id of a new pass (a resumed pass keeps its own). */
  readonly runId: string;
  readonly command: string;
  readonly mode: "scan" | "repair";
  /** This coordinator as the pass's owner (`host:pid:random`): it holds the dataset's pass lease. */
  readonly owner: string;
  readonly dispatch: SegmentDispatch;
  /** Stops waiting (the pass stays `running` with its checkpoint; its jobs stay queued for the next leader). */
  readonly signal?: AbortSignal | undefined;
  /** Heartbeat period (default 10 s). */
  readonly heartbeatMs?: number;
  /** How long one wait for finished segments lasts before the checkpoint is looked at again (default 1 s). */
  readonly pollMs?: number;
  /** How old a heartbeat must be for its run to be taken for dead when settling pending repairs (60 s). */
  readonly staleRunMs?: number;
  readonly observer?: Pick<RunObserver, "onAbandoned" | "onStart" | "onRecovered"> & {
    /** A segment's job finished and was folded into the checkpoint (`done` of `of` now). */
    onSegmentDone?(index: number, result: SegmentJobResult, done: number, of: number): void | Promise<void>;
  };
}

/**
 * Runs one pass of `mode` over the dataset with its segments on workers, or resumes the dataset's unfinished
 * distributed pass (a checkpoint of a single-process pass is abandoned, as runDataset abandons another
 * mode's). The checkpoint records which segments are folded, so a coordinator that takes over never has a
 * finished segment done again; segments still queued or running are left to their workers. Repair mode
 * settles what dead runs left pending before submitting, and, once every segment is in, what this pass's
 * own dead workers left pending. Resolves when every segment is folded (the run finished), or unfinished
 * when the signal stopped it or the pass lease was lost; throws SegmentFailedError when a segment failed on
 * every attempt (the checkpoint is kept: the next call submits it again).
 */
export async function runQueuedPass(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: QueuedPassOptions,
): Promise<DatasetRunResult> {
  const { state, now } = deps;
  const { owner, dispatch } = options;
  const observer = options.observer ?? {};
  const mode = queuedMode(options.mode);
  await acquirePass(state, ds.name, owner, now());
  try {
    return await owned();
  } finally {
    await state.releaseLease(passLease(ds.name), owner).catch(() => {});
  }

  async function owned(): Promise<DatasetRunResult> {
    let cp = await state.getCheckpoint(ds.name);
    if (cp && cp.mode !== mode) cp = await abandonCheckpoint(state, ds.name, cp, now, observer);
    const runId = cp?.runId ?? options.runId;
    const startedAt = cp?.startedAt ?? now();
    const kept = cp?.totals as QueuedTotals | undefined;
    const totals: RunTotals = { ...emptyTotals(), ...kept?.run };
    const done = new Set(kept?.done ?? []);
    let jobRows = kept?.jobRows ?? ds.checkpointRows;
    const resolved = await describeDataset(ds, replicas);
    if (!cp) {
      await state.beginRun({ id: runId, dataset: ds.name, command: options.command, startedAt });
      // Workers record each segment for the drill-down; the dataset keeps its last runs' (segment-figures.ts).
      await state.keepSegmentRuns(ds.name, SEGMENT_RUNS_KEPT - 1);
    }
    const held = cp ? await state.getLease(runLease(runId)) : undefined;
    if (held && held.owner !== owner) await state.releaseLease(runLease(runId), held.owner);
    await state.acquireLease(runLease(runId), owner, now(), STALE_RUN_MS);
    const leaseLost = new AbortController();
    const alive = keepAlive({
      state,
      now,
      runId,
      everyMs: options.heartbeatMs ?? HEARTBEAT_MS,
      lease: { name: passLease(ds.name), owner, ttlMs: LEASE_TTL_MS },
      run: { owner, ttlMs: STALE_RUN_MS },
      lost: () => leaseLost.abort(),
    });
    const signal = options.signal ? AbortSignal.any([options.signal, leaseLost.signal]) : leaseLost.signal;
    const ctx: RunContext = { runId, state, now, command: options.command };
    const record = { runId, dataset: ds.name, startedAt };
    let segments: KeyRange[] = [];
    let recovered: RepairResult[] = [];
    const result = (finished: boolean, status: RunRecord["status"]): DatasetRunResult => ({
      ...record,
      resolved,
      totals,
      recovered,
      finished,
      status,
      segments: segments.length,
      segmentsDone: done.size,
    });
    const save = async (base: Checkpoint) => {
      const kept: QueuedTotals = { run: totals, done: [...done], jobRows };
      const next = { ...base, done: done.size, totals: kept, updatedAt: now() };
      await state.putCheckpoint(next);
      return next;
    };

    try {
      const { shape } = resolved;
      if (!cp) {
        if (resolved.issues.length) {
          // Every segment reports the same schema issues: they count once per pass, here.
          totals.counts.schema = resolved.issues.length;
          totals.remaining += resolved.issues.length;
          if (options.mode !== "scan") totals.escalated += resolved.issues.length;
        }
        // Jobs of up to 8 adjacent segments, about four per slot the fleet may run at once: few enough that
        // each job's fixed costs (a scan, a write batch, its ledger and audit rounds) stay small against its
        // rows, enough that every slot has work and a dead worker's job is a small part of the pass.
        const fine = await segmentBounds(replicas, shape, ds.checkpointRows);
        const per = Math.max(
          1,
          Math.min(MAX_SEGMENT_GROUP, Math.floor((fine.length + 1) / (4 * (ds.concurrency ?? 1)))),
        );
        const bounds = fine.filter((_, i) => (i + 1) % per === 0);
        jobRows = per * ds.checkpointRows;
        cp = await save({
          dataset: ds.name,
          runId,
          mode,
          bounds,
          done: 0,
          totals: undefined,
          startedAt,
          updatedAt: now(),
        });
      }
      segments = segmentsOf(cp.bounds);
      await observer.onStart?.({
        runId,
        resolved,
        segments: segments.length,
        resumedAt: done.size > 0 ? done.size : undefined,
      });

      if (options.mode === "repair") {
        // Dead runs' pending repairs first; this pass's own stay with its workers until every segment is in.
        recovered = await recoverPending(ds.name, replicas, shape, ctx, {
          ...(options.staleRunMs !== undefined ? { staleAfterMs: options.staleRunMs } : {}),
        });
        for (const r of recovered) totals.recovered[r.outcome] = (totals.recovered[r.outcome] ?? 0) + 1;
        if (recovered.length) await observer.onRecovered?.(recovered);
      }

      const job = (index: number): SegmentJob => ({
        dataset: ds.name,
        runId,
        mode: options.mode,
        index,
        of: segments.length,
        range: segments[index]!,
        expectedRows: jobRows,
      });
      const todo = new Set(segments.map((_, i) => i).filter((i) => !done.has(i)));
      await dispatch.submit([...todo].map(job));
      while (todo.size > 0) {
        if (signal.aborted) return result(false, "running");
        const progress = await dispatch.poll(ds.name, runId, [...todo], options.pollMs ?? 1000, signal);
        const folded: [number, SegmentJobResult][] = [];
        const again: number[] = [];
        for (const [i, r] of progress.done) {
          if (!todo.has(i)) continue;
          // A worker that found the pass not (yet) its own did nothing: the segment is run again.
          if (r.skipped) again.push(i);
          else {
            addTotals(totals, r.totals);
            done.add(i);
            todo.delete(i);
            folded.push([i, r]);
          }
        }
        if (folded.length) {
          cp = await save(cp);
          // Folded into the checkpoint: their jobs are done with (a late duplicate's result is ignored).
          await dispatch.forget(
            ds.name,
            runId,
            folded.map(([i]) => i),
          );
        }
        for (const [i, r] of folded) await observer.onSegmentDone?.(i, r, done.size, segments.length);
        if (again.length) {
          await dispatch.forget(ds.name, runId, again);
          await dispatch.submit(again.map(job));
        }
        const [failed] = [...progress.failed].filter(([i]) => todo.has(i));
        if (failed) throw new SegmentFailedError(ds.name, failed[0], segments.length, failed[1]);
      }

      if (options.mode === "repair") {
        // Every segment is in: what this pass's dead workers left pending is settled by what the targets hold.
        const own = await recoverPending(ds.name, replicas, shape, ctx, {
          resumed: true,
          ...(options.staleRunMs !== undefined ? { staleAfterMs: options.staleRunMs } : {}),
        });
        for (const r of own) {
          totals.recovered[r.outcome] = (totals.recovered[r.outcome] ?? 0) + 1;
          // Not landed: its divergence is still there for the next pass.
          if (r.outcome === "failed") totals.remaining++;
        }
        if (own.length) {
          recovered = [...recovered, ...own];
          await observer.onRecovered?.(own);
        }
      }
      const status = totals.remaining > 0 ? "diverged" : "ok";
      // What lets anyone check that no segment was lost: each folded once, and the rows each replica held.
      const extra: Record<string, number> = { segments: segments.length, "segments.folded": done.size };
      for (const [r, { rows }] of Object.entries(totals.replicas)) extra[`rows.${r}`] = rows;
      await recordRunEnd(state, record, totals, status, now(), extra);
      await state.deleteCheckpoint(ds.name);
      await dispatch.forget(
        ds.name,
        runId,
        segments.map((_, i) => i),
      );
      return result(true, status);
    } finally {
      await alive.stop();
      await state.releaseLease(runLease(runId), owner).catch(() => {});
    }
  }
}
