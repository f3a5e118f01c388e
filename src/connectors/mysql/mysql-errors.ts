/** MariaDB/MySQL's errors: one-line ConnectorError messages without credentials, and which failures are transient. No I/O. */

import { isStoreTimeout } from "../../deadlines/bound-silence.js";
import { ConnectorError } from "../connector.js";
import {
  BROKEN_CONNECTION_CODES,
  errorCode,
  errorMessage,
  oneLine,
  UNREACHABLE_CODES,
} from "../connector-errors.js";

/** The server could not be reached or the connection is gone: Node's socket codes and mysql2's own. */
const UNREACHABLE: ReadonlySet<string> = new Set([
  ...UNREACHABLE_CODES,
  ...BROKEN_CONNECTION_CODES,
  "PROTOCOL_CONNECTION_LOST",
]);
const ACCESS_DENIED: ReadonlySet<string> = new Set([
  "ER_ACCESS_DENIED_ERROR",
  "ER_DBACCESS_DENIED_ERROR",
  "ER_TABLEACCESS_DENIED_ERROR",
  "ER_COLUMNACCESS_DENIED_ERROR",
  "ER_ACCESS_DENIED_NO_PASSWORD_ERROR",
]);
/** Server-side statement timeouts: MariaDB max_statement_time, MySQL MAX_EXECUTION_TIME; client-side backstop. */
const TIMED_OUT: ReadonlySet<string> = new Set([
  "ER_STATEMENT_TIMEOUT",
  "ER_QUERY_TIMEOUT",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_LOCK_WAIT_TIMEOUT",
]);
/** Failures after which repeating a read may succeed and cannot do harm (a connect timeout already waited long). */
const TRANSIENT: ReadonlySet<string> = new Set([
  ...[...UNREACHABLE].filter((code) => code !== "ETIMEDOUT"),
  "ER_CON_COUNT_ERROR",
  "ER_LOCK_DEADLOCK",
  "ER_LOCK_WAIT_TIMEOUT",
]);
/**
 * Failures that rolled a whole write transaction back, so the batch can be tried again from the start: a
 * deadlock, or a duplicate key (a concurrent insert under READ COMMITTED, where absent keys are not
 * gap-locked).
 */
const ROLLED_BACK: ReadonlySet<string> = new Set(["ER_LOCK_DEADLOCK", "ER_DUP_ENTRY"]);

/** Server error numbers mysql2 has no name for (it knows MySQL's list, not MariaDB's additions). */
const MARIADB_CODES: Readonly<Record<number, string>> = { 1969: "ER_STATEMENT_TIMEOUT" };

/** mysql2's name for an error ("ER_NO_SUCH_TABLE", "ECONNREFUSED"), MariaDB's numbers included. */
export function mysqlErrorCode(err: unknown): string {
  if (typeof err !== "object" || err === null) return "";
  const errno = "errno" in err ? Number(err.errno) : 0;
  return MARIADB_CODES[errno] ?? errorCode(err);
}

/** True when repeating a read that failed with `err` may succeed and cannot do harm. */
export function isMysqlTransient(err: unknown): boolean {
  if (err instanceof MysqlConnectorError) return err.transient;
  return TRANSIENT.has(mysqlErrorCode(err));
}

/** True when the write transaction that failed with `err` was rolled back whole and may be repeated. */
export function isMysqlRolledBack(err: unknown): boolean {
  return ROLLED_BACK.has(mysqlErrorCode(err));
}

/** True when the connection that produced `err` must not go back to the pool. */
export function isMysqlFatal(err: unknown): boolean {
  if (typeof err === "object" && err !== null && "fatal" in err && err.fatal) return true;
  const code = mysqlErrorCode(err);
  return UNREACHABLE.has(code) || code === "PROTOCOL_SEQUENCE_TIMEOUT" || isStoreTimeout(err);
}

/** A ConnectorError that remembers whether the failure was transient (so a read may be repeated). */
export class MysqlConnectorError extends ConnectorError {
  constructor(
    message: string,
    readonly transient: boolean,
    timedOut = false,
  ) {
    super(message, { timedOut });
  }
}

/** A date with a zero year, month or day (0000-00-00, 2024-00-15), as the engine names it in a refusal to read it. */
const ZERO_DATE = /"(\d{4}-00-\d\d|\d{4}-\d\d-00)[ T0-9:.Z]*" is not a timestamp/;

/**
 * A value the column cannot hold as it is (a double in a FLOAT, a fraction past DATETIME's digits): refused
 * before anything is sent, so the store never rounds or clips it silently. The message names the column, its
 * type and the value; `mysqlError` puts the replica's label in front.
 */
export class UnstorableValueError extends ConnectorError {}

/**
 * A ConnectorError with one line: label, what failed, and why (credentials redacted); the common failures
 * get a sentence a user can act on. Passes ConnectorErrors through.
 */
export function mysqlError(label: string, where: string, what: string, err: unknown): ConnectorError {
  if (err instanceof UnstorableValueError)
    return new MysqlConnectorError(oneLine(`${label}: ${err.message}`), false);
  if (err instanceof ConnectorError) return err;
  const code = mysqlErrorCode(err);
  const message = errorMessage(err);
  const at = oneLine(where);
  let text: string;
  if (isStoreTimeout(err))
    text = err.phase === "connect" ? `cannot reach ${at}: ${message}` : `${what}: ${message}`;
  else if (UNREACHABLE.has(code) || code === "ER_CON_COUNT_ERROR")
    text = `cannot reach ${at}: ${message}${code === "ETIMEDOUT" ? " (timeouts.connect)" : ""}`;
  else if (ACCESS_DENIED.has(code)) text = `access denied at ${at}: ${message}`;
  else if (code === "ER_BAD_DB_ERROR") text = `${message} at ${at}`;
  else if (code === "ER_LOCK_WAIT_TIMEOUT") text = `${what}: timed out (${message})`;
  // Like PostgreSQL's, a statement timeout names the server's limit and the config key that sets it.
  else if (TIMED_OUT.has(code))
    text = `${what}: timed out (max_statement_time / max_execution_time; timeouts.statement): ${message}`;
  else if (ZERO_DATE.test(message))
    text = `${what}: ${message} (a zero date, which MariaDB and MySQL allow and no calendar has: store NULL instead, or declare the column concord:text to compare it as text)`;
  else text = `${what}: ${message}`;
  const timedOut = isStoreTimeout(err) || code === "ETIMEDOUT";
  return new MysqlConnectorError(oneLine(`${label}: ${text}`), isMysqlTransient(err), timedOut);
}
