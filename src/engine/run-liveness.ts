/** How a run shows it is alive while it works: heartbeats on its run record, and the lease on its pass. */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { processGone } from "../runtime/process-gone.js";
import type { StateStore } from "../state/state-store.js";

/** How often a run beats (and renews its pass lease); runs silent for 60 s are taken for dead. */
export const HEARTBEAT_MS = 10_000;
/** How long a pass lease lasts unless renewed: three heartbeats. */
export const LEASE_TTL_MS = 30_000;

/** Another live process owns the dataset's pass: this one must not run it now. */
export class PassOwnedError extends Error {
  override readonly name = "PassOwnedError";
  constructor(
    readonly dataset: string,
    readonly owner: string | undefined,
  ) {
    super(`dataset ${dataset}: another process${owner ? ` (${owner})` : ""} is running its pass`);
  }
}

/** This process as a lease owner: `host:pid:random` (the random part tells a restarted pid apart). */
export function processOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** The lease a running run holds under its own name, so that others can tell which process runs it. */
export function runLease(runId: string): string {
  return `run:${runId}`;
}

/**
 * True when `owner` (`host:pid:random`) is a process on this host that no longer exists: its runs are dead
 * now, without waiting for their heartbeats to go stale (kill -9, then an immediate rerun).
 */
export function deadLocalOwner(owner: string): boolean {
  const [host, pid] = owner.split(":");
  if (host !== hostname() || !pid || !/^\d+$/.test(pid)) return false;
  if (Number(pid) === process.pid) return false;
  return processGone(Number(pid));
}

/** The lease name of a dataset's checkpointed pass. */
export function passLease(dataset: string): string {
  return `pass:${dataset}`;
}

/**
 * A distributed run's blast-radius latch, shared by its workers: taken (by the worker whose segment tripped
 * the guard) the moment a segment trips it, so segments already queued or running record and write nothing
 * more, without waiting for the coordinator to fold the trip. Released when the run ends.
 */
export function latchLease(runId: string): string {
  return `latch:${runId}`;
}

/** How long a run's latch is held: longer than any run; the run's end releases it. */
export const LATCH_TTL_MS = 7 * 24 * 3600_000;

/**
 * Takes the dataset's pass lease for `owner`, or throws PassOwnedError naming who holds it. A lease held by a
 * process on this host that no longer exists (kill -9) is taken over at once instead of waiting for it to expire.
 */
export async function acquirePass(
  state: StateStore,
  dataset: string,
  owner: string,
  now: number,
  ttlMs = LEASE_TTL_MS,
): Promise<void> {
  await takeLease(state, passLease(dataset), owner, now, ttlMs, (held) => new PassOwnedError(dataset, held));
}

/**
 * Takes the lease `name` for `owner`, taking it over from a dead process on this host; otherwise throws what
 * `refused` makes of the holder.
 */
export async function takeLease(
  state: StateStore,
  name: string,
  owner: string,
  now: number,
  ttlMs: number,
  refused: (holder: string | undefined) => Error,
): Promise<void> {
  if (await state.acquireLease(name, owner, now, ttlMs)) return;
  const held = await state.getLease(name);
  if (held && deadLocalOwner(held.owner)) {
    await state.releaseLease(name, held.owner);
    if (await state.acquireLease(name, owner, now, ttlMs)) return;
  }
  throw refused((await state.getLease(name))?.owner);
}

/**
 * Beats the run's heartbeat every `everyMs` and, with a lease, renews it; calls `lost` once when a renewal
 * fails (another process took the pass after this one went silent), so the run stops after the step in
 * flight. The timer does not keep the process alive. `stop` ends it and waits for a beat in flight.
 */
export function keepAlive(options: {
  readonly state: StateStore;
  readonly now: () => number;
  readonly runId: string;
  readonly everyMs: number;
  readonly lease?: { readonly name: string; readonly owner: string; readonly ttlMs: number } | undefined;
  /** The run's own lease (`runLease`), renewed with every beat. */
  readonly run?: { readonly owner: string; readonly ttlMs: number } | undefined;
  readonly lost: () => void;
}): { stop(): Promise<void> } {
  const { state, now, runId, lease } = options;
  let beating: Promise<void> = Promise.resolve();
  let lost = false;
  const beat = async () => {
    await state.heartbeatRun(runId, now());
    if (options.run) await state.acquireLease(runLease(runId), options.run.owner, now(), options.run.ttlMs);
    if (lease && !lost && !(await state.acquireLease(lease.name, lease.owner, now(), lease.ttlMs))) {
      lost = true;
      options.lost();
    }
  };
  const timer = setInterval(() => {
    // A beat that fails (the state store is unreachable for a moment) is tried again at the next tick.
    beating = beating.then(beat).catch(() => {});
  }, options.everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await beating;
    },
  };
}

