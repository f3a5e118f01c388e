/**
 * A watch's re-checks: keys its checks left unsettled are held in a bounded RetrySet and checked again,
 * with back-off, through `runDataset`'s key form (on workers when the watch has a queue). Opens no store.
 */
import type { DatasetConfig } from "../config/load-config.js";
import { type Key, keyId } from "../core/model.js";
import { markChangedKeys } from "./dirty-segment-pass.js";
import { STALE_RUN_MS } from "./recover-pending.js";
import { type RetryEntry, type RetryReason, RetrySet, recoveredKeys, unsettledKeys } from "./retry-set.js";
import type { OpenReplica } from "./run-context.js";
import {
  type DatasetRunResult,
  type RunDatasetOptions,
  type RunDeps,
  type RunObserver,
  runDataset,
} from "./run-dataset.js";
import type { SegmentDispatch } from "./segment-dispatch.js";

/** What a re-check of keys the retry set held came to. */
export interface WatchRecheck {
  /** The keys checked again. */
  readonly checked: readonly Key[];
  /** Of those, the ones it settled (converged, repaired, or left to a person). */
  readonly settled: readonly Key[];
  /** Keys the retry set holds after it. */
  readonly retrying: number;
  /** The run (undefined when it threw: then `error`, and every key is held again). */
  readonly result?: DatasetRunResult | undefined;
  readonly error?: Error | undefined;
  readonly durationMs: number;
}

/** Unsettled keys the retry set did not take: left to the next pass, their segments marked dirty. */
export interface RetryOverflow {
  /** Keys refused because the set held `watch.retryKeys` already. */
  readonly full: number;
  /** Keys given up after `attempts` checks that left them unsettled. */
  readonly exhausted: number;
  /** The set's bound and attempts. */
  readonly bound: number;
  readonly attempts: number;
}

/** Told what re-checks do; each call is awaited. */
export interface RecheckObserver {
  onRechecked?(info: WatchRecheck): void | Promise<void>;
  onRetryOverflow?(info: RetryOverflow): void | Promise<void>;
}

/** What the re-checks of a watch need. */
export interface WatchRechecksOptions {
  readonly newRunId: () => string;
  readonly run?: Pick<RunDatasetOptions, "guard" | "detect" | "heartbeatMs" | "staleRunMs">;
  readonly runObserver?: RunObserver | undefined;
  readonly dispatch?: SegmentDispatch | undefined;
  readonly observer?: RecheckObserver | undefined;
  /** The first delay before a key is checked again (default 1 s), doubling. */
  readonly firstMs?: number | undefined;
}

/** Attempts after which a key is left to the next pass. */
const MAX_ATTEMPTS = 10;
/** How long the loop sleeps with nothing held (a key added wakes it sooner). */
const IDLE_MS = 60_000;

/** A run observer that collects what each group leaves unsettled, after telling `inner`. */
export function unsettledCollector(inner: RunObserver | undefined): {
  observer: RunObserver;
  unsettled: Map<string, RetryReason>;
} {
  const unsettled = new Map<string, RetryReason>();
  const observer: RunObserver = {
    ...inner,
    onSegmentDone: async (report, work) => {
      await inner?.onSegmentDone?.(report, work);
      // A key job on a worker reports its unsettled keys; a group run here is read from its work.
      for (const [id, reason] of work ? unsettledKeys(work) : (report.retry ?? []))
        if (!unsettled.has(id)) unsettled.set(id, reason);
    },
  };
  return { observer, unsettled };
}

/**
 * Keys a watch's checks left unsettled (RetrySet), and the loop that checks them again when due, in repair
 * mode only. A key the set cannot hold (over `watch.retryKeys`, or past its attempts) is left to the next
 * scheduled pass: its segment is marked dirty (a batch's keys are marked before their check already) and the
 * observer is told. Nothing is stored: after a restart, the claims dead runs left pending are held again
 * (`seed`), and everything else is in the dirty marks the next pass reads.
 */
export class WatchRechecks {
  readonly set: RetrySet;
  private wake: (() => void) | undefined;

  constructor(
    private readonly ds: DatasetConfig,
    private readonly replicas: readonly OpenReplica[],
    private readonly deps: RunDeps,
    private readonly options: WatchRechecksOptions,
  ) {
    this.set = new RetrySet({
      maxKeys: ds.watch?.retryKeys ?? 0,
      firstMs: options.firstMs ?? 1000,
      staleRunMs: options.run?.staleRunMs ?? STALE_RUN_MS,
      windowMs: ds.policy.windowMs ?? 0,
      maxAttempts: MAX_ATTEMPTS,
    });
  }

  /** Under `resolve: replay`, keys held from outside a logged check (claims, recoveries) are logged changes. */
  private get replayed(): boolean {
    return this.ds.policy.resolve === "replay";
  }

  /** Holds the keys of the repairs left pending (by runs that died, or still at work): checked once due. */
  async seed(): Promise<void> {
    const pending = await this.deps.state.listRepairs({ dataset: this.ds.name, outcome: "pending" });
    const keys = new Map(pending.map((e) => [keyId(e.key), "held" as RetryReason]));
    await this.hold(keys, new Map(), this.replayed);
  }

