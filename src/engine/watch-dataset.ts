/**
 * Targeted checks from change feeds: the keys a watched replica reports changed are batched and run through
 * `runDataset`'s key form (fetch, classify, decide, repair, verify, audit); a feed's position is stored only
 * after its keys were checked. Opens no store: feeds come in through `WatchedFeed.open`.
 */
import type { DatasetConfig } from "../config/load-config.js";
import {
  type ChangeBatch,
  type ChangeFeed,
  ChangeFeedError,
  type ChangeFeedOptions,
} from "../connectors/change-feed.js";
import { type AimdConfig, nextAimdLimit } from "../core/aimd.js";
import { type Key, keyId } from "../core/model.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import type { ChangeLogHead } from "../state/change-log-store.js";
import { markChangedKeys, recordWholePass } from "./dirty-segment-pass.js";
import type { OpenReplica } from "./run-context.js";
import {
  type DatasetRunResult,
  type RunDatasetOptions,
  type RunDeps,
  type RunObserver,
  runDataset,
} from "./run-dataset.js";
import type { SegmentDispatch } from "./segment-dispatch.js";
import {
  RECHECK_COMMAND,
  type RecheckObserver,
  unsettledCollector,
  WatchRechecks,
} from "./watch-rechecks.js";

/** A watched replica and how to open its (not yet started) feed; called again after every failure. */
export interface WatchedFeed {
  readonly replica: string;
  open(): Promise<ChangeFeed>;
}

/** What a check of one batch came to. */
export interface WatchCheck {
  readonly replica: string;
  /** How many distinct keys were checked (0 for a whole pass). */
  readonly keys: number;
  /** The keys checked (none for a whole pass). */
  readonly checked: readonly Key[];
  /** Keys the next batch may hold: the batch size, adapted to how long checks take (AIMD). */
  readonly batchLimit: number;
  /** Set when the batch was a gap: why the whole dataset was checked instead. */
  readonly gap?: string | undefined;
  /** With a gap: the store released changes the feed lagged behind on (a replication slot past maxLagBytes). */
  readonly released?: boolean | undefined;
  readonly result: DatasetRunResult;
  /** From taking the batch to the end of its check (waiting out the window included), ms. */
  readonly durationMs: number;
  /** Keys the watch's retry set holds after it (keys checks left unsettled, checked again when due). */
  readonly retrying: number;
}

/** Told what the watcher does; it awaits each call. */
export interface WatchObserver extends RecheckObserver {
  /** A feed started (again) at its stored position, or at the store's end when it had none. */
  onStarted?(info: { replica: string; from: string | undefined }): void | Promise<void>;
  /** A feed reported a gap; the whole pass that covers it starts now. */
  onGap?(info: { replica: string; gap: string; released: boolean }): void | Promise<void>;
  /** A batch of keys (or a whole pass after a gap) was checked and the feed's position stored. */
  onChecked?(check: WatchCheck): void | Promise<void>;
  /** A feed failed or a check threw: the feed is closed and started again at its stored position. */
  onError?(info: { replica: string; error: Error; retryInMs: number }): void | Promise<void>;
}

/** Options of a watch. */
export interface WatchDatasetOptions {
  /** Stops every feed after the check in flight; `watchDataset` then resolves. */
  readonly signal: AbortSignal;
  /** A new run id for each check. */
  readonly newRunId: () => string;
  /** "repair" (default: the dataset's mode) or "scan". */
  readonly mode?: "repair" | "scan";
  /** Passed to every run (guard, detect, heartbeat…). */
  readonly run?: Pick<RunDatasetOptions, "guard" | "detect" | "heartbeatMs" | "staleRunMs">;
  readonly observer?: WatchObserver;
  /** Observes every run the watch makes (serve marks divergent keys with it). */
  readonly runObserver?: RunObserver;
  /** First delay after a failure (doubling to 60 s); default 1 s. */
  readonly retryMs?: number;
  /**
   * A coordinator's queue: each batch of keys is checked by a worker as a key job (a gap's whole pass still
   * runs here). The position is stored only once the job's keys are checked, as without a queue.
   */
  readonly dispatch?: SegmentDispatch | undefined;
  /** The first delay before a key a check left unsettled is checked again (default 1 s; doubling). */
  readonly recheckMs?: number | undefined;
}

