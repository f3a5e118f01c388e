/** Reconciles the repair ledger with the audit log: every settled repair has its audit entry, and back. Pure. */
import { hash } from "node:crypto";
import { type AuditEntry, canonicalJson } from "./audit-chain.js";
import { type Key, keyId } from "./model.js";
import { checkUndoes, rollbackId } from "./rollback-of.js";

/** Audit event types that record a repair's outcome (`data.repair` names it). */
export const OUTCOME_EVENTS: ReadonlySet<string> = new Set([
  "applied",
  "noop",
  "superseded",
  "failed",
  "rolled-back",
]);

/** What reconciliation reads of a ledger entry (the state store's LedgerEntry has it all). */
export interface LedgerFacts {
  readonly id: string;
  /**
   * The run the ledger files the repair under: for an applied (or rolled-back) repair, the run whose write
   * landed, as its last `applied` entry names it. Unchecked when absent.
   */
  readonly runId?: string;
  readonly dataset: string;
  readonly key: Key;
  readonly target: string;
  readonly outcome: string;
  /** The fingerprint the repair wrote (null: a delete); a rollback expects it. */
  readonly nextFingerprint: string | null;
  /** The target's values before the repair (null: absent); a rollback writes them back. */
  readonly before: readonly (string | null)[] | null;
  /** The fingerprint the target held when the repair was planned (null: absent). */
  readonly expected: string | null;
  /** The values the repair wrote (null: a delete). */
  readonly after: readonly (string | null)[] | null;
  /**
   * For a rollback's inverse write, the repair it undoes: recovery settles a landed write of such a row as
   * that repair's rollback (`rolled-back`, the repair marked undone, no evidence) instead of a repair.
   */
  readonly undoes?: string | undefined;
}

/**
 * The facts of a repair an outcome entry vouches for, as [field, value] pairs: the entry's dataset and key,
 * and each of target, expected, written (the fingerprint written), the before and after images and undoes
 * (the repair a rollback's write undoes) that its data holds (entries settled by recovery before images were
 * recorded hold none of the images; only a rollback's entries, and recovery's of one, hold undoes).
 */
const FACTS = ["target", "expected", "written", "before", "after", "undoes"] as const;

/** A digest of the facts in `present` (a bit per FACTS member), the same for an entry and its ledger row. */
function factsDigest(dataset: unknown, key: unknown, present: number, values: readonly unknown[]): string {
  const parts: unknown[] = [dataset, key];
  FACTS.forEach((_, i) => {
    if (present & (1 << i)) parts.push(values[i]);
  });
  return hash("sha256", canonicalJson(parts), "base64");
}

/** The verdict: how many ledger entries and outcome entries agreed, or the first disagreement. */
export type ReconcileVerdict =
  | { readonly ok: true; readonly settled: number; readonly outcomes: number }
  | { readonly ok: false; readonly problem: string };

/**
 * Push the audit log (seq order), then the ledger. A repair's ledger outcome and its audit entries are
 * written in one transaction (`StateStore.settleRepairs`), so they must agree:
 * - every outcome entry (applied, noop, superseded, failed, rolled-back) names a repair the ledger holds;
 * - every ledger entry with a terminal outcome has an audit entry for its id, and the last one says the
 *   same outcome; `pending` entries (a write in progress, or cut short) need none;
 * - a repair rolled back is recorded `rolled-back` in the ledger while its own audit entries end at
 *   `applied`: its inverse repair (expected = the written fingerprint, writing the before image, as
 *   `concord rollback` builds it) must then have an audit entry saying rolled-back or noop (or applied: the
 *   rollback's write, settled by recovery after its process died).
 * - a row that says it `undoes` a repair (pending or settled) is that repair's inverse, as `concord rollback`
 *   builds it from the repair's row: recovery would otherwise record a landed write as the rollback of a
 *   repair it did not undo, or as a repair where it was a rollback (`pushLedger`).
 * Memory: one id and outcome per repair in the audit log.
 */
