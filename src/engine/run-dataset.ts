/**
 * The one orchestrator of a run over a dataset: begin (or resume) → settle pending repairs → segments (or a
 * list of keys) → scan → decide → record → repair → verify → checkpoint → finish. The CLI, serve, the
 * simulator and the demo call it and observe it; none of them assembles the stages themselves.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { Decision } from "../core/decide.js";
import type { Key } from "../core/model.js";
import type { EscalationRecord, GuardTrip } from "../core/plan-record.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { RepairResult, RepairTask } from "../execute/execute-repairs.js";
import { WriteGuard, type WriteGuardOptions } from "../execute/write-guard.js";
import type { Checkpoint, RunRecord, StateStore } from "../state/state-store.js";
import { datasetPolicy, describeDataset } from "./describe-dataset.js";
import { type DatasetPlan, isRepairable, planDataset } from "./plan-dataset.js";
import { recordPlan } from "./record-plan.js";
import { recoverPending, STALE_RUN_MS } from "./recover-pending.js";
import { repairDataset, repairTasks } from "./repair-dataset.js";
import type { OpenReplica, RunContext } from "./run-context.js";
import {
  acquirePass,
  HEARTBEAT_MS,
  keepAlive,
  LEASE_TTL_MS,
  passLease,
  processOwner,
  runLease,
} from "./run-liveness.js";
import { type DatasetScan, type ScanStats, scanDataset } from "./scan-dataset.js";
import { segmentBounds, segmentGroups, segmentsOf } from "./segments.js";

/** scan: detect only; plan: + decide; dry-run: + the writes repair would make; repair: + record and write. */
export type RunMode = "scan" | "plan" | "dry-run" | "repair";

/** Running totals of a run, kept in its checkpoint so a resumed run reports the whole of it. */
export interface RunTotals {
  /** Divergences by class (schema issues counted once per run). */
  counts: Record<string, number>;
  /** Rows per replica over the segments scanned. */
  replicas: Record<string, { rows: number }>;
  /** What crossed from the stores into the engine, summed over the scans (durationMs: scan time). */
  stats: ScanStats;
  /** Repair outcomes of this run's writes. */
  repairs: Record<string, number>;
  /** Outcomes of the pending repairs of interrupted runs that this run settled. */
  recovered: Record<string, number>;
  /** Decisions that wrote nothing: escalated (guard trips and schema issues included), waiting, ignored. */
  escalated: number;
  waiting: number;
  ignored: number;
  /** Writes planned (dry-run: the writes that would be made; repair: the writes attempted). */
  plannedWrites: number;
  /** What remains for a person or a later run: divergence not repaired (scan, plan, dry-run: all of it). */
  remaining: number;
  /** The blast-radius guard's trip: once set, nothing more is recorded or written in the run. */
  guard?: GuardTrip | undefined;
}

function emptyTotals(): RunTotals {
  return {
    counts: {},
    replicas: {},
    stats: { durationMs: 0, rowsRead: 0, rowsScanned: 0, bytesRead: 0, queries: 0 },
    repairs: {},
    recovered: {},
    escalated: 0,
    waiting: 0,
    ignored: 0,
    plannedWrites: 0,
    remaining: 0,
  };
}

/** What one group of segments (or the list of keys) came to. */
export interface SegmentOutcome {
  /** Segments `[from, to)` of `of` (a list of keys is segment 0 of 1). */
  readonly from: number;
  readonly to: number;
  readonly of: number;
  readonly scan: DatasetScan;
  /** The plan (every mode but scan). */
  readonly plan?: DatasetPlan | undefined;
  /** The writes planned (dry-run and repair; none once the guard tripped). */
  readonly tasks: readonly RepairTask[];
  /** True when the plan was recorded in audit and escalations (repair, before any guard trip). */
  readonly recorded: boolean;
  /** Escalations this segment opened (each is reported once, when it opens). */
  readonly opened: readonly EscalationRecord[];
  readonly results: readonly RepairResult[];
}