/**
 * Reads every feed of `feeds` until `signal` aborts, checking what each reports: a batch of keys through
 * the key form of `runDataset`, a gap (changes possibly missed) through a whole pass. A batch is gathered
 * for `watch.batchMs` after its first change, and checked once the dataset's reconciliation window has
 * passed since it was taken, so its changes are old enough to be judged. Only then is the feed's position
 * stored and acknowledged: a restart, a failure or a kill loses no change (some may be checked twice).
 *
 * The batch size starts at `watch.maxKeys` and adapts to how long checks take: halved after a check slower
 * than `watch.checkTargetMs` or a failure, raised by a twentieth of `maxKeys` after a fast one (AIMD).
 *
 * A feed that fails to open or start the first time for a reason retrying cannot cure (a setting, a grant, a
 * missing table: a ChangeFeedError not `retryable`) rejects the watch, and every feed is stopped. Later failures close the feed and start it again at its
 * stored position with back-off.
 */
export async function watchDataset(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  feeds: readonly WatchedFeed[],
  deps: RunDeps,
  options: WatchDatasetOptions,
): Promise<void> {
  if (!ds.watch) throw new Error(`${ds.name}: no watch: configuration`);
  // A feed that cannot start the first time (a server setting, a grant, a missing table) stops them all.
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  // Keys the checks leave unsettled are checked again when due (repair mode; `watch.retryKeys` of them).
  const rechecks =
    (options.mode ?? ds.mode) === "repair" && ds.watch.retryKeys > 0
      ? new WatchRechecks(ds, replicas, deps, {
          newRunId: options.newRunId,
          run: options.run,
          runObserver: options.runObserver,
          dispatch: options.dispatch,
          observer: options.observer,
          firstMs: options.recheckMs,
        })
      : undefined;
  // After a restart: the claims dead runs left pending are checked again (the rest is in the dirty marks).
  await rechecks?.seed().catch(() => {});
  const rechecking = rechecks?.run(signal);
  const outcomes = await Promise.allSettled(
    feeds.map((f) =>
      watchFeed(ds, replicas, f, deps, { ...options, signal }, rechecks).catch((err: unknown) => {
        stop.abort();
        throw err;
      }),
    ),
  );
  stop.abort();
  await rechecking;
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
}

