/** Redis's errors: one-line ConnectorError messages without credentials, naming the connection's state. No I/O. */

import { isStoreTimeout } from "../../deadlines/bound-silence.js";
import { ConnectorError } from "../connector.js";
import { errorMessage, oneLine } from "../connector-errors.js";

/**
 * A ConnectorError for `what` failing with `err` (none: `what` says it all): `label` (ending in ": " when
 * set), then the reason, then the connection's state unless it is ready. Passes ConnectorErrors through.
 * Nothing is retried here: ioredis reconnects, and a command that failed on a lost connection is the
 * caller's to repeat (every write is conditional).
 */
export function redisError(label: string, what: string, err: unknown, status: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const detail = err === undefined ? "" : `: ${errorMessage(err)}`;
  const state = status === "ready" ? "" : ` (connection ${status})`;
  return new ConnectorError(oneLine(`${label}${what}${detail}${state}`), { timedOut: isStoreTimeout(err) });
}
