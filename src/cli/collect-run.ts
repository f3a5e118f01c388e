/**
 * What a CLI command keeps of a run over one dataset: totals, the first few divergences and decisions for
 * the readable report, and every list spilled for `--json`. Memory is bounded by the segment group the
 * engine holds, not by the table or the number of divergences.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { Divergence } from "../core/classify.js";
import type { Decision } from "../core/decide.js";
import type { Key } from "../core/model.js";
import type { GuardTrip } from "../core/plan-record.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { RepairMode } from "../engine/repair-dataset.js";
import { type RunMode, type RunTotals, runDataset } from "../engine/run-dataset.js";
import type { ExpectedState, StaleEntry } from "../engine/run-segment.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { DiffFileWriter } from "./diff-file.js";
import { decisionJson, divergenceText, repairJson } from "./json-items.js";
import type { JsonSpill, SpillDir } from "./json-spill.js";
import type { Progress } from "./progress.js";
import type { Session } from "./session.js";

/** How many divergences and decisions a readable report shows; the rest are counted. */
const SHOWN = 25;

/** What a run over one dataset found and did: totals, the first entries, and the full lists spilled. */
export interface RunReport {
  readonly name: string;
  readonly resolved: ResolvedShape;
  readonly totals: RunTotals;
  /** The first divergences and decisions, for a readable report; the spills count all of them. */
  readonly shownDivergences: readonly Divergence[];
  readonly shownDecisions: readonly Decision[];
  /** The first failed repairs (as many as divergences are shown), for the readable report to say why. */
  readonly shownFailures: readonly RepairResult[];
  readonly guard?: GuardTrip | undefined;
  /** Repair outcomes and the decisions that wrote nothing (escalated, waiting, ignored). */
  readonly summary: Record<string, number>;
  readonly recovered: readonly RepairResult[];
  /** The run's warnings (DatasetRunResult.warnings): printed on stderr, and in repair's JSON. */
  readonly warnings: readonly string[];
  /** Repairs another run had pending (another process repairing the dataset at once), counted by that run. */
  readonly heldBy: ReadonlyMap<string, number>;
  /** True when something remains for a person or a later run (repair), or anything needs a write (scan, plan). */
  readonly remains: boolean;
  /** False when Ctrl-C stopped the run before its end. */
  readonly finished: boolean;
  /** The run's segments, and how many were done before it stopped (all of them when finished). */
  readonly segments: number;
  readonly segmentsDone: number;
  /** The JSON of every divergence, decision and repair (or planned write), in order. */
  readonly spill: { divergences: JsonSpill; decisions: JsonSpill; repairs: JsonSpill };
  /** Decisions by action (propagate, delete, merge, wait, ignore, escalate), all of them counted. */
  readonly actions: Readonly<Record<string, number>>;
  /** From a diff file (`repair --from`): its keys left alone because the replicas changed since. */
  readonly stale: readonly StaleEntry[];
}

/**
 * Runs `mode` over one dataset of an open session through the engine's one orchestrator, as run `runId`,
 * keeping what the report needs. Ctrl-C (`signal`) stops after the write batch in flight.
 */
