/** The error a state store reports when it cannot be opened or used as configured. No driver imports. */

/**
 * A state store that cannot be opened (bad URL, unreachable server, failed migration). The message is one
 * line that names the store, with any password redacted, so the CLI prints it as is.
 */
export class StateStoreError extends Error {
  override readonly name = "StateStoreError";
}
