/** The error a state store reports when it cannot be opened or used as configured. No driver imports. */

/**
 * A state store that cannot be opened (bad URL, unreachable server, failed migration). The message is one
 * line that names the store, with any password redacted, so the CLI prints it as is.
 */
export class StateStoreError extends Error {
  override readonly name = "StateStoreError";
}

/**
 * A pass checkpoint that is not one `putCheckpoint` could have written (edited or damaged). A StateStoreError
 * like any other (the CLI prints it as is), told apart from a store that is locked or unreachable, where
 * the checkpoint itself may be sound: only this one is reported as a damaged checkpoint.
 */
export class DamagedCheckpointError extends StateStoreError {}

/**
 * A state row whose JSON column does not parse (edited or damaged). A StateStoreError (the CLI prints it as
 * is, one line naming the table, the row and the column), told apart so that `audit verify` reports a damaged
 * ledger row as a finding rather than a store it could not read.
 */
export class DamagedRowError extends StateStoreError {}
