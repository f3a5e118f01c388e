/** `concord plan` and `concord repair`: scan, decide by policy, and (repair) execute with verification. */

import { resolve } from "node:path";
import type { DatasetConfig } from "../config/load-config.js";
import type { Decision } from "../core/decide.js";
import { type Key, keyText, keyToJson } from "../core/model.js";
import { printable } from "../core/printable.js";
import type { RepairMode } from "../engine/repair-dataset.js";
import type { RunMode } from "../engine/run-dataset.js";
import { collectRun, type RunReport } from "./collect-run.js";
import { readDiffFile } from "./diff-file.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo, writeWarning } from "./io.js";
import { SpillDir } from "./json-spill.js";
import { createProgress } from "./progress.js";
import { renderRun, stoppedLine } from "./render-scan.js";
import { writeRunsJson } from "./run-json.js";
import { recheckNote } from "./scan.js";
import { type DataCommandOptions, newRunId, openSession, recheckKeys } from "./session.js";
import { stopSignals } from "./stop-signals.js";
import { count, plural, textTable } from "./text-table.js";

export interface RepairCommandOptions extends DataCommandOptions {
  readonly dryRun?: boolean | undefined;
  /** Print the statements each planned write would run on its target; execute none (a dry run). */
  readonly print?: boolean | undefined;
  /** Which writes to make: all, insert-only or upsert-only (default: the dataset's repairMode). */
  readonly mode?: RepairMode | undefined;
  /** Repair only the entries of this diff file (`scan --output`) whose replicas still hold what it says. */
  readonly from?: string | undefined;
}

/** The order actions are counted in, writes first. */
const ACTION_ORDER = ["propagate", "delete", "merge", "escalate", "wait", "ignore"];

/**
 * What a decision does, in words that cannot be read backwards: "write a's record to b", "delete on cache
 * (pg lacks it)", "write the merged record to a, b".
 */
export function actionText(d: Pick<Decision, "action" | "source" | "targets" | "options">): string {
  const targets = d.targets.join(", ");
  switch (d.action) {
    case "propagate":
      return `write ${d.source}'s record to ${targets}`;
    case "delete":
      return `delete on ${targets} (${d.source} lacks it)`;
    case "merge":
      return `write the merged record to ${targets}`;
    case "escalate":
      return d.options.length ? `escalate (a person picks ${d.options.join(" or ")})` : "escalate";
    case "wait":
      return "wait (re-checked next run)";
    case "ignore":
      return "none (within tolerance)";
  }
}

function renderDecisions(run: RunReport): string {
  const lines: string[] = [];
  if (run.guard)
    lines.push(`  GUARD: ${printable(run.guard.reason)}: nothing will be written; escalated once`);
  const shape = run.resolved.shape;
  const total = run.spill.decisions.count;
  if (total) {
    const counts = [
      ...ACTION_ORDER.filter((a) => run.actions[a]),
      ...Object.keys(run.actions).filter((a) => !ACTION_ORDER.includes(a)),
    ].map((a) => `${a} ${count(run.actions[a]!)}`);
    lines.push(`  ${plural(total, "decision")}: ${counts.join(" · ")}`);
    const rows = run.shownDecisions.map((d) => [
      printable(keyToJson(shape.key, d.key).join(",")),
      d.class,
      printable(actionText(d)),
      printable(d.rule),
      printable(d.reason),
    ]);
    lines.push(textTable([["KEY", "CLASS", "ACTION", "RULE", "REASON"], ...rows], "    "));
    if (total > run.shownDecisions.length)
      lines.push(`    … ${count(total - run.shownDecisions.length)} more (use --json for all)`);
  }
  return lines.join("\n");
}

/** Why repairs failed, one line each for the first few (the store's or the connector's one-line refusal). */
function failuresText(run: RunReport): string {
  const lines = run.shownFailures.map(
    (f) => `\n    failed ${printable(keyText(f.key))} on ${printable(f.target)}: ${printable(f.error ?? "")}`,
  );
  const more = run.summary.failed! - run.shownFailures.length;
  if (more > 0) lines.push(`\n    … ${count(more)} more failed (use --json for all)`);
  return lines.join("");
}

