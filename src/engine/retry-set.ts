/**
 * The watch's retry set: keys a targeted check left unsettled, re-checked with back-off, bounded in size.
 * Reads and writes nothing; time comes in as arguments.
 */
import { type Key, keyId } from "../core/model.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { SegmentWork } from "./run-segment.js";

/**
 * Why a check left a key unsettled:
 * - `held`: its repair is claimed by another run that is not yet taken for dead (settled once it is stale);
 * - `rejected`: the conditional write found the target changed since it was read (nothing written);
 * - `failed`: the write failed or did not verify (a replica down, a row refused);
 * - `unreached`: the check stopped before it wrote the key;
 * - `waiting`: the divergence is younger than the reconciliation window;
 * - `recovered`: a dead run's claim on it was settled as not landed, so its divergence is still there.
 */
export type RetryReason = "held" | "rejected" | "failed" | "unreached" | "waiting" | "recovered";

/** A key waiting to be checked again. */
export interface RetryEntry {
  readonly key: Key;
  readonly reason: RetryReason;
  /** Checks of it so far that left it unsettled (1 after the check that first did). */
  readonly attempts: number;
  /** When it is due, ms since the epoch. */
  readonly dueAt: number;
  /** The delay before `dueAt`, which the next attempt doubles (up to the reason's cap). */
  readonly delayMs: number;
  /** It came from the owner's change log (`resolve: replay`): re-checked as a logged change. */
  readonly logged: boolean;
}

/** Settings of a retry set. */
export interface RetrySetConfig {
  /** Keys held at most; keys over it are refused (the caller leaves them to the next pass). 0: no retries. */
  readonly maxKeys: number;
  /** The first delay (default 1 s), doubled at every attempt up to the reason's cap. */
  readonly firstMs: number;
  /** How long a claim of a run not yet taken for dead may last (STALE_RUN_MS): the cap of most reasons. */
  readonly staleRunMs: number;
  /** The dataset's reconciliation window: the cap for `waiting` (a divergence older than it is judged). */
  readonly windowMs: number;
  /** Attempts after which a key is given up to the next pass (default 10). */
  readonly maxAttempts: number;
}

/** What `add` did with a key. */
export type RetryAdd = "added" | "full" | "exhausted";

/**
 * Keys a check left unsettled, each due at a time that backs off exponentially: from `firstMs`, doubling per
 * attempt, capped at the window for a `waiting` key and at `staleRunMs` for the others (by then a claim's
 * run is taken for dead and its repair settled by the next check). Never holds more than `maxKeys`; a key is
 * given up after `maxAttempts`. A key checked again for another reason (a fresh change) is taken out first.
 */
export class RetrySet {
  private readonly entries = new Map<string, RetryEntry>();

  constructor(private readonly config: RetrySetConfig) {}

  get size(): number {
    return this.entries.size;
  }

  /** The reason's cap on the delay. */
  private capOf(reason: RetryReason): number {
    const { firstMs, staleRunMs, windowMs } = this.config;
    return Math.max(firstMs, reason === "waiting" ? windowMs : staleRunMs);
  }

  /**
   * Holds `key` for another check. A key held already (or given back by `due` with its `previous` entry)
   * counts one more attempt and doubles its delay; a new one waits `firstMs` (a `waiting` key at least until
   * the window has passed). "full": over `maxKeys`; "exhausted": past `maxAttempts` (neither is held).
   */
  add(key: Key, reason: RetryReason, now: number, logged: boolean, previous?: RetryEntry): RetryAdd {
    const id = keyId(key);
    const before = this.entries.get(id) ?? previous;
    const attempts = (before?.attempts ?? 0) + 1;
    if (attempts > this.config.maxAttempts) {
      this.entries.delete(id);
      return "exhausted";
    }
    if (!this.entries.has(id) && this.entries.size >= this.config.maxKeys) return "full";
    const cap = this.capOf(reason);
    const first =
      reason === "waiting" ? Math.max(this.config.firstMs, this.config.windowMs) : this.config.firstMs;
    const delayMs = Math.min(cap, before ? before.delayMs * 2 : first);
    this.entries.set(id, {
      key,
      reason,
      attempts,
      dueAt: now + delayMs,
      delayMs,
      logged: logged || before?.logged === true,
    });
    return "added";
  }

  /** Takes `key` out (a check of it is starting for another reason); returns its entry. */
  take(key: Key): RetryEntry | undefined {
    const id = keyId(key);
    const e = this.entries.get(id);
    this.entries.delete(id);
    return e;
  }

  /** Takes out and returns the entries due at `now`, earliest first, at most `limit`. */
  due(now: number, limit: number): RetryEntry[] {
    const ready = [...this.entries.values()]
      .filter((e) => e.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, limit);
    for (const e of ready) this.entries.delete(keyId(e.key));
    return ready;
  }

  /** When the earliest entry is due (undefined when empty). */
  nextDueAt(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) if (next === undefined || e.dueAt < next) next = e.dueAt;
    return next;
  }
}

/** The reason a repair result leaves its key unsettled, or undefined when it settled it. */
function reasonOf(r: Pick<RepairResult, "outcome" | "error">): RetryReason | undefined {
  if (r.outcome === "superseded") return /^held by run /.test(r.error ?? "") ? "held" : "rejected";
  if (r.outcome === "failed") return "failed";
  return undefined;
}

/**
 * The keys a group (a check's list of keys) left unsettled and worth checking again, with why, as
 * (`keyId`, reason) pairs: a write superseded (held by another run, or its condition rejected), failed or not
 * reached, and a divergence waiting for the window. Escalated, ignored and held-back keys are not: a person,
 * the tolerance or the repair mode decides them, and checking again changes nothing.
 */
export function unsettledKeys(
  work: Pick<SegmentWork, "plan" | "tasks" | "results">,
): [id: string, reason: RetryReason][] {
  const out = new Map<string, RetryReason>();
  const done = new Set<string>();
  for (const r of work.results) {
    done.add(`${r.id}\u0000${r.target}`);
    const reason = reasonOf(r);
    if (reason && !out.has(keyId(r.key))) out.set(keyId(r.key), reason);
  }
  for (const t of work.tasks)
    if (!done.has(`${t.id}\u0000${t.target}`) && !out.has(keyId(t.key))) out.set(keyId(t.key), "unreached");
  for (const d of work.plan?.decisions ?? [])
    if (d.action === "wait" && !out.has(keyId(d.key))) out.set(keyId(d.key), "waiting");
  return [...out];
}

/** The keys of recovered repairs that did not land (their divergence is still there), by `keyId`. */
export function recoveredKeys(recovered: readonly RepairResult[]): string[] {
  return [...new Set(recovered.filter((r) => r.outcome === "failed").map((r) => keyId(r.key)))];
}