/** Told what a run does as it goes; the run awaits each call, so an observer may do I/O. */
export interface RunObserver {
  /** An unfinished checkpointed run of another mode was given up for this one (recorded `failed`). */
  onAbandoned?(checkpoint: Checkpoint): void | Promise<void>;
  /** The run's shape is known and its segments fixed; `resumedAt` is the first segment when it resumed. */
  onStart?(info: {
    runId: string;
    resolved: ResolvedShape;
    segments: number;
    resumedAt: number | undefined;
  }): void | Promise<void>;
  /** Detection progress of the group being scanned, labelled for people ("customers 3–5/12"). */
  onProgress?(label: string, done: number, total: number, estimate?: boolean): void;
  /** Pending repairs of interrupted runs were settled (repair mode, before any segment). */
  onRecovered?(results: readonly RepairResult[]): void | Promise<void>;
  /** A group of segments (or the list of keys) is done; in a checkpointed run, after its checkpoint. */
  onSegment?(outcome: SegmentOutcome): void | Promise<void>;
  /** Between groups, with the time the last one took; the next starts when this resolves. */
  pause?(segmentMs: number): Promise<void>;
}

/** Options of one run. */
export interface RunDatasetOptions {
  /** The id of a new run (a resumed run keeps its own: see the result's `runId`). */
  readonly runId: string;
  /** The command recorded with the run ("repair", "serve scan", …). */
  readonly command: string;
  readonly mode: RunMode;
  /** Re-read exactly these keys instead of covering the key space (targeted checks); no segments. */
  readonly keys?: readonly Key[] | undefined;
  /**
   * Keep a checkpoint after every group of segments and resume the dataset's unfinished run of the same
   * mode; a run that stops or fails keeps it (and stays `running`) so a later call resumes it. A checkpoint
   * of another mode is abandoned. Without it a run is finished whatever happens (`failed` on an error).
   */
  readonly checkpoint?: boolean;
  /** Stops after the write batch in flight; the segments not reached are neither recorded nor written. */
  readonly signal?: AbortSignal | undefined;
  /** The run's write guard settings (the policy's write rate is added); one guard serves the whole run. */
  readonly guard?: Omit<WriteGuardOptions, "writesPerSecond">;
  /** Detection settings for every scan of the run (`serial`: one query at a time against the stores). */
  readonly detect?: RunContext["detect"];
  /** Scan adjacent segments as one while differences are sparse (default true). */
  readonly groupSegments?: boolean;
  /**
   * With a checkpoint: the process that runs the pass (`host:pid:random`). The run takes the dataset's pass
   * lease first (PassOwnedError when another live process holds it), renews it with every heartbeat, stops
   * after the step in flight if it loses it, and releases it at the end.
   */
  readonly owner?: string | undefined;
  /** Heartbeat period (default 10 s); 0 for none (the simulator, whose clock is virtual). */
  readonly heartbeatMs?: number;
  /** How old a heartbeat must be for its run to be taken for dead when settling pending repairs (60 s). */
  readonly staleRunMs?: number;
  readonly observer?: RunObserver;
}

/** What a run came to. */
export interface DatasetRunResult {
  /** The run's id (a resumed run's own). */
  readonly runId: string;
  readonly dataset: string;
  readonly resolved: ResolvedShape;
  readonly totals: RunTotals;
  /** Pending repairs of interrupted runs this run settled. */
  readonly recovered: readonly RepairResult[];
  /** False when the signal stopped it before the end (a checkpointed run is then resumable). */
  readonly finished: boolean;
  /** The status recorded (`running` when a checkpointed run stopped and waits to be resumed). */
  readonly status: RunRecord["status"];
  /** When the run began (a resumed run's first start), ms since the epoch. */
  readonly startedAt: number;
  /** The run's segments, and how many were done (all of them unless it stopped). */
  readonly segments: number;
  readonly segmentsDone: number;
}

/** The ports a run needs besides its replicas. */
export interface RunDeps {
  readonly state: StateStore;
  readonly now: () => number;
}