export class LedgerAuditReconciler {
  private readonly last = new Map<
    string,
    { outcome: string; seq: number; present: number; digest: string; run: string | null }
  >();
  /** For each repair a rollback's entry names (`undoes`, outcome rolled-back or noop), the last such entry's seq. */
  private readonly undoneAt = new Map<string, number>();
  private readonly inLedger = new Set<string>();
  private outcomes = 0;
  private settled = 0;
  private failure: string | undefined;

  /** Reads one audit entry. */
  pushAudit(entry: AuditEntry): void {
    if (this.failure || !OUTCOME_EVENTS.has(entry.type)) return;
    const repair = (entry.data as { repair?: unknown } | null)?.repair;
    if (typeof repair !== "string") {
      this.failure = `audit entry ${entry.seq} (${entry.type}) names no repair`;
      return;
    }
    this.outcomes++;
    const data = entry.data as Record<string, unknown>;
    let present = 0;
    FACTS.forEach((f, i) => {
      if (f in data) present |= 1 << i;
    });
    const digest = factsDigest(
      entry.dataset,
      entry.key,
      present,
      FACTS.map((f) => data[f]),
    );
    // Recovery settles a dead run's landed write in that run's name (`interruptedRun`), from a run of its own.
    const run = typeof data.interruptedRun === "string" ? data.interruptedRun : entry.runId;
    const undoes = typeof data.undoes === "string" ? data.undoes : undefined;
    if (undoes !== undefined && (entry.type === "rolled-back" || entry.type === "noop"))
      this.undoneAt.set(undoes, entry.seq);
    this.last.set(repair, { outcome: entry.type, seq: entry.seq, present, digest, run });
  }

  /**
   * Reads one ledger entry (after the whole audit log), with the ledger's entry of the repair it `undoes`
   * when it names one (undefined: the ledger holds none).
   */
  pushLedger(e: LedgerFacts, undone?: LedgerFacts): void {
    if (this.failure) return;
    const problem = this.check(e, undone);
    if (problem !== undefined) this.failure = problem;
    else this.accept(e);
  }

