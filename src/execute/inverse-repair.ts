/** The repair that undoes an applied one: what `concord rollback` claims and writes for each ledger entry. */
import { fingerprintRow } from "../core/fingerprint.js";
import { rollbackId } from "../core/rollback-of.js";
import type { LedgerEntry } from "../state/state-store.js";
import type { RepairTask } from "./execute-repairs.js";

/**
 * The inverse of an applied repair: the target taken from the repair's `after` image back to its `before`
 * (deleted where there was none), written only while the target still holds what the repair wrote. Its id
 * follows from that transition, so the same repair undone twice is one repair in the ledger; its claim names
 * the repair it undoes (`undoes`), so that recovery after a kill records a landed write as `rolled-back`.
 */
export function inverseRepair(e: LedgerEntry): RepairTask {
  const nextFingerprint = e.before ? fingerprintRow(e.key, e.before) : null;
  return {
    id: rollbackId(e),
    dataset: e.dataset,
    key: e.key,
    target: e.target,
    expected: e.nextFingerprint,
    next: e.before,
    nextFingerprint,
    before: e.after,
    action: e.before ? "propagate" : "delete",
    undoes: e.id,
  };
}