function add(into: Record<string, number>, from: Readonly<Record<string, number | undefined>>): void {
  for (const [k, n] of Object.entries(from)) if (n) into[k] = (into[k] ?? 0) + n;
}

/**
 * Runs `mode` over one dataset whose replicas are open, as one run. The whole key space goes segment by
 * segment (`checkpointRows` rows each, grouped while sparse), or only `keys`. Repair settles what interrupted
 * runs left pending first, records and writes each group before the next through one write guard, and
 * latches the blast-radius guard: once a group trips it, nothing more is recorded or written in the run.
 */
export async function runDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: RunDatasetOptions,
): Promise<DatasetRunResult> {
  const { state, now } = deps;
  const observer = options.observer ?? {};
  const checkpointed = options.checkpoint === true && !options.keys;
  const writes = options.mode === "repair";

  const owner = options.owner ?? processOwner();
  const lease = checkpointed && options.owner ? { name: passLease(ds.name), owner } : undefined;
  if (lease) await acquirePass(state, ds.name, lease.owner, now());
  try {
    return await runOwned();
  } finally {
    if (lease) await state.releaseLease(lease.name, lease.owner).catch(() => {});
  }

  async function runOwned(): Promise<DatasetRunResult> {
    let cp = checkpointed ? await state.getCheckpoint(ds.name) : undefined;
    if (cp && cp.mode !== options.mode) {
      // An unfinished run of another mode: this one covers the whole key space again.
      await state.finishRun(cp.runId, ds.name, {
        finishedAt: now(),
        status: "failed",
        counts: {},
        stats: { abandonedAtSegment: cp.done },
      });
      await state.deleteCheckpoint(ds.name);
      await observer.onAbandoned?.(cp);
      cp = undefined;
    }
    const resumed = cp !== undefined;
    const runId = cp?.runId ?? options.runId;
    const startedAt = cp?.startedAt ?? now();
    const totals: RunTotals = cp ? { ...emptyTotals(), ...(cp.totals as Partial<RunTotals>) } : emptyTotals();
    // The replicas are described before the run is recorded: one whose table cannot be read fails the
    // command before anything is written anywhere.
    const resolved = await describeDataset(ds, replicas);
    const policy = options.mode === "scan" ? undefined : datasetPolicy(ds, resolved);
    if (!cp) await state.beginRun({ id: runId, dataset: ds.name, command: options.command, startedAt });
    // The run's own lease names the process running it, so a rerun on this host can tell a killed one at once.
    const held = resumed ? await state.getLease(runLease(runId)) : undefined;
    if (held && held.owner !== owner) await state.releaseLease(runLease(runId), held.owner);
    await state.acquireLease(runLease(runId), owner, now(), STALE_RUN_MS);
    // Alive while it works: a heartbeat on the run (and the pass lease renewed); losing the lease stops it.
    const leaseLost = new AbortController();
    const alive =
      options.heartbeatMs === 0
        ? undefined
        : keepAlive({
            state,
            now,
            runId,
            everyMs: options.heartbeatMs ?? HEARTBEAT_MS,
            lease: lease && { ...lease, ttlMs: LEASE_TTL_MS },
            run: { owner, ttlMs: STALE_RUN_MS },
            lost: () => leaseLost.abort(),
          });
    const ctx: RunContext = {
      runId,
      state,
      now,
      command: options.command,
      ...(options.detect ? { detect: options.detect } : {}),
    };

    const finish = async (status: RunRecord["status"]) => {
      const finishedAt = now();
      const stats: Record<string, number> = { ...totals.stats, durationMs: finishedAt - startedAt };
      const repairs = { ...totals.repairs };
      add(repairs, totals.recovered);
      for (const [k, n] of Object.entries(repairs)) stats[`repairs.${k}`] = n;
      stats.escalated = totals.escalated;
      await state.finishRun(runId, ds.name, { finishedAt, status, counts: totals.counts, stats });
    };

    try {
      const { shape } = resolved;
      if (!cp && checkpointed) {
        const bounds = await segmentBounds(replicas, shape, ds.checkpointRows);
        cp = {
          dataset: ds.name,
          runId,
          mode: options.mode,
          bounds,
          done: 0,
          totals,
          startedAt,
          updatedAt: now(),
        };
        await state.putCheckpoint(cp);
      }
      const bounds = options.keys
        ? []
        : (cp?.bounds ?? (await segmentBounds(replicas, shape, ds.checkpointRows)));
      const segments = segmentsOf(bounds);
      const resumedAt = cp && cp.done > 0 ? cp.done : undefined;
      await observer.onStart?.({ runId, resolved, segments: segments.length, resumedAt });
      if (resolved.issues.length && totals.counts.schema === undefined) {
        // Every segment reports the same schema issues: they count once per run.
        totals.counts.schema = resolved.issues.length;
        totals.remaining += resolved.issues.length;
        if (options.mode !== "scan") totals.escalated += resolved.issues.length;
      }

      // Repairs an interrupted run left pending are settled before anything is decided again.
      let recovered: RepairResult[] = [];
      if (writes) {
        recovered = await recoverPending(ds.name, replicas, shape, ctx, {
          resumed,
          ...(options.staleRunMs !== undefined ? { staleAfterMs: options.staleRunMs } : {}),
        });
        for (const r of recovered) totals.recovered[r.outcome] = (totals.recovered[r.outcome] ?? 0) + 1;
        if (recovered.length) await observer.onRecovered?.(recovered);
      }

      const guard = new WriteGuard({ ...options.guard, writesPerSecond: policy?.limits.writesPerSecond });
      const signal = options.signal ? AbortSignal.any([options.signal, leaseLost.signal]) : leaseLost.signal;
      let lastFound = 0;
      let segmentsDone = cp?.done ?? 0;
      const groups = options.keys
        ? [{ range: segments[0]!, from: 0, to: 1 }]
        : options.groupSegments === false
          ? segments
              .slice(cp?.done ?? 0)
              .map((range, i) => ({ range, from: (cp?.done ?? 0) + i, to: (cp?.done ?? 0) + i + 1 }))
          : segmentGroups(segments, ds.checkpointRows / 10, () => lastFound, cp?.done ?? 0);
      for (const { range, from, to } of groups) {
        if (signal?.aborted) return await stopped();
        const started = now();
        const label =
          segments.length === 1
            ? ds.name
            : `${ds.name} ${from + 1}${to > from + 1 ? `–${to}` : ""}/${segments.length}`;
        const scan = await scanDataset(
          ds,
          replicas,
          observer.onProgress
            ? {
                ...ctx,
                onProgress: (_, done, total, estimate) => observer.onProgress!(label, done, total, estimate),
              }
            : ctx,
          options.keys
            ? { keys: options.keys, resolved, signal }
            : segments.length > 1
              ? { range, resolved, expectedRows: (to - from) * ds.checkpointRows, signal }
              : { resolved, signal },
        );
        // Stopped mid-scan: nothing of this group is decided, recorded or written.
        if (scan.stopped) return await stopped();
        lastFound = scan.divergences.length;
        // Totals change only once the group is whole: a group cut short is done again when the run resumes.
        const next = structuredClone(totals);
        const outcome = await decideAndRepair(scan, next);
        if (!outcome.whole) {
          // Cut short by the signal: what was written is reported, but a checkpointed run does this group
          // again when it resumes (its totals and checkpoint stay as they were).
          if (!checkpointed) Object.assign(totals, next);
          await observer.onSegment?.({ from, to, of: segments.length, ...outcome.segment });
          return await stopped();
        }
        Object.assign(totals, next);
        if (cp) {
          cp = { ...cp, done: to, totals, updatedAt: now() };
          await state.putCheckpoint(cp);
        }
        await observer.onSegment?.({ from, to, of: segments.length, ...outcome.segment });
        segmentsDone = to;
        if (to < segments.length && observer.pause && !signal?.aborted) await observer.pause(now() - started);
      }

      const status = totals.remaining > 0 ? "diverged" : "ok";
      await finish(status);
      if (cp) await state.deleteCheckpoint(ds.name);
      const where = { segments: segments.length, segmentsDone: segments.length };
      return {
        runId,
        dataset: ds.name,
        resolved,
        totals,
        recovered,
        finished: true,
        status,
        startedAt,
        ...where,
      };

      /** Decides, records and writes one scanned group into `t`; `whole` is false when the signal cut its writes short. */
      async function decideAndRepair(
        scan: DatasetScan,
        t: RunTotals,
      ): Promise<{ whole: boolean; segment: Omit<SegmentOutcome, "from" | "to" | "of"> }> {
        const { schema: _schema, ...classes } = scan.counts;
        add(t.counts, classes);
        for (const [r, { rows }] of Object.entries(scan.replicas))
          t.replicas[r] = { rows: (t.replicas[r]?.rows ?? 0) + rows };
        for (const k of Object.keys(t.stats) as (keyof ScanStats)[]) t.stats[k] += scan.stats[k];
        const repairable = scan.divergences.filter(isRepairable).length;
        const base = { scan, plan: undefined, tasks: [], recorded: false, opened: [], results: [] };
        if (!policy) {
          t.remaining += repairable;
          return { whole: true, segment: base };
        }
        const plan = planDataset(ds, scan, policy);
        countDecisions(plan.decisions, t);
        const latchedBefore = t.guard !== undefined;
        if (plan.guard && !latchedBefore) {
          t.guard = plan.guard;
          t.escalated++;
        }
        const tasks = t.guard ? [] : repairTasks(plan);
        t.plannedWrites += tasks.length;
        if (!writes) {
          t.remaining += repairable;
          return { whole: true, segment: { ...base, plan, tasks } };
        }
        // After a guard trip nothing more is recorded or written in the run: its escalation says why.
        if (latchedBefore) {
          t.remaining += repairable;
          return { whole: true, segment: { ...base, plan } };
        }
        const opened = await recordPlan(plan, ctx);
        const results = await repairDataset(plan, replicas, ctx, { signal, guard });
        for (const r of results) t.repairs[r.outcome] = (t.repairs[r.outcome] ?? 0) + 1;
        // One result per task written or found done; fewer when the signal stopped between write batches.
        const unsettled = tasks.length - results.length;
        t.remaining +=
          (plan.guard ? repairable : 0) +
          plan.decisions.filter((d) => d.action === "escalate").length +
          results.filter((r) => r.outcome === "superseded" || r.outcome === "failed").length +
          unsettled;
        return {
          whole: unsettled === 0,
          segment: { scan, plan, tasks, recorded: true, opened, results },
        };
      }

      async function stopped(): Promise<DatasetRunResult> {
        const status = checkpointed ? "running" : "diverged";
        // A checkpointed run waits to be resumed; any other is finished with what it did.
        if (!checkpointed) {
          totals.remaining = Math.max(totals.remaining, 1);
          await finish(status);
        }
        const where = { segments: segments.length, segmentsDone };
        return {
          runId,
          dataset: ds.name,
          resolved,
          totals,
          recovered,
          finished: false,
          status,
          startedAt,
          ...where,
        };
      }
    } catch (err) {
      if (!checkpointed) await finish("failed").catch(() => {});
      throw err;
    } finally {
      await alive?.stop();
      await state.releaseLease(runLease(runId), owner).catch(() => {});
    }
  }
}

function countDecisions(decisions: readonly Decision[], t: RunTotals): void {
  for (const d of decisions) {
    if (d.action === "escalate") t.escalated++;
    else if (d.action === "wait") t.waiting++;
    else if (d.action === "ignore") t.ignored++;
  }
}

/** The run id a checkpointed run of `mode` over the dataset would take: its unfinished run's, or `fresh`. */
export async function resumableRunId(
  state: StateStore,
  dataset: string,
  mode: RunMode,
  fresh: () => string,
): Promise<string> {
  const cp: Checkpoint | undefined = await state.getCheckpoint(dataset);
  return cp && cp.mode === mode ? cp.runId : fresh();
}
