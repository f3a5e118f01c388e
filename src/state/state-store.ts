/** The StateStore port: where runs, versions, divergences, the repair ledger, escalations and the audit log are kept. */
import type { AuditEntry, AuditEntryContent } from "../core/audit-chain.js";
import type { DivergenceClass } from "../core/classify.js";
import type { Key } from "../core/model.js";
import type { Version } from "../core/version.js";

export interface RunRecord {
  readonly id: string;
  readonly dataset: string;
  readonly command: string;
  readonly startedAt: number;
  readonly finishedAt?: number | undefined;
  readonly status: "running" | "ok" | "diverged" | "failed";
  readonly counts: Readonly<Record<string, number>>;
  readonly stats: Readonly<Record<string, number>>;
}

export interface StoredDivergence {
  readonly runId: string;
  readonly dataset: string;
  readonly key: Key;
  readonly class: DivergenceClass;
  /** Free-form JSON detail (replica observations, differing columns). */
  readonly detail: unknown;
}

export interface ObservedVersion {
  readonly key: Key;
  readonly replica: string;
  readonly version: Version;
}

/** Where a repair stands: "pending" until the executor knows the outcome of its write. */
export type RepairOutcome = "pending" | "applied" | "noop" | "superseded" | "failed" | "rolled-back";

/** One planned repair of one key on one target replica, as the ledger keeps it. */
export interface LedgerEntry {
  /** The repair's idempotency id: the same repair planned twice has the same id. */
  id: string;
  /** The run that last recorded this entry. */
  runId: string;
  dataset: string;
  key: Key;
  /** The replica the repair writes to. */
  target: string;
  /** The fingerprint the target held when observed (null: absent); the write applies only if it still does. */
  expected: string | null;
  /** The fingerprint the target holds once repaired (null: the repair deletes the record). */
  nextFingerprint: string | null;
  /** The target's values when observed, the before image kept for rollback (null: absent). */
  before: readonly (string | null)[] | null;
  /** The values written (null: a delete). */
  after: readonly (string | null)[] | null;
  outcome: RepairOutcome;
  /** How many times the write was tried, as the executor counts them. */
  attempts: number;
  /** The last error, for a failed repair. */
  error?: string;
  updatedAt: number;
}

/** Where an unfinished `serve` pass over a dataset stands, so a restart resumes after the last finished segment. */
export interface Checkpoint {
  readonly dataset: string;
  /** The pass's run id (a resumed pass keeps it). */
  readonly runId: string;
  /** "scan" or "repair". */
  readonly mode: string;
  /** Segment boundaries fixed at the pass's start (keys, in order): segment i covers [bounds[i-1], bounds[i]). */
  readonly bounds: readonly Key[];
  /** How many segments are finished (0 … bounds.length + 1). */
  readonly done: number;
  /** Running totals of the pass so far (free-form JSON: counts by class, repair outcomes, stats). */
  readonly totals: unknown;
  readonly startedAt: number;
  readonly updatedAt: number;
}

/** One timestamped measurement kept for the dashboard's history (probe lag, time to convergence, …). */
export interface Sample {
  readonly dataset: string;
  /** What is measured, e.g. "lag" (seconds), "ttc" (seconds), "anomaly" (1 per event). */
  readonly series: string;
  /** The sub-series, e.g. the replica; "" when none. */
  readonly label: string;
  readonly at: number;
  /** The value; null records an event without one (e.g. a probe that timed out). */
  readonly value: number | null;
}

/** The outcome of a repair already in the ledger, as `settleRepairs` records it. */
export interface RepairSettlement {
  readonly id: string;
  readonly runId: string;
  readonly outcome: RepairOutcome;
  readonly attempts: number;
  readonly error?: string | undefined;
  readonly updatedAt: number;
}

