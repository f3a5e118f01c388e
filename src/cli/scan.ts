/** `concord scan`: detect and classify divergence; read-only for every replica. */
import { type DatasetScan, isRepairable, scanDataset } from "../engine.js";
import { EXIT } from "./errors.js";
import { createProgress } from "./progress.js";
import { datasetScanJson, renderScan } from "./render-scan.js";
import { type DataCommandOptions, newRunId, openSession, type Session } from "./session.js";

/** True when a scan found anything that needs a write (schema divergence included). */
export function needsRepair(scan: DatasetScan): boolean {
  return scan.schema.length > 0 || scan.divergences.some(isRepairable);
}

/** Scans every picked dataset of an open session, recording one run per dataset. */
export async function scanSession(session: Session, runId: string, command: string): Promise<DatasetScan[]> {
  const progress = createProgress();
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

export async function runScan(
  options: DataCommandOptions,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const session = await openSession(options, { readonly: true });
  try {
    const runId = newRunId();
    const scans = await scanSession(session, runId, "scan");
    if (options.json) {
      stdout.write(`${JSON.stringify({ runId, datasets: scans.map(datasetScanJson) }, null, 2)}\n`);
    } else {
      stdout.write(`${scans.map((s) => renderScan(s)).join("\n\n")}\n`);
    }
    return scans.some(needsRepair) ? EXIT.diverged : EXIT.ok;
  } finally {
    await session.close();
  }
}
