/** The RepairLedger port: one entry per repair id, claimed by one run at a time and settled only by its claimer. */
import type { AuditEntry, AuditEntryContent } from "../core/audit-chain.js";
import type { Key } from "../core/model.js";

/** Where a repair stands: "pending" while the run that claimed it has not recorded the outcome of its write. */
export type RepairOutcome = "pending" | "applied" | "noop" | "superseded" | "failed" | "rolled-back";

/** One planned repair of one key on one target replica, as the ledger keeps it. */
export interface LedgerEntry {
  /** The repair's idempotency id: the same repair planned twice has the same id. */
  id: string;
  /** The run that last claimed (or recorded) this entry; for an applied one, the run whose write landed. */
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
  /** How many times the write was tried (claims count them). */
  attempts: number;
  /** The last error, for a failed repair. */
  error?: string;
  updatedAt: number;
  /**
   * For a rollback's inverse write: the id of the repair it undoes (absent for a run's own repair). A claim
   * carries it, so that recovery settles a landed write of a killed rollback as `rolled-back`, as the rollback
   * would have; a claim replaces it like the images.
   */
  undoes?: string;
}

/**
 * A repair as the ledger finds it: by its id and its key. The id alone names it (it is a hash over the key,
 * among others); the key is what the SQLite ledger indexes first, so that a batch of repairs, whose keys are
 * one stretch of the key order, reads and writes a few index pages instead of one page per random id
 * (docs/benchmarks.md, "The ledger indexed by key").
 */
export interface RepairRef {
  readonly id: string;
  readonly key: Key;
}

/** The outcome of a claimed repair, as `settleRepairs` records it. */
export interface RepairSettlement extends RepairRef {
  /** The run the outcome is recorded under: the claimer (recovery settles in the name of the abandoned run). */
  readonly runId: string;
  readonly outcome: RepairOutcome;
  readonly attempts: number;
  readonly error?: string | undefined;
  readonly updatedAt: number;
}

/**
 * What `claimRepairs` found for one id:
 * - `claimed`: the entry is now pending under the claiming run (`entry` as stored, attempts counted); the
 *   run may write it.
 * - `held`: another run has it pending (`entry.runId`); this run must not write it.
 * - `applied`: a run's write of it landed (`entry` as stored, untouched); whether the target still holds
 *   its result is for the caller to check.
 */
export type RepairClaim =
  | { readonly kind: "claimed"; readonly entry: LedgerEntry }
  | { readonly kind: "held"; readonly entry: LedgerEntry }
  | { readonly kind: "applied"; readonly entry: LedgerEntry };

/** The filter of `listRepairs`: entries matching every field given. */
export interface RepairFilter {
  runId?: string;
  id?: string;
  dataset?: string;
  outcome?: RepairOutcome;
}

/** Where `listRepairsPage` resumes: what the page before returned as `next`. */
export interface RepairPageOptions {
  /** The `next` of the page before (absent: from the first entry). Opaque; valid for the same ledger only. */
  readonly after?: string | undefined;
  /** At most this many entries (a positive integer). */
  readonly limit: number;
}

/** One page of `listRepairsPage`. */
export interface RepairPage {
  readonly entries: LedgerEntry[];
  /** Where the next page starts; absent when no entry follows these. */
  readonly next?: string | undefined;
}

/**
 * The repair ledger: the latest word on every repair id, so that a run finds repairs already carried out and
 * two runs (processes, hosts) working on the same divergences never both write one repair nor record each
 * other's writes.
 *
 * ## Claiming (`claimRepairs`)
 * A run claims ids before writing them. Per id, atomically against every other process:
 * - no entry: the given pending entry is inserted for the claiming run: `claimed`;
 * - pending under another run: not claimed, `held`, whether that run is live or not (an abandoned claim is
 *   settled by recovery, which reads the target to tell whether its write landed; taking it over here would
 *   record that write as the claimer's noop, lost to `rollback --run` of the run that made it);
 * - pending under the claiming run itself (an earlier attempt of the same run, e.g. a resumed pass): claimed
 *   again;
 * - applied: returned as is, `applied`;
 * - noop, superseded, failed, rolled-back: claimed again for the claiming run, images replaced by the ones
 *   given.
 * A claim counts the attempt: the entry stored has `attempts` one more than before (1 when new), whatever
 * was given, and no error.
 *
 * ## Settling (`settleRepairs`)
 * Only the claimer settles. A settlement takes effect when the entry is pending under the settlement's run;
 * or, when it records a landed write (`applied`, or `rolled-back` for a rollback's own write), whenever the
 * entry does not record a landed write already: a write that landed is the strongest fact about a repair,
 * so a run whose claim was recovered or taken over while it was suspended, and whose write then landed,
 * still ends up recorded as the run that applied it. Anything else is ignored, as are unknown ids.
 * Settlements apply in the order given, as if settled one at a time.
 * A settlement that takes effect on a rollback's inverse write (a row naming the repair it `undoes`, the name
 * holding by `checkUndoes`) as `rolled-back` or `noop` also marks that repair `rolled-back`, in the same
 * transaction, when it is still `applied` on the same target with the fingerprint the inverse expected
 * (`undoneBySettled`; no audit entry: the inverse's vouches for it). So a rollback killed after a batch settled,
 * or recovery of its landed writes, never leaves a repair `applied` whose undoing the ledger records, which a
 * repair would take for a divergence come back (a second episode).
 *
 * ## Recovery (`listAbandonedRepairs`)
 * Pending entries whose run is not live (RunStore: finished, failed, or its heartbeat older than
 * `staleBefore`; a run the store has no record of, such as a rollback, by the entry's own `updatedAt`). The
 * caller reads each target and settles in the name of the abandoned run, so a write that landed is recorded
 * under the run that made it; the run itself, should it come back, settles only what is still its own.
 *
 * ## Consistency
 * Each method is one transaction; its writes are durable when the promise resolves. A repair's outcome is
 * never recorded without its audit entry, nor the other way round.
 */