/** A divergence that policy does not let Concord repair on its own: it waits for an operator. */
export interface Escalation {
  /** Stable for the same divergence, so that running again does not escalate it twice. */
  id: string;
  dataset: string;
  key: Key;
  /** The divergence class (the taxonomy's `class`). */
  class: string;
  /** Why it was escalated, in one line for the operator. */
  reason: string;
  /** The resolutions the operator may choose from. */
  options: readonly string[];
  /** Free-form JSON detail (replica observations, differing columns). */
  detail: unknown;
  status: "open" | "resolved" | "rejected";
  runId: string;
  createdAt: number;
  resolvedAt?: number;
  /** Free-form JSON: what the operator chose. */
  resolution?: unknown;
}

/** Thrown by `closeEscalation` when the escalation does not exist or is no longer open. */
export class EscalationNotOpenError extends Error {
  override readonly name = "EscalationNotOpenError";
  constructor(
    readonly id: string,
    /** The status found, or "missing" when no escalation has this id. */
    readonly status: "missing" | "resolved" | "rejected",
  ) {
    super(status === "missing" ? `escalation ${id} does not exist` : `escalation ${id} is already ${status}`);
  }
}

/**
 * Durable state shared by runs. Contract:
 * - `beginRun` then `finishRun` bracket every run of a dataset (a run id is shared by the datasets of one invocation); a run never finished stays "running" (a crash).
 * - `rememberVersions` keeps, per (dataset, key, replica), the version to compare the next observation
 *   with; `lastSeenVersions` returns them. Only keys that diverged are remembered, so the store grows with
 *   divergence, not with the table.
 * - The ledger holds one entry per repair id, the latest word on it; re-running a run finds repairs already
 *   carried out there. Escalations are opened once per id and closed once.
 * - The audit log is append-only and hash-chained (core/audit-chain.ts): entries are never updated or
 *   deleted through this port, so any change made behind its back fails verification.
 * - Writes are durable when the promise resolves; each method's writes are one transaction.
 */
export interface StateStore {
  beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void>;
  finishRun(
    id: string,
    dataset: string,
    result: {
      finishedAt: number;
      status: RunRecord["status"];
      counts: Record<string, number>;
      stats: Record<string, number>;
    },
  ): Promise<void>;
  /** The per-dataset records of one run (one invocation covers every dataset it touched). */
  getRun(id: string): Promise<RunRecord[]>;
  listRuns(options?: { dataset?: string; limit?: number }): Promise<RunRecord[]>;
  recordDivergences(divergences: readonly StoredDivergence[]): Promise<void>;
  listDivergences(runId: string): Promise<StoredDivergence[]>;
  lastSeenVersions(dataset: string, keys: readonly Key[]): Promise<Map<string, Record<string, Version>>>;
  /**
   * Remembers versions observed per replica. Keeps the highest ever seen (so a replica that later goes
   * below it has regressed), unless `overwrite`: a repair that deliberately wrote an older version (the
   * owner's) resets what is expected of that replica.
   */
  rememberVersions(
    dataset: string,
    observed: readonly ObservedVersion[],
    options?: { overwrite?: boolean },
  ): Promise<void>;

