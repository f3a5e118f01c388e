/** The repair stage: a plan's write decisions executed as conditional writes, verified, in ledger and audit. */
import type { RecordShape } from "../core/model.js";
import { keyId } from "../core/model.js";
import { repairOf } from "../core/repair-id.js";
import { readVersion } from "../core/version.js";
import {
  executeRepairs,
  planRepairTasks,
  type RepairResult,
  type RepairTask,
} from "../execute/execute-repairs.js";
import { WriteGuard, type WriteGuardOptions } from "../execute/write-guard.js";
import type { StageVersions } from "../state/stage-writer.js";
import type { DatasetPlan } from "./plan-dataset.js";
import type { OpenReplica, RunContext } from "./run-context.js";

/** Options for executing repair tasks. */
export interface RepairOptions extends WriteGuardOptions {
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal | undefined;
  /**
   * The run's write guard. A run passes the same guard to every segment, so its circuit breakers, rate
   * buckets and retry budget span the whole run; without one, a guard is made for this call alone.
   */
  readonly guard?: WriteGuard | undefined;
  /** The repair mode: which of the plan's writes are made (see `keptByMode`); default all. */
  readonly repairMode?: RepairMode | undefined;
}

/** Which writes a repair makes: all, only inserts of missing records, or inserts and updates (no deletes). */
export type RepairMode = "all" | "insert-only" | "upsert-only";

/**
 * Whether `mode` lets `task` be written: insert-only keeps writes to a target that lacks the record,
 * upsert-only also keeps updates, neither deletes. The others are held back: not claimed, not written, and
 * their divergence remains.
 */
export function keptByMode(task: Pick<RepairTask, "expected" | "next">, mode: RepairMode = "all"): boolean {
  if (mode === "all") return true;
  if (task.next === null) return false;
  return mode === "upsert-only" || task.expected === null;
}

/**
 * Executes repair tasks on open replicas with the run's state store and clock, through the run's write
 * guard (retries, circuit breaker, write rate). The one way every command writes.
 */
export function runRepairTasks(
  dataset: string,
  tasks: readonly RepairTask[],
  replicas: readonly OpenReplica[],
  shape: RecordShape,
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  options: RepairOptions & { readonly appliedEvent?: "applied" | "rolled-back" } = {},
): Promise<RepairResult[]> {
  return executeRepairs(dataset, tasks, {
    runId: ctx.runId,
    shape,
    replicas: new Map(replicas.map((r) => [r.name, r.connector])),
    state: ctx.state,
    guard: options.guard ?? new WriteGuard({ dataset, ...options }),
    now: ctx.now,
    signal: options.signal,
    ...(options.appliedEvent ? { appliedEvent: options.appliedEvent } : {}),
  });
}

/** The repair tasks a plan would execute (none when the guard tripped). */
export function repairTasks(plan: DatasetPlan): RepairTask[] {
  if (plan.guard) return [];
  return planRepairTasks(
    plan.scan.name,
    plan.decisions,
    new Map(plan.scan.divergences.map((d) => [keyId(d.key), d])),
  );
}

/** What a plan's repairs did, and what the state store is to remember of them. */
export interface DatasetRepairs {
  readonly results: RepairResult[];
  /**
   * The versions the applied repairs wrote (versioned datasets), to be remembered as their targets' own
   * (`rememberVersions` with `overwrite`).
   */
  readonly versions?: StageVersions | undefined;
}

/**
 * Executes a plan's repairs through conditional writes with verification; ledger and audit record each.
 * Versions written by applied repairs become the versions expected of their targets.
 */
export async function repairDataset(
  plan: DatasetPlan,
  replicas: readonly OpenReplica[],
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  options: RepairOptions = {},
): Promise<RepairResult[]> {
  const { results, versions } = await repairDatasetStaged(plan, replicas, ctx, options);
  if (versions?.observed.length)
    await ctx.state.rememberVersions(versions.dataset, versions.observed, versions.options);
  return results;
}

/**
 * repairDataset, leaving the versions the applied repairs wrote to the caller (`versions`), to write with
 * the rest of what it records after the repairs (`recordStage`: one transaction instead of one more).
 */
export async function repairDatasetStaged(
  plan: DatasetPlan,
  replicas: readonly OpenReplica[],
  ctx: Pick<RunContext, "runId" | "state" | "now">,
  options: RepairOptions = {},
): Promise<DatasetRepairs> {
  const tasks = repairTasks(plan).filter((t) => keptByMode(t, options.repairMode));
  if (options.dryRun || tasks.length === 0) return { results: [] };
  const results = await runRepairTasks(plan.scan.name, tasks, replicas, plan.scan.shape, ctx, {
    ...options,
    writesPerSecond: plan.policy.limits.writesPerSecond,
  });
  if (!plan.scan.resolved.rules.versioned) return { results };
  // A repair carried out again is applied as a new episode of its id (`id~2`, …): it wrote the same version.
  const applied = new Set(results.filter((r) => r.outcome === "applied").map((r) => repairOf(r.id)));
  const versions: StageVersions = {
    dataset: plan.scan.name,
    observed: tasks
      .filter((t) => applied.has(t.id) && t.next)
      .map((t) => ({
        key: t.key,
        replica: t.target,
        version: readVersion(plan.scan.resolved.versionPositions, t.next!),
      })),
    options: { overwrite: true, ordering: plan.scan.resolved.rules.ordering },
  };
  return { results, versions };
}