  /** Takes the keys a check is about to check out of the set; returns the entries it held for them. */
  takeOut(keys: readonly Key[]): Map<string, RetryEntry> {
    const taken = new Map<string, RetryEntry>();
    if (this.set.size === 0) return taken;
    for (const k of keys) {
      const e = this.set.take(k);
      if (e) taken.set(keyId(k), e);
    }
    return taken;
  }

  /**
   * After a check of `checked` in repair mode: holds the keys it left unsettled (`unsettled`, and the keys
   * outside `checked` of dead runs' repairs it recovered that had not landed), counting on from `previous`
   * for keys held before it.
   */
  async afterCheck(
    result: DatasetRunResult,
    checked: readonly Key[],
    unsettled: ReadonlyMap<string, RetryReason>,
    previous: ReadonlyMap<string, RetryEntry>,
    logged: boolean,
  ): Promise<void> {
    const keys = new Map(unsettled);
    // A recovered key the check read after recovering it is settled by the check; the others lie outside
    // the check's keys, whose segments it marked already: marked here.
    const read = new Set(checked.map((k) => keyId(k)));
    const recovered = recoveredKeys(result.recovered).filter((id) => !keys.has(id) && !read.has(id));
    if (recovered.length)
      await markChangedKeys(
        this.deps.state,
        this.ds.name,
        recovered.map((id) => JSON.parse(id) as Key),
        this.deps.now(),
        this.ds.watch?.dirtyKeys,
      );
    for (const id of recovered) keys.set(id, "recovered");
    await this.hold(keys, previous, logged || (recovered.length > 0 && this.replayed));
  }

  private async hold(
    keys: ReadonlyMap<string, RetryReason>,
    previous: ReadonlyMap<string, RetryEntry>,
    logged: boolean,
  ): Promise<void> {
    if (keys.size === 0) return;
    const now = this.deps.now();
    const left: Key[] = [];
    let full = 0;
    let exhausted = 0;
    for (const [id, reason] of keys) {
      const key = JSON.parse(id) as Key;
      const added = this.set.add(key, reason, now, logged, previous.get(id));
      if (added === "added") continue;
      left.push(key);
      if (added === "full") full++;
      else exhausted++;
    }
    if (left.length) {
      await markChangedKeys(this.deps.state, this.ds.name, left, now, this.ds.watch?.dirtyKeys);
      await this.options.observer?.onRetryOverflow?.({
        full,
        exhausted,
        bound: this.ds.watch?.retryKeys ?? 0,
        attempts: MAX_ATTEMPTS,
      });
    }
    this.wake?.();
  }

  /** Checks again the keys that come due, until `signal` aborts (the check in flight finishes first). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const next = this.set.nextDueAt();
      const wait = next === undefined ? IDLE_MS : next - this.deps.now();
      if (wait > 0) {
        await this.nap(wait, signal);
        continue;
      }
      const due = this.set.due(this.deps.now(), this.ds.watch?.maxKeys ?? 1000);
      try {
        for (const logged of [false, true]) {
          const group = due.filter((e) => e.logged === logged);
          if (group.length && !signal.aborted) await this.recheck(group, logged, signal);
        }
      } catch {
        // The state store failed while the keys were held again (or an observer threw): their segments
        // were marked dirty when they were first checked, so the next pass covers them if this loses them.
        await this.nap(this.options.firstMs ?? 1000, signal);
      }
    }
  }

  private async recheck(group: readonly RetryEntry[], logged: boolean, signal: AbortSignal): Promise<void> {
    const { ds, deps, options } = this;
    const began = deps.now();
    const keys = group.map((e) => e.key);
    const previous = new Map(group.map((e) => [keyId(e.key), e]));
    const { observer, unsettled } = unsettledCollector(options.runObserver);
    let result: DatasetRunResult | undefined;
    try {
      result = await runDataset(ds, this.replicas, deps, {
        ...options.run,
        runId: options.newRunId(),
        command: RECHECK_COMMAND,
        mode: "repair",
        keys,
        signal,
        ...(logged ? { logged: true } : {}),
        // A logged check decides here: a key job decides without the log.
        ...(options.dispatch && !logged ? { dispatch: options.dispatch } : {}),
        observer,
      });
    } catch (err) {
      // A replica or the state store failed: every key waits again, one attempt more.
      for (const e of group) this.set.add(e.key, e.reason, deps.now(), e.logged, e);
      await options.observer?.onRechecked?.({
        checked: keys,
        settled: [],
        retrying: this.set.size,
        error: err instanceof Error ? err : new Error(String(err)),
        durationMs: deps.now() - began,
      });
      return;
    }
    // Stopped before the end: what it did not settle is held again, as it was.
    if (!result.finished)
      for (const e of group) unsettled.set(keyId(e.key), unsettled.get(keyId(e.key)) ?? e.reason);
    await this.afterCheck(result, keys, unsettled, previous, logged);
    await options.observer?.onRechecked?.({
      checked: keys,
      settled: keys.filter((k) => !unsettled.has(keyId(k))),
      retrying: this.set.size,
      result,
      durationMs: deps.now() - began,
    });
  }

  /** Resolves after `ms`, when a key is held, or when `signal` aborts. */
  private nap(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.wake = done;
    });
  }
}

/** The command recorded with a re-check's run. */
export const RECHECK_COMMAND = "watch retry";
