/** `concord plan` and `concord repair`: scan, decide by policy, and (repair) execute with verification. */

import { type Decision, decisionSummary } from "../core/decide.js";
import { keyToJson } from "../core/model.js";
import {
  type DatasetPlan,
  planDataset,
  recordPlan,
  recoverPending,
  repairDataset,
  repairTasks,
} from "../engine.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { EXIT } from "./errors.js";
import { datasetScanJson, renderScan } from "./render-scan.js";
import { needsRepair, scanSession } from "./scan.js";
import { type DataCommandOptions, newRunId, openSession } from "./session.js";

export interface RepairCommandOptions extends DataCommandOptions {
  readonly dryRun?: boolean | undefined;
}

function decisionJson(plan: DatasetPlan, d: Decision): Record<string, unknown> {
  return {
    key: keyToJson(plan.scan.shape.key, d.key),
    class: d.class,
    ...decisionSummary(d),
  };
}

function renderDecisions(plan: DatasetPlan, limit = 25): string {
  const lines: string[] = [];
  if (plan.guard) lines.push(`  GUARD: ${plan.guard.reason}: nothing will be written; escalated once`);
  const shown = plan.decisions.slice(0, limit);
  if (shown.length) {
    lines.push("  decisions:");
    for (const d of shown) {
      const key = keyToJson(plan.scan.shape.key, d.key).join(",");
      const flow = d.targets.length ? ` ${d.source ?? "merge"} → ${d.targets.join(", ")}` : "";
      lines.push(`    ${key}  ${d.action}${flow}  [${d.rule}] ${d.reason}`);
    }
    if (plan.decisions.length > limit)
      lines.push(`    … ${plan.decisions.length - limit} more (use --json for all)`);
  }
  return lines.join("\n");
}

function summarise(plan: DatasetPlan, results: readonly RepairResult[]): Record<string, number> {
  const s: Record<string, number> = {
    applied: 0,
    noop: 0,
    superseded: 0,
    failed: 0,
    escalated: 0,
    waiting: 0,
    ignored: 0,
  };
  for (const r of results) s[r.outcome] = (s[r.outcome] ?? 0) + 1;
  for (const d of plan.decisions) {
    if (d.action === "escalate") s.escalated!++;
    else if (d.action === "wait") s.waiting!++;
    else if (d.action === "ignore") s.ignored!++;
  }
  s.escalated! += plan.scan.schema.length + (plan.guard ? 1 : 0);
  return s;
}

/** Whether anything needing a person or another run remains after a repair. */
function remains(plan: DatasetPlan, results: readonly RepairResult[]): boolean {
  if (plan.guard || plan.scan.schema.length > 0) return true;
  if (plan.decisions.some((d) => d.action === "escalate")) return true;
  return results.some((r) => r.outcome === "superseded" || r.outcome === "failed");
}

/** `plan` (execute = false) or `repair` (execute = true, unless --dry-run). */
export async function runPlanOrRepair(
  options: RepairCommandOptions,
  execute: boolean,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const writes = execute && !options.dryRun;
  const session = await openSession(options, { readonly: !writes });
  // Ctrl-C stops between write batches; what was written is already in ledger and audit. A second
  // Ctrl-C kills at once, and the next run settles anything left pending.
  const abort = new AbortController();
  const onSigint = () => {
    process.stderr.write(
      "\nconcord: interrupted; finishing the write batch in flight (Ctrl-C again to kill)\n",
    );
    abort.abort();
  };
  if (writes) process.once("SIGINT", onSigint);
  try {
    const runId = newRunId();
    const command = execute ? (options.dryRun ? "repair --dry-run" : "repair") : "plan";
    const scans = await scanSession(session, runId, command);
    const docs: Record<string, unknown>[] = [];
    const texts: string[] = [];
    let diverged = false;
    for (const scan of scans) {
      const ds = session.datasets.find((d) => d.name === scan.name)!;
      const plan = planDataset(ds, scan);
      const ctx = { runId, state: session.state, now: Date.now, command };
      let results: RepairResult[] = [];
      let recovered: RepairResult[] = [];
      if (writes && !abort.signal.aborted) {
        const replicas = await session.replicas(ds);
        recovered = await recoverPending(ds.name, replicas, scan.shape, ctx);
        if (recovered.length && !options.json) {
          texts.push(
            `${ds.name}: settled ${recovered.length} repair${recovered.length === 1 ? "" : "s"} an interrupted run left pending`,
          );
        }
        await recordPlan(plan, ctx);
        results = await repairDataset(plan, replicas, ctx, { signal: abort.signal });
        diverged ||= remains(plan, results) || abort.signal.aborted;
      } else {
        diverged ||= needsRepair(scan);
      }
      const summary = summarise(plan, results);
      const doc: Record<string, unknown> = {
        ...datasetScanJson(scan),
        decisions: plan.decisions.map((d) => decisionJson(plan, d)),
      };
      if (plan.guard) doc.guard = plan.guard;
      if (execute) {
        doc.repairs = writes
          ? results.map((r) => ({
              id: r.id,
              key: keyToJson(scan.shape.key, r.key),
              target: r.target,
              outcome: r.outcome,
              ...(r.error ? { error: r.error } : {}),
            }))
          : repairTasks(plan).map((t) => ({
              id: t.id,
              key: keyToJson(scan.shape.key, t.key),
              target: t.target,
              outcome: "planned",
            }));
        doc.summary = summary;
        // Repairs an interrupted run left pending, settled by re-reading their targets before this run's.
        if (recovered.length)
          doc.recovered = recovered.map((r) => ({
            id: r.id,
            key: keyToJson(scan.shape.key, r.key),
            target: r.target,
            outcome: r.outcome,
            ...(r.error ? { error: r.error } : {}),
          }));
      }
      docs.push(doc);
      let text = `${renderScan(scan, 0)}\n${renderDecisions(plan)}`;
      if (execute) {
        const parts = Object.entries(summary)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`);
        text += `\n  ${writes ? "repair" : "dry run (nothing written)"}: ${parts.join(" · ") || "nothing to do"}`;
        const planned = repairTasks(plan).length;
        if (!writes && planned)
          text += `\n  ${planned} conditional write${planned === 1 ? "" : "s"} would be made`;
      }
      texts.push(text);
    }
    if (options.json) stdout.write(`${JSON.stringify({ runId, datasets: docs }, null, 2)}\n`);
    else stdout.write(`${texts.join("\n\n")}\n`);
    return diverged ? EXIT.diverged : EXIT.ok;
  } finally {
    process.removeListener("SIGINT", onSigint);
    await session.close();
  }
}
