/** `concord scan`: detect and classify divergence; read-only for every replica. */
import { type DatasetScan, isRepairable, scanDataset } from "../engine.js";
import { type DatasetRun, runDataset, SpillDir, writeRunsJson } from "./dataset-run.js";
import { EXIT } from "./errors.js";
import { type CliIo, type CliStream, processIo } from "./io.js";
import { createProgress } from "./progress.js";
import { renderRun } from "./render-scan.js";
import { type DataCommandOptions, newRunId, openSession, type Session } from "./session.js";

/** True when a scan found anything that needs a write (schema divergence included). */
export function needsRepair(scan: DatasetScan): boolean {
  return scan.schema.length > 0 || scan.divergences.some(isRepairable);
}

/** Scans every picked dataset of an open session, recording one run per dataset; progress on `stderr`. */
export async function scanSession(
  session: Session,
  runId: string,
  command: string,
  stderr: CliStream,
): Promise<DatasetScan[]> {
  const progress = createProgress(stderr);
  const scans: DatasetScan[] = [];
  try {
    for (const ds of session.datasets) {
      const replicas = await session.replicas(ds);
      await session.state.beginRun({ id: runId, dataset: ds.name, command, startedAt: Date.now() });
      try {
        const scan = await scanDataset(ds, replicas, {
          runId,
          state: session.state,
          now: Date.now,
          command,
          onProgress: (name, done, total) => progress.update(name, done, total),
        });
        progress.clear();
        await session.state.finishRun(runId, ds.name, {
          finishedAt: Date.now(),
          status: needsRepair(scan) ? "diverged" : "ok",
          counts: scan.counts as Record<string, number>,
          stats: { ...scan.stats },
        });
        scans.push(scan);
      } catch (err) {
        progress.clear();
        await session.state.finishRun(runId, ds.name, {
          finishedAt: Date.now(),
          status: "failed",
          counts: {},
          stats: {},
        });
        throw err;
      }
    }
  } finally {
    progress.clear();
  }
  return scans;
}

export async function runScan(options: DataCommandOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  const session = await openSession(options, { readonly: true }, io);
  const spills = new SpillDir({ keep: options.json === true });
  const progress = createProgress(io.stderr);
  try {
    const runId = newRunId();
    const runs: DatasetRun[] = [];
    for (const ds of session.datasets)
      runs.push(await runDataset(session, ds, runId, "scan", "scan", spills, { progress }));
    if (options.json) await writeRunsJson(stdout, runId, runs, "scan");
    else stdout.write(`${runs.map((r) => renderRun(r)).join("\n\n")}\n`);
    return runs.some((r) => r.remains) ? EXIT.diverged : EXIT.ok;
  } finally {
    progress.clear();
    spills.dispose();
    await session.close();
  }
}