export async function collectRun(
  session: Session,
  ds: DatasetConfig,
  runId: string,
  command: string,
  mode: RunMode,
  spills: SpillDir,
  options: {
    progress?: Progress;
    signal?: AbortSignal;
    values?: boolean;
    keys?: readonly Key[];
    /** Dry-run: render each planned write as its target would run it (its `statement` in the JSON). */
    print?: boolean;
    /** Which writes a repair makes (`--mode`); default the dataset's `repairMode`. */
    repairMode?: RepairMode | undefined;
    /** How many divergences and decisions to keep for the readable report (default 25). */
    shown?: number | undefined;
    /** Write every divergence with its full rows to this diff file (`scan --output`). */
    output?: DiffFileWriter | undefined;
    /** With `keys`, from a diff file: what each replica held; keys that changed since are left alone. */
    expected?: ExpectedState | undefined;
  } = {},
): Promise<RunReport> {
  const replicas = await session.replicas(ds);
  const spill = { divergences: spills.spill(), decisions: spills.spill(), repairs: spills.spill() };
  const shownDivergences: Divergence[] = [];
  const shownDecisions: Decision[] = [];
  const shownFailures: RepairResult[] = [];
  const actions: Record<string, number> = {};
  const stale: StaleEntry[] = [];
  const heldBy = new Map<string, number>();
  const shown = options.shown ?? SHOWN;
  const { output } = options;
  let sectioned = false;
  const { progress } = options;
  try {
    const run = await runDataset(
      ds,
      replicas,
      { state: session.state, now: Date.now },
      {
        runId,
        command,
        mode,
        signal: options.signal,
        actor: session.actor,
        policySource: session.configFile,
        ...(options.keys ? { keys: options.keys } : {}),
        ...(options.print ? { print: true } : {}),
        ...(options.repairMode ? { repairMode: options.repairMode } : {}),
        ...(options.expected ? { expected: options.expected } : {}),
        observer: {
          ...(progress
            ? { onProgress: (label, done, total, estimate) => progress.update(label, done, total, estimate) }
            : {}),
          onSegment({ scan, plan, tasks, results, printed, stale: staleHere }) {
            stale.push(...staleHere);
            if (output) {
              if (!sectioned)
                output.section(
                  ds.name,
                  runId,
                  scan.shape,
                  ds.replicas.map((r) => r.name),
                );
              sectioned = true;
              const columns = scan.shape.columns.map((c) => c.name);
              for (const d of scan.divergences) output.add(scan.shape.key, d, columns);
            }
            const keyColumns = scan.shape.key;
            const valueColumns = options.values ? scan.shape.columns.map((c) => c.name) : undefined;
            for (const d of scan.divergences) {
              spill.divergences.pushText(() => divergenceText(keyColumns, d, valueColumns));
              if (shownDivergences.length < shown) shownDivergences.push(d);
            }
            for (const d of plan?.decisions ?? []) {
              actions[d.action] = (actions[d.action] ?? 0) + 1;
              spill.decisions.push(() => decisionJson(keyColumns, d));
              if (shownDecisions.length < shown) shownDecisions.push(d);
            }
            if (mode === "dry-run" && options.print)
              for (const { task, text } of printed)
                spill.repairs.push(() => ({
                  ...repairJson(keyColumns, { ...task, outcome: "planned" }),
                  action: task.action,
                  statement: text,
                }));
            else if (mode === "dry-run")
              for (const t of tasks)
                spill.repairs.push(() => repairJson(keyColumns, { ...t, outcome: "planned" }));
            for (const r of results) {
              spill.repairs.push(() => repairJson(keyColumns, r));
              if (r.heldBy !== undefined) heldBy.set(r.heldBy, (heldBy.get(r.heldBy) ?? 0) + 1);
              if (r.outcome === "failed" && shownFailures.length < shown) shownFailures.push(r);
            }
          },
        },
      },
    );
    const t = run.totals;
    return {
      name: ds.name,
      resolved: run.resolved,
      totals: t,
      shownDivergences,
      shownDecisions,
      shownFailures,
      guard: t.guard,
      summary: {
        applied: t.repairs.applied ?? 0,
        noop: t.repairs.noop ?? 0,
        superseded: t.repairs.superseded ?? 0,
        failed: t.repairs.failed ?? 0,
        escalated: t.escalated,
        waiting: t.waiting,
        ignored: t.ignored,
        heldBack: t.heldBack,
      },
      recovered: run.recovered,
      warnings: run.warnings,
      heldBy,
      remains: t.remaining > 0,
      finished: run.finished,
      segments: run.segments,
      segmentsDone: run.segmentsDone,
      spill,
      actions,
      stale,
    };
  } finally {
    progress?.clear();
  }
}
