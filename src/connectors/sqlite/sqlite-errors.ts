/** SQLite's errors: one-line ConnectorError messages. No I/O. */

import { ConnectorError } from "../connector.js";
import { connectorErrorLine, errorMessage } from "../connector-errors.js";

/**
 * A ConnectorError for `what` failing with `err`, as `label: what: reason`; ConnectorErrors pass through.
 * No SQLite failure is treated as transient: a locked database is waited for (the connection's busy
 * timeout) before it fails, and the file is local, so repeating a failed statement would fail again.
 */
export function sqliteError(label: string, what: string, err: unknown): ConnectorError {
  if (err instanceof ConnectorError) return err;
  return connectorErrorLine(label, `${what}: ${errorMessage(err)}`);
}