async function watchFeed(
  ds: DatasetConfig,
  replicas: readonly OpenReplica[],
  watched: WatchedFeed,
  deps: RunDeps,
  options: WatchDatasetOptions,
  rechecks: WatchRechecks | undefined,
): Promise<void> {
  const { signal, observer = {} } = options;
  const watch = ds.watch!;
  const firstRetryMs = options.retryMs ?? 1000;
  let retryMs = firstRetryMs;
  let started = false;
  // Batch size backs off when checks are slow or fail, and grows back slowly (AIMD): under load the stores
  // get smaller batches instead of retries in cascade.
  const aimd: AimdConfig = {
    min: Math.max(1, Math.floor(watch.maxKeys / 100)),
    max: watch.maxKeys,
    step: Math.max(1, Math.ceil(watch.maxKeys / 20)),
    targetMs: watch.checkTargetMs,
  };
  let limit = watch.maxKeys;
  let idle: string | undefined;
  let storedAt = 0;
  let checks = 0;
  /** Keys (JSON) a clean check of the owner's log covered, with the log's last seq at that check. */
  const cleanAt = new Map<string, number>();
  // Under resolve: replay, the owner's feed fills the change log `concord replay` reads.
  const logsChanges = ds.policy.resolve === "replay" && ds.policy.owner === watched.replica;
  // What every batch's run would otherwise ask the stores again: the replicas' description (catalog queries,
  // a Redis sample) and their tables' rows (a MySQL COUNT(*), Redis RANDOMKEY samples). Taken from a run,
  // reused by the batches of the next `watch.describeEveryMs`, forgotten after a failure or a gap.
  let basis: { described: ResolvedShape; rows: Record<string, number>; at: number } | undefined;
  // Rows counted a while ago are reused only where the batch could not trip limits.maxDivergentFraction even
  // had the table lost half its rows since (the guard weighs divergence against the largest replica's rows),
  // so the guard decides as it would on a fresh count; a small table is counted at every check.
  const fraction = ds.policy.limits?.maxDivergentFraction;
  const rowsFor = (keys: number) =>
    basis && (fraction === undefined || Math.max(0, ...Object.values(basis.rows)) >= (2 * keys) / fraction)
      ? basis.rows
      : undefined;
  while (!signal.aborted) {
    let feed: ChangeFeed | undefined;
    try {
      feed = await watched.open();
      const stored = await deps.state.getFeedPosition(ds.name, watched.replica);
      await feed.start(stored?.position);
      started = true;
      if (!stored) {
        // Changes before a feed's first start were never seen: dirty marks cannot vouch for them.
        await deps.state.invalidateSegmentSummary(
          ds.name,
          `the feed of ${watched.replica} started without a stored position`,
          deps.now(),
        );
        // Those after it are the feed's: where it began is stored before any is taken, so a process that
        // dies before its first check resumes there instead of at a later "now" (losing what came between).
        const began = feed.startedAt();
        if (began !== undefined) await store(feed, began);
      }
      await observer.onStarted?.({ replica: watched.replica, from: stored?.position });
      // The delay starts over only once the feed has done its work again (a batch checked, or a minute read
      // without failing): a check that fails at every start (a replica's table gone, a key no store can
      // name) is retried at a doubling delay, not once a second for ever.
      const startedAt = deps.now();
      while (!signal.aborted) {
        if (deps.now() - startedAt >= HEALTHY_MS) retryMs = firstRetryMs;
        const first = await feed.take({ maxKeys: limit, waitMs: 1000, signal });
        if (!first.keys.length && !first.gap) {
          // Only the position moved (other tables' transactions, heartbeats): stored at most once a second,
          // so a busy server does not turn into a stream of state writes.
          if (first.position !== undefined) idle = first.position;
          if (idle !== undefined && deps.now() - storedAt >= IDLE_STORE_MS) {
            await store(feed, idle);
            idle = undefined;
          }
          continue;
        }
        idle = undefined;
        const taken = deps.now();
        const batch = first.gap || first.keys.length >= limit ? first : await gather(feed, first);
        await check(feed, batch, taken, deps.now());
        retryMs = firstRetryMs;
      }
    } catch (err) {
      if (signal.aborted) break;
      if (!started && !(err instanceof ChangeFeedError && err.retryable)) throw err;
      idle = undefined;
      basis = undefined;
      limit = nextAimdLimit(limit, { ok: false, durationMs: 0 }, aimd);
      const error = err instanceof Error ? err : new Error(String(err));
      await observer.onError?.({ replica: watched.replica, error, retryInMs: retryMs });
      await sleep(retryMs, signal);
      retryMs = Math.min(retryMs * 2, 60_000);
    } finally {
      await feed?.close().catch(() => {});
    }
  }

  /**
   * After a clean repair-mode check of the owner's log through `to`: `keys` were just found equal on every
   * replica, so every logged change of theirs at or before `to` is applied everywhere (a replayed key takes
   * the owner's current value too). A replica's cursor moves over every entry after it whose key a clean
   * check covered — this batch, or an earlier one remembered in `cleanAt` — and stops at the first that no
   * check covered since it was logged (a change missed while it was unreachable: `replay` catches that up).
   * So a batch checked again after a failed check (the feed restarts at its stored position and logs the
   * changes again) moves a cursor the failure left behind. A whole pass after a gap (`keys` undefined) covers
   * every key. Compare and set: a replay moving the cursor meanwhile wins, and this moves it next time.
   */
  async function advanceCursors(keys: readonly Key[] | undefined, from: number, to: number): Promise<void> {
    if (keys) {
      if (cleanAt.size + keys.length > CLEAN_KEYS_KEPT * watch.maxKeys) cleanAt.clear();
      for (const k of keys) cleanAt.set(JSON.stringify(k), to);
    }
    let behind = false;
    for (const r of replicas) {
      if (r.name === watched.replica) continue;
      const at = await deps.state.getReplayCursor(ds.name, r.name);
      if (at >= to) continue;
      let next = at;
      if (!keys || at === from) next = to;
      else
        read: for (let page = 0; page < CURSOR_PAGES && next < to; page++) {
          const entries = await deps.state.readChanges(ds.name, watched.replica, next, CURSOR_PAGE);
          if (!entries.length) break;
          for (const e of entries) {
            if (e.seq > to || (cleanAt.get(JSON.stringify(e.key)) ?? 0) < e.seq) break read;
            next = e.seq;
          }
        }
      if (next > at) await deps.state.moveReplayCursor(ds.name, r.name, at, next, deps.now());
      if (next < to) behind = true;
    }
    // Every replica is at the log's end: nothing earlier needs remembering.
    if (!behind) cleanAt.clear();
  }

  /** Stores the feed's position, then tells the store it may release what precedes it. */
  async function store(feed: ChangeFeed, position: string): Promise<void> {
    await deps.state.putFeedPosition({
      dataset: ds.name,
      replica: watched.replica,
      position,
      updatedAt: deps.now(),
    });
    storedAt = deps.now();
    await feed.acknowledge(position);
  }

  /** The first batch and whatever else arrives within `batchMs` (a burst is checked once). */
  async function gather(feed: ChangeFeed, first: ChangeBatch): Promise<ChangeBatch> {
    if (!first.keys.length || watch.batchMs <= 0) return first;
    await sleep(watch.batchMs, signal);
    const more = await feed.take({ maxKeys: Math.max(1, limit - first.keys.length), waitMs: 0 });
    if (more.gap) return more;
    const keys = new Map<string, Key>();
    for (const k of [...first.keys, ...more.keys]) keys.set(JSON.stringify(k), k);
    return {
      keys: [...keys.values()],
      position: more.position ?? first.position,
      ...mergedImages(first, more),
    };
  }

  /** `taken`: when its first changes were taken; `gathered`: when its last were (the window counts from it). */
  async function check(feed: ChangeFeed, batch: ChangeBatch, taken: number, gathered: number): Promise<void> {
    const mode = options.mode ?? ds.mode;
    let result: DatasetRunResult | undefined;
    if (batch.gap || batch.keys.length) {
      // Changes younger than the window are judged in flight: wait until the batch's are not.
      const windowMs = ds.policy.windowMs ?? 0;
      if (windowMs > 0) await sleep(Math.max(0, gathered + windowMs - deps.now()), signal);
      // The next scheduled pass must be whole after a gap; otherwise it re-reads the changed keys' segments.
      if (batch.gap)
        await observer.onGap?.({
          replica: watched.replica,
          gap: batch.gap,
          released: batch.released === true,
        });
      if (batch.gap)
        await deps.state.invalidateSegmentSummary(
          ds.name,
          `the feed of ${watched.replica} had a gap: ${batch.gap}`,
          deps.now(),
        );
      else await markChangedKeys(deps.state, ds.name, batch.keys, deps.now(), watch.dirtyKeys);
      // The owner's changes are logged before they are checked and before the position is stored, so a
      // crash loses none; a gap leaves the log unable to vouch for what came before it.
      let logged: ChangeLogHead | undefined;
      if (logsChanges) {
        if (batch.gap) await deps.state.markChangeLogGap(ds.name, watched.replica, batch.gap);
        else logged = await deps.state.appendChanges(ds.name, watched.replica, batch.keys, deps.now());
      }
      const began = deps.now();
      if (batch.gap || (basis && began - basis.at >= watch.describeEveryMs)) basis = undefined;
      const keyRows = rowsFor(batch.keys.length);
      // The batch's keys held for a re-check are checked now; what this check leaves unsettled is held again.
      const previous = rechecks && !batch.gap ? rechecks.takeOut(batch.keys) : new Map();
      const collected = unsettledCollector(options.runObserver);
      // A key job reads the watched store in a worker: the batch's commits must be visible before it is sent.
      if (options.dispatch && !logged) await batch.beforeRead?.();
      result = await runDataset(ds, replicas, deps, {
        ...options.run,
        runId: options.newRunId(),
        command: batch.gap ? "watch pass" : "watch",
        mode,
        // Under resolve: replay the owner's batch is logged, and checked here: a key job decides without it.
        ...(batch.gap
          ? {}
          : {
              keys: batch.keys,
              ...(logged ? { logged: true } : {}),
              ...(basis ? { described: basis.described } : {}),
              ...(keyRows ? { keyRows } : {}),
              ...(options.dispatch && !logged
                ? { dispatch: options.dispatch, signal }
                : batch.images || batch.beforeRead
                  ? {
                      images: {
                        replica: watched.replica,
                        images: batch.images ?? new Map(),
                        beforeRead: batch.beforeRead,
                      },
                    }
                  : {}),
            }),
        observer: collected.observer,
      });
      // A run stopped by the signal checked only part: its position is not stored.
      if (!result.finished) return;
      if (rechecks && mode === "repair")
        await rechecks.afterCheck(result, batch.keys, collected.unsettled, previous, logged !== undefined);
      if (!batch.gap && !basis) {
        const rows: Record<string, number> = {};
        for (const [name, r] of Object.entries(result.totals.replicas)) rows[name] = r.rows;
        basis = { described: result.resolved, rows, at: began };
      }
      if (logsChanges && mode === "repair" && result.totals.remaining === 0) {
        if (logged) await advanceCursors(batch.keys, logged.last - batch.keys.length, logged.last);
        // The whole pass after a gap found every replica equal to the owner, after the gap was logged.
        else if (batch.gap) {
          const head = await deps.state.changeLogHead(ds.name, watched.replica);
          await advanceCursors(undefined, head.last, head.last);
        }
      }
      if (batch.gap) await recordWholePass(deps.state, ds.name, result);
      // Each check is a run: quiet ones past the newest keepRuns go, so runs grow with divergence, not writes.
      if (++checks % PRUNE_EVERY === 0) {
        await deps.state.pruneQuietRuns(ds.name, WATCH_COMMANDS, watch.keepRuns);
        if (logsChanges) await deps.state.pruneChanges(ds.name, watched.replica, watch.logKeys);
      }
      if (!batch.gap) limit = nextAimdLimit(limit, { ok: true, durationMs: deps.now() - began }, aimd);
    }
    if (batch.position !== undefined) await store(feed, batch.position);
    if (result)
      await observer.onChecked?.({
        replica: watched.replica,
        keys: batch.keys.length,
        checked: batch.keys,
        batchLimit: limit,
        gap: batch.gap,
        ...(batch.released ? { released: true } : {}),
        result,
        durationMs: deps.now() - taken,
        retrying: rechecks?.set.size ?? 0,
      });
  }
}

