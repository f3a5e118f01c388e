/** `concord audit verify` without the printing: the hash chain, its signed anchors, and the ledger against the audit. */
import type { AuditConfig } from "../config/load-config.js";
import { AnchorChecker, type AuditAnchor } from "../core/audit-anchor.js";
import { AuditChainVerifier } from "../core/audit-chain.js";
import { LedgerAuditReconciler } from "../core/ledger-audit-reconciler.js";
import { type Key, keyId } from "../core/model.js";
import type { LedgerEntry, RepairRef, StateStore } from "../state/state-store.js";
import { DamagedRowError } from "../state/state-store-error.js";
import { loadVerifyKey } from "./anchor-keys.js";
import { AnchorLogError, readAnchors } from "./anchor-log.js";

/** An audit entry's key (`keyId` text) as a Key, or undefined when it is not one. */
function keyOf(text: string): Key | undefined {
  try {
    const key: unknown = JSON.parse(text);
    return Array.isArray(key) && key.every((p) => p === null || typeof p === "string")
      ? (key as Key)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Raised by a command that acts on the ledger (rollback) when the log does not verify: the ledger is not trusted. */
export class AuditBrokenError extends Error {
  override readonly name = "AuditBrokenError";
}

/** How the anchors stood, when anchoring is configured. */
export interface AnchorSummary {
  readonly file: string;
  /** Anchors checked (every one must match). */
  readonly anchors: number;
  /** The anchor vouching for the highest entry. */
  readonly latest?: { readonly seq: number; readonly at: number; readonly key: string } | undefined;
  /** Entries after the latest anchor. */
  readonly unanchored: number;
}

/**
 * The verdict. `ok: false` carries a one-line `problem`; a broken chain also names the first bad entry
 * (`seq`) and stops there (nothing else is checked against a log that does not verify).
 */
export type AuditVerification =
  | {
      readonly ok: true;
      readonly count: number;
      readonly ledger: { readonly settled: number; readonly outcomes: number };
      /** null: anchoring is not configured. */
      readonly anchors: AnchorSummary | null;
    }
  | { readonly ok: false; readonly seq: number; readonly problem: string }
  | { readonly ok: false; readonly count: number; readonly problem: string };

export interface VerifyAuditOptions {
  /** Read anchors from this file instead of audit.anchor.file (e.g. a copy kept by an external log). */
  readonly anchorsFile?: string | undefined;
}

/** Ledger rows (and audit entries appended meanwhile) read at a time. */
const LEDGER_PAGE = 2000;
/** How often a ledger row that disagrees with the log is read again while other processes keep settling it. */
const RECHECKS = 20;

/**
 * Verifies, in one pass over the audit log (constant memory for the chain; the anchors, and one id and
 * outcome per repair, are held):
 * 1. the hash chain from entry 1 (`AuditChainVerifier`);
 * 2. with audit.anchor: every anchor in the anchor log is signed by audit.anchor.publicKey and names the
 *    hash its entry has; none vouches for an entry past the end; a non-empty log has at least one;
 * 3. the ledger against the audit (`LedgerAuditReconciler`), and each row naming the repair it undoes
 *    against that repair's row.
 * Throws ConfigError for an unusable public key (a configuration problem, not a finding).
 */
export async function verifyAudit(
  state: StateStore,
  audit: AuditConfig,
  options: VerifyAuditOptions = {},
): Promise<AuditVerification> {
  const anchorConfig = audit.anchor;
  const file = options.anchorsFile ?? anchorConfig?.file;
  let anchors: AnchorChecker | undefined;
  let anchorProblem: string | undefined;
  if (anchorConfig && file) {
    const publicKey = loadVerifyKey(anchorConfig);
    try {
      anchors = new AnchorChecker(await readAnchors(file), publicKey);
    } catch (err) {
      if (!(err instanceof AnchorLogError)) throw err;
      anchorProblem = err.message;
    }
  }

  const chain = new AuditChainVerifier();
  const reconciler = new LedgerAuditReconciler();
  for await (const entry of state.iterateAudit()) {
    const verdict = chain.push(entry);
    if (!verdict.ok) return verdict;
    anchors?.push(entry);
    reconciler.pushAudit(entry);
  }
  const chained = chain.verdict();
  if (!chained.ok) return chained;
  const count = chained.count;
  const broken = (problem: string): AuditVerification => ({ ok: false, count, problem });

  let summary: AnchorSummary | null = null;
  if (anchorProblem) return broken(anchorProblem);
  if (anchors && file) {
    const verdict = anchors.verdict(count);
    if (!verdict.ok) return broken(verdict.problem);
    if (verdict.anchors === 0 && count > 0)
      return broken(
        `no anchor in ${file} vouches for the ${count} entries (anchor the log with concord audit anchor; if it was anchored before, the anchor log was emptied or replaced)`,
      );
    const latest: AuditAnchor | undefined = verdict.latest;
    summary = {
      file,
      anchors: verdict.anchors,
      latest: latest && { seq: latest.seq, at: latest.at, key: latest.key },
      unanchored: verdict.unanchored,
    };
  }

  // The ledger is read after the log, without a snapshot: another process (a repair, a rollback, serve's pass)
  // may settle repairs between the two reads, and each settlement writes its ledger row and its audit entries
  // in one transaction. So a row that disagrees with the log as read is read again after the entries appended
  // since, and found wrong only once the log did not grow around that second read (the two then show one
  // moment); the entries appended are chained and checked as the others (`grow`).
  let head = count;
  /** The keys of repairs whose entries were appended after the log was first read (their rows may be newer). */
  const lateKeys = new Map<string, string>();
  let chainBroken: AuditVerification | undefined;
  const grow = async (): Promise<boolean> => {
    let grew = false;
    for (;;) {
      const tail = await state.readAudit({ fromSeq: head + 1, limit: LEDGER_PAGE });
      for (const entry of tail) {
        const verdict = chain.push(entry);
        if (!verdict.ok) {
          chainBroken = verdict;
          return grew;
        }
        reconciler.pushAudit(entry);
        const repair = (entry.data as { repair?: unknown } | null)?.repair;
        if (typeof repair === "string" && entry.key !== null) lateKeys.set(repair, entry.key);
        head = entry.seq;
        grew = true;
      }
      if (tail.length < LEDGER_PAGE) return grew;
    }
  };
  const undoneOf = async (e: LedgerEntry): Promise<LedgerEntry | undefined> =>
    e.undoes === undefined
      ? undefined
      : (await state.getRepairs([{ id: e.undoes, key: e.key }])).get(e.undoes);
  /**
   * Checks `e` (undefined: the ledger does not hold it), reading it again while other processes settle it.
   * The row as first read (a page's copy, or none for a repair claimed after the last page) may be older than
   * the log as read by now: a recheck of another row reads the entries appended since, which can settle this
   * row or record a repair claimed after its page was read. So a problem is judged on the row read again, never
   * on the first copy: the row read again with nothing appended around that read shows one moment with the log.
   */
  const settle = async (ref: RepairRef, e: LedgerEntry | undefined, undone: LedgerEntry | undefined) => {
    let problem = e ? reconciler.check(e, undone) : "missing";
    for (let tries = 0; problem !== undefined && tries < RECHECKS && !chainBroken; tries++) {
      await grow();
      e = (await state.getRepairs([ref])).get(ref.id);
      undone = e ? await undoneOf(e) : undefined;
      const grewAfter = await grow();
      problem = e ? reconciler.check(e, undone) : "missing";
      // Nothing appended since the row was read: row and log show one moment, and the verdict stands.
      if (!grewAfter) break;
    }
    if (e) reconciler.accept(e, problem);
  };

  // A page of the ledger at a time, so memory follows the page, not the ledger (the reconciler keeps one id
  // and outcome per repair). The rows a page's rows say they undo are read with it, for the reconciler to
  // check each is their inverse.
  let after: string | undefined;
  do {
    let page: Awaited<ReturnType<StateStore["listRepairsPage"]>>;
    try {
      page = await state.listRepairsPage({}, { after, limit: LEDGER_PAGE });
    } catch (err) {
      // A ledger row that does not parse was edited or damaged: a finding, like a row that parses but differs.
      if (err instanceof DamagedRowError) return broken(err.message);
      throw err;
    }
    const named: RepairRef[] = [];
    for (const e of page.entries) if (e.undoes !== undefined) named.push({ id: e.undoes, key: e.key });
    const undone = named.length ? await state.getRepairs(named) : new Map<string, LedgerEntry>();
    for (const e of page.entries) {
      // The repair of that name at this row's own key, as `undoneOf` reads it (a page's map is by id alone).
      const found = e.undoes === undefined ? undefined : undone.get(e.undoes);
      const of = found && keyId(found.key) === keyId(e.key) ? found : undefined;
      if (reconciler.check(e, of) === undefined) reconciler.accept(e);
      else await settle({ id: e.id, key: e.key }, e, of);
    }
    after = page.next;
  } while (after !== undefined);
  // Repairs claimed after the ledger page that would list them was read: their rows, read now.
  for (const [id, key] of lateKeys) {
    if (reconciler.holds(id)) continue;
    const parsed = keyOf(key);
    if (parsed) await settle({ id, key: parsed }, undefined, undefined);
  }
  if (chainBroken) return chainBroken;
  const ledger = reconciler.verdict();
  if (!ledger.ok) return { ok: false, count: head, problem: ledger.problem };
  return {
    ok: true,
    count: head,
    ledger: { settled: ledger.settled, outcomes: ledger.outcomes },
    anchors: summary,
  };
}