  /**
   * The disagreement between one ledger entry (with the entry of the repair it `undoes`) and the audit read so
   * far, or undefined; records nothing (`accept` does), so that a reader may read the row again after reading
   * the entries appended since (another process settling it meanwhile) and check it again.
   */
  check(e: LedgerFacts, undone?: LedgerFacts): string | undefined {
    const what = `repair ${e.id} (${e.dataset} key ${keyId(e.key)} on ${e.target})`;
    // Checked on pending rows too: recovery acts on a pending row's `undoes` before any entry vouches for it.
    // An id alone cannot say whether a row is a rollback (a repair making the same change has the same id), so
    // a pending row that lost its `undoes` is not found; a settled one is, by its entry (FACTS).
    const undoes = checkUndoes(e, undone);
    if (undoes === "unknown")
      return `the ledger row of ${what} says it undoes repair ${e.undoes}, which the ledger does not hold for that key (the row was edited)`;
    if (undoes === "not-its-rollback")
      return `the ledger row of ${what} says it undoes repair ${e.undoes}, but it is not that repair's rollback (the row was edited)`;
    const last = this.last.get(e.id);
    if (e.outcome === "pending") {
      // A repair whose write landed is not claimed again (its divergence coming back is a new episode, another
      // id) unless it was rolled back since: a pending row whose last entry says applied was edited, and
      // recovery would record that write applied a second time (with whatever images the row now holds).
      if (last?.outcome === "applied" && !this.undone(e))
        return `the ledger says ${what} is pending, but its audit entry ${last.seq} says it was applied (the row was edited)`;
      return undefined;
    }
    if (!last) return `the ledger says ${what} is ${e.outcome}, but no audit entry records it`;
    // An edit of the ledger row (its key, target, fingerprints, before and after images, or the repair it
    // undoes) since it was settled: rollback would write a before image no audit entry vouches for.
    const values = [e.target, e.expected, e.nextFingerprint, e.before, e.after, e.undoes ?? null];
    if (factsDigest(e.dataset, keyId(e.key), last.present, values) !== last.digest)
      return `the ledger row of ${what} does not match its audit entry ${last.seq} (the row, its before/after image or the repair it undoes was edited)`;
    // Filed under another run, `rollback --run` of that run would undo a repair it never made (and the
    // rollback of the run that made it would miss it).
    if (last.outcome === "applied" && e.runId !== undefined && e.runId !== last.run)
      return `the ledger files ${what} under run ${e.runId}, but its audit entry ${last.seq} says run ${last.run} applied it (the row was edited)`;
    if (last.outcome === "applied" && e.outcome === "applied") {
      // Its rollback settled after its last `applied` entry marks it rolled-back in the same transaction
      // (`undoneBySettled`), and only a new `applied` entry (claimed again, written again) makes it applied
      // again: an applied row with its undoing recorded since was set back by hand, and `rollback --run` would
      // undo it a second time. Only an entry that names this repair counts: a repair making the same change has
      // the rollback's id, and a rollback's write recovery recorded `applied` did not mark it.
      const undoneAt = this.undoneAt.get(e.id);
      if (undoneAt !== undefined && undoneAt > last.seq)
        return `the ledger says ${what} is applied, but audit entry ${undoneAt} records its rollback after its last applied entry ${last.seq} (the row was edited)`;
      return undefined;
    }
    if (last.outcome === e.outcome) return undefined;
    if (e.outcome === "rolled-back" && last.outcome === "applied") {
      if (this.undone(e)) return undefined;
      return `the ledger says ${what} is rolled-back, but no audit entry records its rollback`;
    }
    return `the ledger says ${what} is ${e.outcome}, but its last audit entry (${last.seq}) says ${last.outcome}`;
  }

  /** Whether the log records the rollback of `e` (its inverse repair's write). */
  private undone(e: LedgerFacts): boolean {
    // A rollback's entries name the repair they undo: one after the repair's last outcome entry (its last
    // application) undid it. Not the rollback id's last entry alone: a repair applied again under its id, or
    // a later episode (`id~2`), has an inverse of the same id, whose later entries speak of another undoing.
    const undoneAt = this.undoneAt.get(e.id);
    if (undoneAt !== undefined) return undoneAt > (this.last.get(e.id)?.seq ?? 0);
    // Entries written before rollbacks recorded `undoes`: the inverse's last outcome.
    const inverse = this.last.get(rollbackId(e));
    // `applied`: the rollback's write landed and its process died before settling it; recovery, which does
    // not know a rollback from a repair, recorded the landed write as applied.
    return inverse !== undefined && ["rolled-back", "noop", "applied"].includes(inverse.outcome);
  }

  /** Counts a ledger entry `check` found in agreement (or records the disagreement `problem`). */
  accept(e: LedgerFacts, problem?: string): void {
    if (this.failure) return;
    if (problem !== undefined) {
      this.failure = problem;
      return;
    }
    this.inLedger.add(e.id);
    if (e.outcome !== "pending") this.settled++;
  }

  /** True once a ledger entry of repair `id` was accepted. */
  holds(id: string): boolean {
    return this.inLedger.has(id);
  }

  /** The verdict once both have been read. */
  verdict(): ReconcileVerdict {
    if (this.failure) return { ok: false, problem: this.failure };
    for (const [id, { outcome, seq }] of this.last) {
      if (!this.inLedger.has(id))
        return {
          ok: false,
          problem: `audit entry ${seq} records repair ${id} as ${outcome}, but the ledger does not hold that repair`,
        };
    }
    return { ok: true, settled: this.settled, outcomes: this.outcomes };
  }
}
