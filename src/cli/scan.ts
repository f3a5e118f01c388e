/** `concord scan`: detect and classify divergence; read-only for every replica. */
import { resolve } from "node:path";
import { collectRun, type RunReport } from "./collect-run.js";
import { DiffFileWriter } from "./diff-file.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { SpillDir } from "./json-spill.js";
import { refuseOwnFile } from "./own-files.js";
import { createProgress } from "./progress.js";
import { renderRun, stoppedLine } from "./render-scan.js";
import { writeRunsJson } from "./run-json.js";
import { type DataCommandOptions, newRunId, openSession, recheckKeys } from "./session.js";
import { stopSignals } from "./stop-signals.js";
import { wholeNumber } from "./whole-number.js";

/** The line naming the datasets a recheck left alone: the run it re-checks found nothing there. */
export function recheckNote(runId: string, skipped: readonly string[]): string {
  return `${skipped.join(", ")}: run ${runId} found no divergent keys there; not re-checked`;
}

export async function runScan(
  options: DataCommandOptions & {
    readonly output?: string | undefined;
    /** How many divergences the readable report lists per dataset (default 20; --json lists all). */
    readonly limit?: string | undefined;
  },
  io: CliIo = processIo(),
): Promise<number> {
  const { stdout, stderr } = io;
  const limit = options.limit === undefined ? 20 : wholeNumber(options.limit, "--limit");
  // The listed divergences are held in memory: past this many, --json or --output lists them all.
  if (limit > 10_000)
    throw new UsageError(`--limit ${limit}: at most 10,000 (--json or --output FILE lists every one)`);
  const spills = new SpillDir({ keep: options.json === true });
  const progress = createProgress(stderr);
  // Ctrl-C stops after the step in flight, so the run is recorded and the spills and an unfinished
  // --output file are removed instead of left behind by a killed process. A second Ctrl-C kills at once.
  const abort = stopSignals(stderr, "step");
  abort.listen();
  // A recheck of a run needs a state store holding it: one that does not exist is not created to say so.
  const state = options.recheck !== undefined ? "if-exists" : "create";
  const session = await openSession(options, { readonly: true, state }, io).catch((e: unknown) => {
    abort.dispose();
    throw e;
  });
  let output: DiffFileWriter | undefined;
  try {
    if (options.output !== undefined) {
      const target = resolve(io.cwd, options.output);
      refuseOwnFile(target, session.config, session.configFile, `--output ${options.output}`);
      output = new DiffFileWriter(target);
    }
    const runId = newRunId();
    const runs: RunReport[] = [];
    const targets = options.recheck ? await recheckKeys(session, options.recheck) : undefined;
    const skipped: string[] = [];
    let reached = 0;
    for (const ds of session.datasets) {
      if (abort.signal.aborted) break;
      reached++;
      const keys = targets?.get(ds.name);
      if (targets && !keys) {
        skipped.push(ds.name);
        continue;
      }
      runs.push(
        await collectRun(session, ds, runId, options.recheck ? "recheck" : "scan", "scan", spills, {
          progress,
          signal: abort.signal,
          values: options.values === true,
          keys,
          output,
          shown: Math.max(limit, 25),
        }),
      );
    }
    const notReached = session.datasets.slice(reached).map((d) => d.name);
    const interrupted = abort.signal.aborted && (notReached.length > 0 || runs.some((r) => !r.finished));
    // An interrupted scan's diff file would list only part of the divergence: it is not put in place.
    if (!interrupted) output?.commit();
    if (options.json) await writeRunsJson(stdout, runId, runs, "scan");
    else {
      const texts = runs.map(
        (r) =>
          renderRun(r, limit, { values: options.values }) +
          (r.finished ? "" : `\n${stoppedLine(r, "not scanned")}`),
      );
      if (skipped.length) texts.push(recheckNote(options.recheck!, skipped));
      if (interrupted && notReached.length)
        texts.push(`interrupted before ${notReached.join(", ")}: not scanned`);
      stdout.write(`${texts.join("\n\n")}\n`);
    }
    if (interrupted) {
      const file =
        options.output !== undefined ? `; ${options.output} not written (the scan did not finish)` : "";
      stderr.write(`concord: interrupted; no replica was written${file}\n`);
      return abort.exitCode();
    }
    return runs.some((r) => r.remains) ? EXIT.diverged : EXIT.ok;
  } finally {
    abort.dispose();
    output?.abort();
    progress.clear();
    spills.dispose();
    await session.close();
  }
}
