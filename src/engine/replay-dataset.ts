/**
 * Change-log replay as a repair: the owner's logged changes a replica missed, from the replica's cursor, in
 * commit order and in batches, each batch through `runDataset`'s key form. Opens no store.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { Key } from "../core/model.js";
import type { OpenReplica } from "./run-context.js";
import { type DatasetRunResult, type RunDatasetOptions, type RunDeps, runDataset } from "./run-dataset.js";
import { type KeptLease, LeaseLostError } from "./run-liveness.js";
import { addTotals, emptyTotals, type RunTotals } from "./run-totals.js";

/** A replay that cannot start: the dataset or replica does not fit (one line, naming what and where). */
export class ReplayError extends Error {
  override readonly name = "ReplayError";
}

/** One batch of logged changes replayed. */
export interface ReplayBatch {
  /** The seqs replayed: `(from, to]` of the owner's log. */
  readonly from: number;
  readonly to: number;
  /** Logged changes in the batch, and the distinct keys they name (a key changed twice is checked once). */
  readonly changes: number;
  readonly keys: number;
  readonly result: DatasetRunResult;
}

/** Told what a replay does; it awaits each call. */
export interface ReplayObserver {
  /** The replay begins: where the replica's cursor stands and where the owner's log ends. */
  onStart?(info: { source: string; replica: string; cursor: number; last: number }): void | Promise<void>;
  /** The log no longer holds changes after the cursor (pruned, or a gap in the feed): a full pass runs instead. */
  onGap?(info: { message: string }): void | Promise<void>;
  /** A batch was replayed and the cursor moved past it. */
  onBatch?(batch: ReplayBatch): void | Promise<void>;
}

/** Options of a replay. */
export interface ReplayDatasetOptions {
  /** The replica that missed the owner's changes: its cursor is read and moved. */
  readonly replica: string;
  /** Logged changes per batch (default: the dataset's `watch.maxKeys`). */
  readonly batch?: number | undefined;
  readonly newRunId: () => string;
  /** Stops after the batch in flight; the cursor stays after the last batch done, so a rerun resumes there. */
  readonly signal?: AbortSignal | undefined;
  readonly observer?: ReplayObserver | undefined;
  /**
   * The dataset's pass lease the replay holds (`keepLease`): renewed before each batch, so no batch starts
   * on a lease another process took; its loss also stops the batch in flight (as `signal` does). The replay
   * then throws a ReplayError naming the holder, its cursor after the last batch it finished.
   */
  readonly lease?: Pick<KeptLease, "signal" | "renew"> | undefined;
  /** Passed to every run (guard, detect, heartbeat, who runs it). */
  readonly run?: Pick<
    RunDatasetOptions,
    "guard" | "detect" | "heartbeatMs" | "staleRunMs" | "actor" | "policySource" | "observer"
  >;
}

/** What a replay came to. */
export interface ReplayResult {
  readonly source: string;
  readonly replica: string;
  /** The cursor when the replay began and where it stands now. */
  readonly from: number;
  readonly to: number;
  /** The log's last seq when the replay began. */
  readonly last: number;
  readonly batches: number;
  readonly changes: number;
  readonly keys: number;
  /** Summed over the batches (and the full pass, after a gap). */
  readonly totals: RunTotals;
  /** Set when the log could not cover the cursor: why, and the full pass that ran instead. */
  readonly gap?: { readonly message: string; readonly pass: DatasetRunResult } | undefined;
  /** False when the signal stopped it before the log's end. */
  readonly finished: boolean;
}

/** The command recorded with each replay batch's run, and with the full pass after a gap. */
export const REPLAY_COMMANDS = ["replay", "replay pass"] as const;

/**
 * Replays the owner's change log onto `options.replica`: reads the changes after the replica's cursor in
 * batches (commit order), runs each batch's distinct keys through `runDataset`'s key form in repair mode with
 * `logged` set (so `resolve: replay` copies the owner's current value: the same ledger, claims, conditional
 * writes, verification and audit as any repair, and idempotent repair ids), and moves the cursor past the
 * batch only once its run finished with nothing left divergent (compare and set: a concurrent replay moving
 * it first stops this one; the watcher moving it past the batch — its checks found those keys equal — lets
 * this one go on from there). A kill mid-batch leaves the cursor before that batch: the rerun
 * settles what the killed run left pending and does that batch again (its repairs then find the keys equal),
 * never the batches before it.
 *
 * Feeds log keys, not values: a key's replay writes the owner's value at the time of the batch, so a key
 * changed several times ends at the owner's last value. When the log was pruned or had a gap after the
 * cursor, the changes in between are unknown: a full repair pass (under the same `logged` rule) runs
 * instead, and the cursor moves to the log's last seq as read before it.
 */