export interface RepairLedger {
  /**
   * The ledger entries of these repairs, keyed by id; repairs never recorded are absent from the map, as is
   * one whose stored key is not the one given (an edited row: the id is a hash over the key).
   */
  getRepairs(refs: readonly RepairRef[]): Promise<Map<string, LedgerEntry>>;
  /**
   * Upserts by id, unconditionally, all entries in one transaction: afterwards each stored entry is exactly
   * the one given, `attempts` included. For records that are not claims (a rollback marking what it undid,
   * imports, tests); runs claim with `claimRepairs`. Must be idempotent: the same entries twice have the
   * effect of once. An id given twice takes its last word, in the place of its first.
   */
  recordRepairs(entries: readonly LedgerEntry[]): Promise<void>;
  /**
   * Claims each entry's id for the entry's run (see "Claiming"); every entry must be `pending`. An id given
   * twice is claimed once, with its last word. Returns what was found for every id given.
   */
  claimRepairs(entries: readonly LedgerEntry[]): Promise<Map<string, RepairClaim>>;
  /**
   * Records outcomes (see "Settling"): only `outcome`, `runId`, `attempts`, `error` and `updatedAt` change,
   * never the images. `audit[i]` is the audit entry of `settlements[i]` (same length, or empty for none); it
   * is appended, as `appendAudit` does, only when its settlement takes effect, in the same transaction.
   * Returns the audit entries appended, as stored, in order.
   */
  settleRepairs(
    settlements: readonly RepairSettlement[],
    audit: readonly Omit<AuditEntryContent, "seq">[],
  ): Promise<AuditEntry[]>;
  /** The entries matching every field given (none given: the whole ledger), in the order first recorded. */
  listRepairs(filter: RepairFilter): Promise<LedgerEntry[]>;
  /**
   * `listRepairs` a page at a time, so a reader of a large run holds one page, never the whole run: the
   * entries matching `filter` that were first recorded after the page before's last one, at most `limit`,
   * in the order first recorded. An entry keeps its place when it is recorded again, so entries are neither
   * repeated nor skipped across pages while others change (one that stops matching the filter before its page
   * is read is not returned; one recorded after the listing began is, at the end).
   */
  listRepairsPage(filter: RepairFilter, page: RepairPageOptions): Promise<RepairPage>;
  /**
   * How many entries match `filter` (none given: the whole ledger), counted in the store, not listed; with
   * `after` (a page's `next`), only those `listRepairsPage` would list after that page: what a reader that
   * stops there leaves unread. One statement, whatever the count.
   */
  countRepairs(filter: RepairFilter, options?: { readonly after?: string | undefined }): Promise<number>;
  /**
   * The dataset's pending entries whose run is not live at `staleBefore` (see "Recovery"), in the order first
   * recorded; at most `limit` (default: all) of them. Recovery settles them and asks again for the next.
   */
  listAbandonedRepairs(
    dataset: string,
    options: { staleBefore: number; limit?: number },
  ): Promise<LedgerEntry[]>;
}

/** `page.limit` checked, for the stores: `listRepairsPage` takes a positive integer. */
export function pageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new RangeError(`listRepairsPage: limit must be a positive integer, got ${limit}`);
  return limit;
}

/** A `next` given back as `page.after`, for the stores: the position (a row number) they wrote in it. */
export function pagePosition(after: string): number {
  const n = Number(after);
  if (!/^\d+$/.test(after) || !Number.isSafeInteger(n))
    throw new RangeError(
      `listRepairsPage: after must be the next of an earlier page, got ${JSON.stringify(after)}`,
    );
  return n;
}

/**
 * The WHERE parts of a ledger read for the stores (each store's `conditions` makes its SQL): the filter's
 * columns, and with `after` (a page's `next`) the rows past that position in `position`, the store's row order.
 */
export function ledgerFilter(
  filter: RepairFilter,
  position: string,
  after?: string | undefined,
): [column: string, param: string | number | undefined, op?: string][] {
  return [
    ["run_id", filter.runId],
    ["id", filter.id],
    ["dataset", filter.dataset],
    ["outcome", filter.outcome],
    [position, after === undefined ? undefined : pagePosition(after), ">"],
  ];
}