  /** The ledger entries with these ids, keyed by id; ids never recorded are absent from the map. */
  getRepairs(ids: readonly string[]): Promise<Map<string, LedgerEntry>>;
  /**
   * Upserts by id, all entries in one transaction: afterwards each stored entry is exactly the one given,
   * `attempts` included (the store does not count). Must be idempotent: the same entries twice have the
   * effect of once.
   */
  recordRepairs(entries: readonly LedgerEntry[]): Promise<void>;
  /**
   * Records the outcomes of repairs already in the ledger (other fields unchanged; unknown ids are ignored)
   * and appends `audit` to the audit log, as `appendAudit` does, in one transaction: a repair's outcome is
   * never recorded without its audit entry, nor the other way round. Returns the audit entries as stored.
   */
  settleRepairs(
    settlements: readonly RepairSettlement[],
    audit: readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<AuditEntry[]>;
  /** The entries matching every field given (none given: the whole ledger), in the order first recorded. */
  listRepairs(filter: {
    runId?: string;
    id?: string;
    dataset?: string;
    outcome?: RepairOutcome;
  }): Promise<LedgerEntry[]>;

  /**
   * Stores each escalation whose id is not present yet, as given, and returns the ids actually inserted,
   * in order. Must be idempotent: running the same run again inserts nothing and returns [], and an
   * escalation already resolved is not reopened.
   */
  openEscalations(list: readonly Escalation[]): Promise<string[]>;
  /** The escalations matching every field given, oldest first. */
  listEscalations(filter?: { status?: Escalation["status"]; dataset?: string }): Promise<Escalation[]>;
  getEscalation(id: string): Promise<Escalation | undefined>;
  /**
   * Moves an open escalation to `status`, recording `resolution` and `at`. The check and the update are one
   * atomic step, so two operators cannot both close it: throws EscalationNotOpenError if the escalation
   * does not exist or is not open.
   */
  closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void>;

  /**
   * Appends events to the audit log atomically: they get the next consecutive seqs (the first entry ever
   * is 1) and each is chained to the one before by `hashAuditEntry`. Must stay correct when several
   * processes append to the same store at once: the read of the last entry and the inserts are one write
   * transaction. Returns the entries as stored, `data` in its JSON form (as `readAudit` will return it).
   */
  appendAudit(events: readonly Omit<AuditEntryContent, "seq">[]): Promise<AuditEntry[]>;
  /**
   * The entries matching every field given, in seq order: `key` is `keyId` text, `fromSeq` is inclusive,
   * `limit` caps the count (none: no cap; use `iterateAudit` for the whole log), keeping the first ones, or
   * with `newest` the last ones (still returned in seq order).
   */
  readAudit(filter?: {
    runId?: string;
    key?: string;
    fromSeq?: number;
    limit?: number;
    newest?: boolean;
  }): Promise<AuditEntry[]>;
  /**
   * Streams the whole log in seq order, in bounded memory, as stored (no verification: pass it to
   * `verifyAuditChainAsync`). Entries appended while iterating may be included.
   */
  iterateAudit(): AsyncIterable<AuditEntry>;

  /** The dataset's unfinished pass, if any. */
  getCheckpoint(dataset: string): Promise<Checkpoint | undefined>;
  /**
   * Creates or replaces the dataset's checkpoint (one per dataset): `getCheckpoint` then returns it as given
   * (bounds exactly, totals in their JSON form).
   */
  putCheckpoint(checkpoint: Checkpoint): Promise<void>;
  /** Removes the dataset's checkpoint (the pass finished); no error when there is none. */
  deleteCheckpoint(dataset: string): Promise<void>;

  /** Appends samples, all in one transaction. */
  appendSamples(samples: readonly Sample[]): Promise<void>;
  /**
   * Samples matching every field given, oldest first (equal times in the order appended); `since` is
   * inclusive; `limit` keeps the newest `limit` of them (still returned oldest first).
   */
  listSamples(filter: {
    dataset?: string;
    series?: string;
    since?: number;
    limit?: number;
  }): Promise<Sample[]>;
  /** Removes the samples of every dataset with `at < before` (retention); returns how many. */
  pruneSamples(before: number): Promise<number>;

  /**
   * Notes that these keys (`keyId` text) of the dataset were seen divergent at `at`, in one transaction: a
   * key not yet tracked gets `firstSeen = lastSeen = at`; a tracked key keeps the earliest `firstSeen` and
   * the latest `lastSeen` of its marks. Marks therefore commute: several processes marking at once (their clocks
   * and commit order may disagree) leave the same result as any sequence of the same calls.
   */
  markDivergent(dataset: string, keys: readonly string[], at: number): Promise<void>;
  /**
   * Stops tracking these keys and returns when each tracked one was first seen, in the order given (untracked
   * keys are absent). Atomic: of several calls taking the same key at once, exactly one returns it.
   */
  takeDivergent(dataset: string, keys: readonly string[]): Promise<Map<string, number>>;
  /**
   * Stops tracking the dataset's keys with `lastSeen < before` (they converged without a repair); returns
   * how many.
   */
  purgeDivergent(dataset: string, before: number): Promise<number>;

  close(): Promise<void>;
}
