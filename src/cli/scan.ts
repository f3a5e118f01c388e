/** `concord scan`: detect and classify divergence; read-only for every replica. */
import { collectRun, type RunReport } from "./collect-run.js";
import { EXIT } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { SpillDir } from "./json-spill.js";
import { createProgress } from "./progress.js";
import { renderRun } from "./render-scan.js";
import { writeRunsJson } from "./run-json.js";
import { type DataCommandOptions, newRunId, openSession } from "./session.js";

export async function runScan(options: DataCommandOptions, io: CliIo = processIo()): Promise<number> {
  const { stdout } = io;
  const session = await openSession(options, { readonly: true }, io);
  const spills = new SpillDir({ keep: options.json === true });
  const progress = createProgress(io.stderr);
  try {
    const runId = newRunId();
    const runs: RunReport[] = [];
    for (const ds of session.datasets)
      runs.push(
        await collectRun(session, ds, runId, "scan", "scan", spills, {
          progress,
          values: options.values === true,
        }),
      );
    if (options.json) await writeRunsJson(stdout, runId, runs, "scan");
    else stdout.write(`${runs.map((r) => renderRun(r, 20, { values: options.values })).join("\n\n")}\n`);
    return runs.some((r) => r.remains) ? EXIT.diverged : EXIT.ok;
  } finally {
    progress.clear();
    spills.dispose();
    await session.close();
  }
}
