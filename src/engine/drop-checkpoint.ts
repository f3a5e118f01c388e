/** Drops a dataset's checkpoint: the one path of `concord checkpoint drop` and of a pass abandoning another's. */
import type { StateStore } from "../state/state-store.js";
import { acquirePass, passLease } from "./run-liveness.js";

/** Options of `dropCheckpoint`. */
export interface DropCheckpointOptions {
  /** The process dropping it: holds the dataset's pass lease while it does (taken here unless it already does). */
  readonly owner: string;
  /** Who dropped it, as the audit entry names them (`cli:…`, or the pass that abandoned it). */
  readonly by: string;
  readonly now: () => number;
  /** Why, beyond `checkpointDropped`, recorded in the dropped run's stats (e.g. `abandonedAtSegment`). */
  readonly stats?: Readonly<Record<string, number>>;
  /** Extra audit data (e.g. `abandonedFor`, the mode of the pass that took the dataset over). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** What `dropCheckpoint` did: the run the checkpoint held (undefined: there was none), and whether it was ended. */
export interface DroppedCheckpoint {
  readonly runId: string | undefined;
  readonly runFailed: boolean;
}

/**
 * Removes the dataset's checkpoint — one `getCheckpoint` refuses as damaged included — under the dataset's pass
 * lease (PassOwnedError when another process holds it: a serve pass runs). The run it named, if still
 * `running`, is recorded `failed` with `stats.checkpointDropped` (and `options.stats`); the drop is audited
 * (`checkpoint-dropped`: `by`, `runFailed`). Idempotent: no checkpoint changes nothing and audits nothing.
 */
export async function dropCheckpoint(
  state: StateStore,
  dataset: string,
  options: DropCheckpointOptions,
): Promise<DroppedCheckpoint> {
  const lease = passLease(dataset);
  // A pass that abandons another's checkpoint holds the lease already: it keeps it.
  const held = (await state.getLease(lease))?.owner === options.owner;
  await acquirePass(state, dataset, options.owner, options.now());
  try {
    const runId = await state.deleteCheckpoint(dataset);
    if (runId === undefined) return { runId, runFailed: false };
    const run = (await state.getRun(runId)).find((r) => r.dataset === dataset);
    const runFailed = run?.status === "running";
    if (runFailed)
      await state.finishRun(runId, dataset, {
        finishedAt: options.now(),
        status: "failed",
        counts: {},
        stats: { checkpointDropped: 1, ...options.stats },
      });
    await state.appendAudit([
      {
        ts: options.now(),
        runId,
        type: "checkpoint-dropped",
        dataset,
        key: null,
        data: { by: options.by, runFailed, ...options.data },
      },
    ]);
    return { runId, runFailed };
  } finally {
    if (!held) await state.releaseLease(lease, options.owner).catch(() => {});
  }
}
