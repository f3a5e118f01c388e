/** Which repair a rollback's write undoes: the id `concord rollback` gives it, and the check of a row's `undoes`. Pure. */
import { fingerprintRow } from "./fingerprint.js";
import type { Key } from "./model.js";
import { repairId, repairOf } from "./repair-id.js";

/** What a rollback's id follows from: the repair's row (dataset, key, target, what it wrote, its before image). */
export interface UndoneRepair {
  readonly id: string;
  readonly dataset: string;
  readonly key: Key;
  readonly target: string;
  /** The fingerprint the repair wrote (null: a delete); its rollback expects it. */
  readonly nextFingerprint: string | null;
  /** The target's values before the repair (null: absent); its rollback writes them back. */
  readonly before: readonly (string | null)[] | null;
}

/**
 * The id of the rollback of `repair`: the write from what the repair wrote back to its before image (a delete
 * where there was none), on the same dataset, key and target. The same repair undone twice is one id.
 */
export function rollbackId(repair: Omit<UndoneRepair, "id">): string {
  const restored = repair.before ? fingerprintRow(repair.key, repair.before) : null;
  return repairId(repair.dataset, repair.key, repair.target, repair.nextFingerprint, restored);
}

/**
 * Whether a ledger row's `undoes` holds: `ok` when it names none, or names `undone` and the row is that
 * repair's rollback (its id, up to the episode suffix, is `rollbackId(undone)`); `unknown` when the ledger
 * holds no repair by that name of the row's key (`undone` undefined, or another id: an inverse write is of its
 * repair's own key, and the ledger finds a repair by key and id); `not-its-rollback` otherwise. One rule for
 * `concord audit verify` and for recovery, which records a landed write of a row whose `undoes` holds as that
 * repair's rollback and marks the repair undone: an edited `undoes` must not make it mark another.
 */
export function checkUndoes(
  row: { readonly id: string; readonly undoes?: string | undefined },
  undone: UndoneRepair | undefined,
): "ok" | "unknown" | "not-its-rollback" {
  if (row.undoes === undefined) return "ok";
  if (!undone || undone.id !== row.undoes) return "unknown";
  return repairOf(row.id) === rollbackId(undone) ? "ok" : "not-its-rollback";
}
