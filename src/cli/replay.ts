/** `concord replay`: the owner's logged changes onto a replica that missed them; prints one line per batch. */
import {
  type ReplayBatch,
  ReplayError,
  type ReplayResult,
  replayDataset,
  replaySource,
  replaySummary,
} from "../engine/replay-dataset.js";
import { type HeldLease, holdPassLease, PassOwnedError, processOwner } from "../engine/run-liveness.js";
import type { StateStore } from "../state/state-store.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";
import { newRunId, openSession } from "./session.js";
import { stopSignals } from "./stop-signals.js";
import { wholeNumber } from "./whole-number.js";

export interface ReplayCommandOptions {
  readonly config: string;
  readonly dataset: string;
  readonly replica: string;
  readonly batch?: string | undefined;
  readonly json?: boolean | undefined;
}

/** What a replay batch did, on one line. */
function describeBatch(dataset: string, b: ReplayBatch): string {
  const t = b.result.totals;
  const repairs = Object.entries(t.repairs)
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(", ");
  return `${dataset}: replayed seqs ${b.from + 1}–${b.to} (${b.changes} change${b.changes === 1 ? "" : "s"}, ${b.keys} key${b.keys === 1 ? "" : "s"})${repairs ? `; repairs ${repairs}` : "; nothing to repair"} (run ${b.result.runId})`;
}

/**
 * Replays one dataset's owner change log onto `--replica` (engine/replay-dataset.ts). Ctrl-C stops after the
 * batch in flight (the cursor stays after the last batch done; exit 130). Exit 0 when the replica is caught
 * up, 2 on a usage, config or connection error.
 *
 * Like a replay in serve, it holds the dataset's pass lease while it runs (holdPassLease: renewed every
 * heartbeat and before each batch), so no pass or other replay of the dataset runs meanwhile: it refuses to
 * start while another process holds the lease, and stops between batches once another took it (one line
 * naming the holder, exit 2, the cursor after the last batch finished).
 */
export async function runReplay(options: ReplayCommandOptions, io: CliIo = processIo()): Promise<number> {
  const batch = options.batch === undefined ? undefined : wholeNumber(options.batch, "--batch");
  const session = await openSession(
    { config: options.config, dataset: [options.dataset] },
    { readonly: false },
    io,
  );
  const abort = stopSignals(io.stderr, "batch");
  abort.listen();
  try {
    const ds = session.datasets[0];
    if (!ds) throw new UsageError(`-d ${options.dataset}: no such dataset in ${session.config.path}`);
    // A replay that cannot start fails before any replica is opened.
    replaySource(ds, options.replica);
    const held = await holdPass(session.state, ds.name, options.replica);
    const began = Date.now();
    let result: ReplayResult;
    try {
      result = await replayDataset(
        ds,
        await session.replicas(ds),
        { state: session.state, now: Date.now },
        {
          replica: options.replica,
          batch,
          newRunId: () => newRunId(),
          signal: abort.signal,
          lease: held.lease,
          run: { actor: session.actor, policySource: session.configFile },
          observer: {
            onStart: ({ source, replica, cursor, last }) => {
              if (!options.json)
                io.stderr.write(
                  `concord: ${ds.name}: replaying ${source}'s change log onto ${replica} from seq ${cursor + 1} (log ends at ${last})\n`,
                );
            },
            onGap: ({ message }) => {
              io.stderr.write(`concord: ${message}\n`);
            },
            onBatch: (b) => {
              if (!options.json) io.stdout.write(`${describeBatch(ds.name, b)}\n`);
            },
          },
        },
      );
    } catch (err) {
      // Stopped by the lease's loss: the batches done are in the audit log, signed as after a finished replay.
      if (held.lease.signal.aborted) await session.anchorAudit();
      throw err;
    } finally {
      await held.release();
    }
    await session.anchorAudit();
    const ms = Date.now() - began;
    if (options.json) io.stdout.write(`${JSON.stringify(jsonDoc(replayDocument(ds.name, result, ms)))}\n`);
    else io.stdout.write(`${summary(ds.name, result, ms)}\n`);
    if (!result.finished) {
      io.stderr.write("concord: interrupted; the replay cursor stays after the last batch done\n");
      return abort.exitCode();
    }
    return result.totals.remaining > 0 ? EXIT.diverged : EXIT.ok;
  } finally {
    abort.dispose();
    await session.close();
  }
}

/** The dataset's pass lease for this process, or a one-line ReplayError naming the process that holds it. */
async function holdPass(state: StateStore, dataset: string, replica: string): Promise<HeldLease> {
  try {
    return await holdPassLease({ state, now: Date.now, dataset, owner: processOwner() });
  } catch (err) {
    if (!(err instanceof PassOwnedError)) throw err;
    throw new ReplayError(
      `${dataset}: the pass lease is held by ${err.owner ?? "another process"} (a pass or a replay of the dataset); not replaying onto ${replica} meanwhile: replay again once it is done`,
    );
  }
}

function summary(dataset: string, r: ReplayResult, ms: number): string {
  const repaired = Object.values(r.totals.repairs).reduce((a, n) => a + n, 0);
  const what = r.gap
    ? `full pass instead of replay (run ${r.gap.pass.runId})`
    : `${r.changes} change${r.changes === 1 ? "" : "s"} (${r.keys} key${r.keys === 1 ? "" : "s"}) in ${r.batches} batch${r.batches === 1 ? "" : "es"}`;
  return `${dataset}: ${r.replica} replayed from ${r.source}: ${what} in ${ms} ms; ${repaired} repair${repaired === 1 ? "" : "s"}; cursor ${r.from} → ${r.to}`;
}

/** The `--json` document: where the cursor went, what was replayed, and the summed totals. */
function replayDocument(dataset: string, r: ReplayResult, ms: number) {
  const { finished, gap, ...summary } = replaySummary(r);
  return { command: "replay", dataset, ...summary, durationMs: ms, finished, gap };
}
