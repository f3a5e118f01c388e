/** Who may claim and who may settle a repair id: the ledger's ownership rules, pure, shared by every adapter. */
import type { AuditEntryContent } from "../core/audit-chain.js";
import { checkUndoes } from "../core/rollback-of.js";
import type { LedgerEntry, RepairOutcome, RepairRef, RepairSettlement } from "./repair-ledger.js";

/** The part of a ledger entry the rules look at. */
export interface LedgerOwnership {
  readonly runId: string;
  readonly outcome: RepairOutcome;
}

/** Outcomes that record a write that landed: a run's repair, or a rollback's inverse write. */
const LANDED: ReadonlySet<RepairOutcome> = new Set(["applied", "rolled-back"]);

/**
 * What claiming an id for `claimer` does, given its entry (undefined: none): `claim` it (insert or take it
 * over), leave it `held` by the run that has it pending, or report it `applied`. See RepairLedger, "Claiming".
 */
export function claimVerdict(
  entry: LedgerOwnership | undefined,
  claimer: string,
): "claim" | "held" | "applied" {
  if (!entry) return "claim";
  switch (entry.outcome) {
    case "pending":
      return entry.runId === claimer ? "claim" : "held";
    case "applied":
      return "applied";
    case "noop":
    case "superseded":
    case "failed":
    case "rolled-back":
      return "claim";
  }
}

/**
 * Whether `s` takes effect on an entry now in state `entry`: the entry is pending under the settling run, or
 * the settlement records a landed write and the entry records none. See RepairLedger, "Settling".
 */
export function settlementTakesEffect(entry: LedgerOwnership, s: RepairSettlement): boolean {
  if (entry.outcome === "pending" && entry.runId === s.runId) return true;
  return LANDED.has(s.outcome) && !LANDED.has(entry.outcome);
}

/**
 * The settlements that take effect on `entries` (by id; ids absent are unknown and ignored), applied in the
 * order given as if one at a time: a second settlement of an id sees the state the first left. Returns the
 * indexes of those that take effect, and the final state of each id they touched.
 */
export function effectiveSettlements(
  entries: ReadonlyMap<string, LedgerOwnership>,
  settlements: readonly RepairSettlement[],
): { taken: number[]; final: Map<string, RepairSettlement> } {
  const now = new Map(entries);
  const taken: number[] = [];
  const final = new Map<string, RepairSettlement>();
  for (let i = 0; i < settlements.length; i++) {
    const s = settlements[i]!;
    const entry = now.get(s.id);
    if (!entry || !settlementTakesEffect(entry, s)) continue;
    taken.push(i);
    now.set(s.id, { runId: s.runId, outcome: s.outcome });
    final.set(s.id, s);
  }
  return { taken, final };
}

/**
 * The settlements split into rounds in which each id appears at most once (indexes into `settlements`, in the
 * order given): the n-th settlement of an id goes into round n. A store that settles a round in conditional
 * statements (settlementTakesEffect in SQL, one row per id) and the next round after it applies the
 * settlements as if one at a time, as effectiveSettlements does. A batch that names each id once is one round.
 */
export function settlementRounds(settlements: readonly RepairSettlement[]): number[][] {
  const rounds: number[][] = [];
  const mentions = new Map<string, number>();
  for (let i = 0; i < settlements.length; i++) {
    const id = settlements[i]!.id;
    const n = mentions.get(id) ?? 0;
    mentions.set(id, n + 1);
    const round = rounds[n];
    if (round) round.push(i);
    else rounds.push([i]);
  }
  return rounds;
}

/**
 * The entries to claim, one per id (the last word, in the place of the first mention). Throws a TypeError
 * naming the first entry that is not pending, before anything is written.
 */
export function claimsById(entries: readonly LedgerEntry[]): LedgerEntry[] {
  const latest = new Map<string, LedgerEntry>();
  for (const e of entries) {
    if (e.outcome !== "pending")
      throw new TypeError(`claimRepairs: entry ${e.id} is ${e.outcome}; only pending entries are claimed`);
    latest.set(e.id, e);
  }
  return [...latest.values()];
}

/** The entry a claim stores: pending under the claimer, attempts counted from the entry it replaces, no error. */
export function claimedEntry(given: LedgerEntry, previousAttempts: number | undefined): LedgerEntry {
  const { error: _, ...rest } = given;
  return { ...rest, outcome: "pending", attempts: (previousAttempts ?? 0) + 1 };
}

/** Throws a RangeError unless `audit` pairs with `settlements` (same length) or is empty. */
export function checkSettlementAudit(
  settlements: readonly unknown[],
  audit: readonly Omit<AuditEntryContent, "seq">[],
): void {
  if (audit.length !== 0 && audit.length !== settlements.length)
    throw new RangeError(
      `settleRepairs: ${audit.length} audit entries for ${settlements.length} settlements; give one per settlement or none`,
    );
}

/** Outcomes of a rollback's inverse write after which the repair it undoes is undone: written, or found done. */
const UNDOING: ReadonlySet<RepairOutcome> = new Set(["rolled-back", "noop"]);

/**
 * The repairs that settled inverse writes undid, as the ledger records them now: for each settled row (as
 * stored, after its settlement) that is `rolled-back` or `noop` and whose `undoes` holds (`checkUndoes`), the
 * repair it names, when that is still `applied` on the same target with the fingerprint the inverse expected,
 * marked `rolled-back` at `updatedAt` of the row's settlement. A store writes them in the settlement's own
 * transaction (see RepairLedger, "Settling"), so no kill leaves a repair `applied` whose undoing is recorded.
 */
export function undoneBySettled(
  settled: readonly LedgerEntry[],
  originals: ReadonlyMap<string, LedgerEntry>,
): LedgerEntry[] {
  const out = new Map<string, LedgerEntry>();
  for (const inverse of settled) {
    if (inverse.undoes === undefined || !UNDOING.has(inverse.outcome)) continue;
    const o = originals.get(inverse.undoes);
    if (!o || checkUndoes(inverse, o) !== "ok") continue;
    if (o.outcome !== "applied" || o.target !== inverse.target || o.nextFingerprint !== inverse.expected)
      continue;
    out.set(o.id, { ...o, outcome: "rolled-back", updatedAt: inverse.updatedAt });
  }
  return [...out.values()];
}

/**
 * The settlements at `taken` (those that took effect) whose outcome may undo a repair (`rolled-back`, `noop`):
 * the only rows `undoneBySettled` can act on, so a run's ordinary `applied` batch reads nothing more.
 */
export function undoingSettled(
  settlements: readonly RepairSettlement[],
  taken: readonly number[],
): RepairSettlement[] {
  const out: RepairSettlement[] = [];
  for (const i of taken) if (UNDOING.has(settlements[i]!.outcome)) out.push(settlements[i]!);
  return out;
}

/**
 * The repairs settled inverse writes name as the ones they undo (what `undoneBySettled` needs read), each
 * once: an inverse write is of its repair's own key.
 */
export function undoneRefs(settled: readonly LedgerEntry[]): RepairRef[] {
  const out = new Map<string, RepairRef>();
  for (const e of settled)
    if (e.undoes !== undefined && UNDOING.has(e.outcome)) out.set(e.undoes, { id: e.undoes, key: e.key });
  return [...out.values()];
}
