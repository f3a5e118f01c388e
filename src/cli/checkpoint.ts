/** `concord checkpoint drop <dataset>`: drops a dataset's unfinished serve pass (a damaged checkpoint above all). */

import { printable } from "../core/printable.js";
import { type DroppedCheckpoint, dropCheckpoint } from "../engine/drop-checkpoint.js";
import { PassOwnedError, processOwner } from "../engine/run-liveness.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { openSession } from "./session.js";

export interface CheckpointDropOptions {
  readonly config: string;
  readonly json?: boolean | undefined;
}

/**
 * Removes the dataset's checkpoint — one `getCheckpoint` refuses as damaged included — so its next serve pass
 * starts afresh over the whole key space. Holds the dataset's pass lease while it does (refused, exit 2, while
 * a serve process runs the pass: abort that instead); the pass the checkpoint named, if still `running`, is
 * recorded `failed` with `stats.checkpointDropped`, and the drop is audited (`checkpoint-dropped`, naming who).
 * Idempotent: no checkpoint is not an error. Nothing is written to any replica.
 */
export async function runCheckpointDrop(
  dataset: string,
  options: CheckpointDropOptions,
  io: CliIo = processIo(),
): Promise<number> {
  // No checkpoint in a state store that does not exist: it is not created to say so.
  const session = await openSession({ config: options.config }, { readonly: false, state: "if-exists" }, io);
  try {
    if (!session.config.datasets.some((d) => d.name === dataset))
      throw new UsageError(`checkpoint drop: no dataset named "${dataset}" in ${session.config.path}`);
    let dropped: DroppedCheckpoint = { runId: undefined, runFailed: false };
    if (!(await session.stateAbsent()))
      try {
        dropped = await dropCheckpoint(session.state, dataset, {
          owner: processOwner(),
          by: session.actor,
          now: Date.now,
        });
      } catch (err) {
        if (err instanceof PassOwnedError)
          throw new UsageError(
            `checkpoint drop: ${err.message}; abort it (POST /api/datasets/${dataset}/abort) instead`,
          );
        throw err;
      }
    const { runId, runFailed: finished } = dropped;
    if (runId !== undefined) await session.anchorAudit();
    if (options.json)
      io.stdout.write(
        `${JSON.stringify(jsonDoc({ dataset, dropped: runId !== undefined, runId: runId ?? null, runFailed: finished }), null, 2)}\n`,
      );
    else
      io.stdout.write(
        runId === undefined
          ? `dataset ${printable(dataset)} has no checkpoint\n`
          : `dropped the checkpoint of dataset ${printable(dataset)} (pass ${printable(runId)}${finished ? ", recorded failed" : ""}); its next pass starts afresh\n`,
      );
    return EXIT.ok;
  } finally {
    await session.close();
  }
}