/** A lease this process held was taken by another after it lapsed (a pause, the state store out of reach). */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  constructor(
    readonly lease: string,
    readonly holder: string | undefined,
  ) {
    super(`lease ${lease} was taken by ${holder ?? "another process"}`);
  }
}

/** A lease kept by `keepLease`. */
export interface KeptLease {
  /** Aborted, its reason a LeaseLostError, once a renewal found the lease another's. */
  readonly signal: AbortSignal;
  /**
   * Renews the lease now (after any renewal in flight): true while it is this process's. False once lost,
   * and `signal` is aborted. A renewal that throws (the state store out of reach) is not a loss: it rejects,
   * and the lease holds until its TTL, when another may take it and the next renewal finds that.
   */
  renew(): Promise<boolean>;
  /** Ends the renewals and waits for one in flight; the lease is not released (the caller does that). */
  stop(): Promise<void>;
}

/**
 * Keeps a lease the caller holds — no run, no heartbeat: the lease alone (a replay's hold on the dataset's
 * pass). Renews it every `everyMs` and whenever `renew` is called (a caller renews between steps, so it
 * never starts one on a lease it lost); the first renewal that finds it held by another aborts `signal` with
 * a LeaseLostError naming the holder, and renewals stop. The timer does not keep the process alive.
 */
export function keepLease(options: {
  readonly state: StateStore;
  readonly now: () => number;
  readonly name: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly everyMs: number;
}): KeptLease {
  const { state, now, name, owner, ttlMs } = options;
  const lost = new AbortController();
  let renewing: Promise<unknown> = Promise.resolve();
  const once = async (): Promise<boolean> => {
    if (lost.signal.aborted) return false;
    if (await state.acquireLease(name, owner, now(), ttlMs)) return true;
    lost.abort(new LeaseLostError(name, (await state.getLease(name).catch(() => undefined))?.owner));
    return false;
  };
  const renew = (): Promise<boolean> => {
    const next = renewing.then(once);
    renewing = next.catch(() => {});
    return next;
  };
  const timer = setInterval(() => {
    // A renewal that throws is tried again at the next tick.
    if (lost.signal.aborted) clearInterval(timer);
    else renew().catch(() => {});
  }, options.everyMs);
  timer.unref();
  return {
    signal: lost.signal,
    renew,
    async stop() {
      clearInterval(timer);
      await renewing;
    },
  };
}

/** A lease taken and kept renewed (a pass, a run, a rollback of a run) until released. */
export interface HeldLease {
  /** The kept lease: renew it between steps; its `signal` aborts once another process took it. */
  readonly lease: KeptLease;
  /**
   * Stops the renewals and gives the lease up — only while it is still `owner`'s: one another process took is
   * left to it. Never throws.
   */
  release(): Promise<void>;
}

/**
 * Takes the dataset's pass lease for `owner` (PassOwnedError naming the holder when another live process has
 * it) and keeps it — renewed every `HEARTBEAT_MS` and whenever the holder renews it — until `release`: how a
 * replay, in serve or on the command line, holds the dataset against passes and other replays for as long as
 * it runs.
 */
export async function holdPassLease(options: {
  readonly state: StateStore;
  readonly now: () => number;
  readonly dataset: string;
  readonly owner: string;
}): Promise<HeldLease> {
  const { state, now, dataset, owner } = options;
  await acquirePass(state, dataset, owner, now());
  return keepHolding({ state, now, name: passLease(dataset), owner, ttlMs: LEASE_TTL_MS });
}

/**
 * Keeps lease `name`, which `owner` has just taken, renewed every `HEARTBEAT_MS` (lasting `ttlMs`) until
 * `release`: what every holder of a pass, run or rollback lease does between taking it and giving it up.
 */
export function keepHolding(options: {
  readonly state: StateStore;
  readonly now: () => number;
  readonly name: string;
  readonly owner: string;
  readonly ttlMs: number;
}): HeldLease {
  const { state, name, owner } = options;
  const lease = keepLease({ ...options, everyMs: HEARTBEAT_MS });
  return {
    lease,
    async release() {
      await lease.stop();
      await state.releaseLease(name, owner).catch(() => {});
    },
  };
}

/**
 * Takes the `run:<id>` lease for `owner` and keeps it (renewed every `HEARTBEAT_MS`, lasting `ttlMs`) until
 * `release`: how a run that begins no run record (a rollback, an escalation's resolution) names its process,
 * so that after a kill -9 the next recovery settles the repairs it left pending at once instead of reporting
 * them held by it until their claims go stale.
 */
export async function holdRunLease(options: {
  readonly state: StateStore;
  readonly now: () => number;
  readonly runId: string;
  readonly owner: string;
  readonly ttlMs: number;
}): Promise<HeldLease> {
  const { state, now, owner, ttlMs } = options;
  const name = runLease(options.runId);
  await state.acquireLease(name, owner, now(), ttlMs);
  return keepHolding({ state, now, name, owner, ttlMs });
}