/**
 * The images and read wait of two batches taken one after the other, as one: a key's image is the later
 * batch's when it changed there (none when that change came without one), and reading waits for both.
 */
function mergedImages(first: ChangeBatch, more: ChangeBatch): Pick<ChangeBatch, "images" | "beforeRead"> {
  const images = new Map(first.images ?? []);
  for (const k of more.keys) {
    const id = keyId(k);
    const image = more.images?.get(id);
    if (image === undefined) images.delete(id);
    else images.set(id, image);
  }
  const waits = [first.beforeRead, more.beforeRead].filter((w) => w !== undefined);
  return {
    ...(images.size ? { images } : {}),
    ...(waits.length ? { beforeRead: async () => void (await Promise.all(waits.map((w) => w()))) } : {}),
  };
}

/** The options of a dataset's feed on one of its replicas (`concord watch` and serve alike). */
export function feedOptions(ds: DatasetConfig, replica: string): ChangeFeedOptions {
  return {
    dataset: ds.name,
    replica,
    keyColumns: ds.key,
    bufferKeys: ds.watch?.bufferKeys ?? 100_000,
    maxLagBytes: ds.watch?.maxLagBytes ?? 2 ** 30,
    label: `${ds.name}.${replica}`,
  };
}

/** The commands of the runs a watch makes (a batch of keys; a whole pass after a gap; a re-check). */
export const WATCH_COMMANDS = ["watch", "watch pass", RECHECK_COMMAND] as const;

/** Quiet watch runs are pruned after every this many checks of a feed. */
const PRUNE_EVERY = 20;

/** A clean check's keys are remembered for cursors behind it up to this many times `watch.maxKeys`. */
const CLEAN_KEYS_KEPT = 4;

/** Log entries read at a time, and pages at most per check, when a cursor behind a batch is moved. */
const CURSOR_PAGE = 500;
const CURSOR_PAGES = 8;

/** How often a position that moved without changes of ours is stored. */
const IDLE_STORE_MS = 1000;

/** A feed read this long after its start without failing is well again: its next failure waits the first delay. */
const HEALTHY_MS = 60_000;

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