export async function replayDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  deps: RunDeps,
  options: ReplayDatasetOptions,
): Promise<ReplayResult> {
  const { state, now } = deps;
  const source = replaySource(ds, options.replica);
  const limit = options.batch ?? ds.watch?.maxKeys ?? 1000;
  if (!Number.isInteger(limit) || limit < 1) throw new ReplayError("--batch must be a positive integer");
  const observer = options.observer ?? {};
  const start = await state.getReplayCursor(ds.name, options.replica);
  const head = await state.changeLogHead(ds.name, source);
  await observer.onStart?.({ source, replica: options.replica, cursor: start, last: head.last });
  const totals = emptyTotals();
  const { lease } = options;
  const signal = lease
    ? options.signal
      ? AbortSignal.any([options.signal, lease.signal])
      : lease.signal
    : options.signal;
  /** Before each batch: the lease is renewed, or the replay stops here with a one-line error. */
  const hold = async (cursor: number) => {
    if (!lease || (await lease.renew())) return;
    throw lostLease(cursor);
  };
  const lostLease = (cursor: number) => {
    const reason = lease?.signal.reason as unknown;
    const holder =
      reason instanceof LeaseLostError ? (reason.holder ?? "another process") : "another process";
    return new ReplayError(
      `${ds.name}: the pass lease was taken by ${holder} while replaying onto ${options.replica}; stopped with its replay cursor at ${cursor} (the log ends at ${head.last}); replay again`,
    );
  };
  const run = (command: string, keys?: readonly Key[]) =>
    runDataset(ds, replicas, deps, {
      ...options.run,
      runId: options.newRunId(),
      command,
      mode: "repair",
      logged: true,
      ...(keys ? { keys } : {}),
      ...(signal ? { signal } : {}),
    });
  const base = { source, replica: options.replica, from: start, last: head.last };

  if (start < head.lostThrough) {
    const why =
      head.lostReason === "pruned"
        ? "was pruned past retention (watch.logKeys)"
        : `had a gap (${head.lostReason})`;
    const message = `${ds.name}: the change log of ${source} ${why} through seq ${head.lostThrough}, past ${options.replica}'s replay cursor ${start}: the changes in between are unknown, so a full repair pass runs instead`;
    await observer.onGap?.({ message });
    await hold(start);
    const pass = await run(REPLAY_COMMANDS[1]);
    if (lease?.signal.aborted) throw lostLease(start);
    addTotals(totals, pass.totals);
    const clean = pass.finished && pass.totals.remaining === 0;
    const to = clean ? await moveCursor(start, head.last) : start;
    return {
      ...base,
      to,
      batches: 0,
      changes: 0,
      keys: 0,
      totals,
      gap: { message, pass },
      finished: pass.finished,
    };
  }

  let cursor = start;
  let batches = 0;
  let changes = 0;
  let keyCount = 0;
  while (!options.signal?.aborted) {
    const entries = await state.readChanges(ds.name, source, cursor, limit);
    if (!entries.length) break;
    const keys = new Map<string, Key>();
    for (const e of entries) keys.set(JSON.stringify(e.key), e.key);
    const to = entries[entries.length - 1]!.seq;
    await hold(cursor);
    const result = await run(REPLAY_COMMANDS[0], [...keys.values()]);
    addTotals(totals, result.totals);
    // Lost in the batch: it stopped after the write in flight, and the cursor stays before it.
    if (lease?.signal.aborted) throw lostLease(cursor);
    if (!result.finished) break;
    if (result.totals.remaining > 0)
      throw new ReplayError(
        `${ds.name}: replaying seqs ${cursor + 1}–${to} of ${source}'s change log left ${result.totals.remaining} divergence${result.totals.remaining === 1 ? "" : "s"} (run ${result.runId}); ${options.replica}'s replay cursor stays at ${cursor}`,
      );
    const moved = await moveCursor(cursor, to);
    const batch: ReplayBatch = { from: cursor, to, changes: entries.length, keys: keys.size, result };
    cursor = moved;
    batches++;
    changes += entries.length;
    keyCount += keys.size;
    await observer.onBatch?.(batch);
  }
  return {
    ...base,
    to: cursor,
    batches,
    changes,
    keys: keyCount,
    totals,
    finished: !options.signal?.aborted,
  };

  /** Moves the cursor `from` → `to`; one the watcher moved past `to` meanwhile is left there (and returned). */
  async function moveCursor(from: number, to: number): Promise<number> {
    if (await state.moveReplayCursor(ds.name, options.replica, from, to, now())) return to;
    const moved = await state.getReplayCursor(ds.name, options.replica);
    if (moved >= to) return moved;
    throw new ReplayError(
      `${ds.name}: ${options.replica}'s replay cursor moved from ${from} while this replay ran (another replay?); run it again`,
    );
  }
}

/** A replay's outcome as JSON documents show it (`concord replay --json`, the HTTP API). */
export function replaySummary(r: ReplayResult) {
  return {
    source: r.source,
    replica: r.replica,
    cursor: { from: r.from, to: r.to },
    logLast: r.last,
    batches: r.batches,
    changes: r.changes,
    keys: r.keys,
    finished: r.finished,
    gap: r.gap ? { message: r.gap.message, runId: r.gap.pass.runId } : null,
    counts: r.totals.counts,
    repairs: r.totals.repairs,
    escalated: r.totals.escalated,
    remaining: r.totals.remaining,
    rowsRead: r.totals.stats.rowsRead,
  };
}

/**
 * The replica whose change log a replay of `replica` reads: the dataset's owner, which `resolve: replay`
 * requires (config checks it); a replay onto the owner itself is refused.
 */
export function replaySource(ds: DatasetConfig, replica: string): string {
  const owner = ds.policy.owner;
  if (ds.policy.resolve !== "replay" || typeof owner !== "string")
    throw new ReplayError(
      `${ds.name}: policy.resolve is not replay (replay copies the changes policy.owner's feed logged)`,
    );
  if (!ds.replicas.some((r) => r.name === replica))
    throw new ReplayError(`--replica ${replica}: not a replica of ${ds.name}`);
  if (replica === owner)
    throw new ReplayError(
      `--replica ${replica}: ${replica} is ${ds.name}'s owner, whose changes are replayed`,
    );
  return owner;
}