/** The diff file's entries a run left alone, a few named. */
function staleText(run: RunReport): string {
  const key = (k: Key) => printable(keyText(k));
  const shown = run.stale
    .slice(0, 10)
    .map((s) =>
      s.converged ? `${key(s.key)} (agrees now)` : `${key(s.key)} (${s.changed.join(", ")} changed since)`,
    );
  const more = run.stale.length > shown.length ? `, … ${count(run.stale.length - shown.length)} more` : "";
  return `  stale: ${plural(run.stale.length, "entry", "entries")} of the diff file left alone: ${shown.join(", ")}${more}`;
}

/** One planned write as the JSON spill keeps it with `--print`. */
interface PrintedItem {
  key: unknown[];
  target: string;
  action: string;
  statement: string;
}

/**
 * `repair --print` for one dataset: per target, a header, then each planned write's statements (SQL in the
 * target's dialect, Redis commands), each after a comment naming its key; comments are `-- ` for SQL
 * targets and `# ` for Redis. Read back from the spill one target at a time, so memory stays bounded.
 */
function printedText(run: RunReport, ds: DatasetConfig): string {
  const lines: string[] = [];
  const comment = (target: string) =>
    /^rediss?:/i.test(ds.replicas.find((r) => r.name === target)?.url ?? "") ? "#" : "--";
  if (run.guard)
    lines.push(`-- ${run.name}: GUARD: ${printable(run.guard.reason)}: nothing would be written`);
  for (const s of run.resolved.issues) lines.push(`-- ${run.name}: schema: ${printable(s.detail)}`);
  const total = run.spill.repairs.count;
  for (const r of ds.replicas) {
    let n = 0;
    const c = comment(r.name);
    for (const raw of run.spill.repairs.values()) {
      const item = raw as PrintedItem;
      if (item.target !== r.name) continue;
      if (n++ === 0) lines.push(`${c} ${run.name} → ${r.name}`);
      lines.push(`${c} key ${printable(item.key.map(String).join(","))}: ${item.action}`);
      lines.push(item.statement);
    }
  }
  const escalated = run.summary.escalated ?? 0;
  lines.push(
    `-- ${run.name}: ${total} conditional write${total === 1 ? "" : "s"} printed, none executed` +
      (escalated ? `; ${escalated} escalated (not printed: a person decides)` : "") +
      (run.finished ? "" : `; interrupted after segment ${run.segmentsDone} of ${run.segments}`),
  );
  return lines.join("\n");
}

/** `plan` (execute = false) or `repair` (execute = true, unless --dry-run). */
export async function runPlanOrRepair(
  options: RepairCommandOptions,
  execute: boolean,
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout, stderr } = io;
  const print = execute && options.print === true;
  const mode: RunMode = execute ? (options.dryRun || print ? "dry-run" : "repair") : "plan";
  const writes = mode === "repair";
  // Ctrl-C stops after the step in flight (a detection batch, or a write batch, whose outcome is then in
  // ledger and audit). A second Ctrl-C kills at once, and the next run settles anything left pending.
  const abort = stopSignals(stderr, "step");
  // Read-only modes too: stopping (rather than dying) records the run and removes the spills.
  abort.listen();
  // A recheck of a run needs a state store holding it: one that does not exist is not created to say so.
  const state = options.recheck !== undefined ? "if-exists" : "create";
  const session = await openSession(options, { readonly: !writes, state }, io).catch((e: unknown) => {
    abort.dispose();
    throw e;
  });
  const spills = new SpillDir({ keep: options.json === true || print });
  const progress = createProgress(stderr);
  try {
    const runId = newRunId();
    const command = execute
      ? print
        ? "repair --print"
        : options.dryRun
          ? "repair --dry-run"
          : "repair"
      : "plan";
    const runs: RunReport[] = [];
    if (options.from && options.recheck) throw new UsageError("--from and recheck: give one of them");
    const file = options.from ? readDiffFile(resolve(io.cwd, options.from), session.datasets) : undefined;
    const targets = options.recheck
      ? await recheckKeys(session, options.recheck)
      : file && new Map([...file].map(([name, t]) => [name, t.keys]));
    const unchecked: string[] = [];
    let reached = 0;
    for (const ds of session.datasets) {
      if (abort.signal.aborted) break;
      reached++;
      const keys = targets?.get(ds.name);
      if (targets && !keys) {
        unchecked.push(ds.name);
        continue;
      }
      const run = await collectRun(
        session,
        ds,
        runId,
        options.recheck ? `recheck ${command}` : file ? `${command} --from` : command,
        mode,
        spills,
        {
          progress,
          signal: abort.signal,
          values: options.values === true,
          keys,
          print,
          repairMode: options.mode,
          expected: file?.get(ds.name)?.expected,
        },
      );
      runs.push(run);
      for (const w of run.warnings) writeWarning(stderr, w);
    }
    const skipped = session.datasets.slice(reached).map((d) => d.name);
    if (writes) await session.anchorAudit();
    if (options.json) await writeRunsJson(stdout, runId, runs, mode, file !== undefined);
    else if (print) {
      const texts = runs.map((run) => printedText(run, session.datasets.find((d) => d.name === run.name)!));
      if (unchecked.length) texts.push(`-- ${recheckNote(options.recheck!, unchecked)}`);
      if (skipped.length) texts.push(`-- interrupted before ${skipped.join(", ")}: not scanned`);
      stdout.write(`${texts.join("\n\n")}\n`);
    } else {
      const texts = runs.map((run) => {
        const lines: string[] = [];
        if (run.recovered.length)
          lines.push(
            `${run.name}: settled ${plural(run.recovered.length, "repair")} an interrupted run left pending`,
          );
        let text = options.values
          ? `${renderRun(run, 20, { values: true })}\n${renderDecisions(run)}`
          : `${renderRun(run, 0)}\n${renderDecisions(run)}`;
        if (execute) {
          const mode = options.mode ?? session.datasets.find((d) => d.name === run.name)?.repairMode;
          const parts = Object.entries(run.summary)
            .filter(([, n]) => n > 0)
            .map(([k, n]) => (k === "heldBack" ? `held back by ${mode} ${count(n)}` : `${k} ${count(n)}`));
          const planned = run.totals.plannedWrites;
          if (!writes && planned)
            parts.unshift(`${count(planned)} conditional write${planned === 1 ? "" : "s"} would be made`);
          // An interrupted run that wrote nothing did not find that nothing was to do.
          const idle = run.finished ? "nothing to do" : "nothing written before it stopped";
          text += `\n  ${writes ? "repair" : "dry run (nothing written)"}: ${parts.join(" · ") || idle}`;
          text += failuresText(run);
        }
        for (const [holder, n] of run.heldBy)
          text += `\n  ${plural(n, "repair")} left to run ${printable(holder)}, which has them pending (another process repairing ${printable(run.name)} at the same time); run again once it has finished`;
        if (run.stale.length) text += `\n${staleText(run)}`;
        if (!run.finished)
          text += `\n${stoppedLine(run, writes ? "neither decided nor written" : "not decided")}`;
        lines.push(text);
        return lines.join("\n\n");
      });
      if (unchecked.length)
        texts.push(
          options.recheck
            ? recheckNote(options.recheck, unchecked)
            : `${unchecked.join(", ")}: not in ${options.from}; not repaired`,
        );
      if (skipped.length) texts.push(`interrupted before ${skipped.join(", ")}: not scanned`);
      stdout.write(`${texts.join("\n\n")}\n`);
    }
    if (abort.signal.aborted && (skipped.length || runs.some((r) => !r.finished))) {
      stderr.write(
        writes
          ? "concord: interrupted; what was written is in the ledger and the audit log\n"
          : "concord: interrupted; no replica was written\n",
      );
      return abort.exitCode();
    }
    return runs.some((r) => r.remains) ? EXIT.diverged : EXIT.ok;
  } finally {
    abort.dispose();
    progress.clear();
    spills.dispose();
    await session.close();
  }
}
