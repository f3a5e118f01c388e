/** PostgreSQL's errors: one-line ConnectorError messages without credentials, and which failures are transient. No I/O. */

import { RowError } from "../../core/row-codec.js";
import { isStoreTimeout } from "../../deadlines/bound-silence.js";
import { ConnectorError } from "../connector.js";
import { BROKEN_CONNECTION_CODES, connectorErrorLine, UNREACHABLE_CODES } from "../connector-errors.js";

interface PgErrorLike {
  readonly code?: string;
  readonly message?: string;
}

function fields(err: unknown): PgErrorLike {
  if (err instanceof RowError) return { message: err.unlabelled };
  return err !== null && typeof err === "object" ? (err as PgErrorLike) : { message: String(err) };
}

/**
 * What node-postgres rejects a connect with when its own connect deadline (`connectionTimeoutMillis`, set to
 * `timeouts.connect`) fires before the TCP handshake completes (a host that drops packets): no code, and the
 * words of a connection the server closed. Tagged by `connectFailed` so it reads as what it is.
 */
export class PgConnectFailed extends Error {
  override readonly name = "PgConnectFailed";
}

/**
 * A checkout's failure as the error to report: a connection that ended before the session was set up (the
 * codeless "Connection terminated unexpectedly") never reached the server, whatever node-postgres calls it.
 */
export function connectFailed(err: unknown): unknown {
  const e = fields(err);
  if (e.code === undefined && e.message === "Connection terminated unexpectedly")
    return new PgConnectFailed(
      "no answer within timeouts.connect, or the connection was closed before the session began",
      { cause: err },
    );
  return err;
}

/** True when the driver could not reach the server (nothing was sent). */
function unreachable(e: PgErrorLike): boolean {
  const message = e.message ?? "";
  return (
    (e.code !== undefined && UNREACHABLE_CODES.has(e.code)) ||
    message.includes("timeout exceeded when trying to connect") ||
    message.includes("Connection terminated due to connection timeout")
  );
}

/**
 * What went wrong, in one line: the common failures get a sentence a user can act on (server unreachable,
 * authentication, missing database or table, permission, statement timeout); anything else keeps the
 * server's message and SQLSTATE.
 */
export function describePgError(err: unknown, where: { table: string; server: string }): string {
  const e = fields(err);
  const message = e.message ?? "unknown error";
  const at = where.server ? ` at ${where.server}` : "";
  if (isStoreTimeout(err))
    return err.phase === "connect" ? `cannot reach the PostgreSQL server${at}: ${message}` : message;
  if (err instanceof PgConnectFailed) return `cannot reach the PostgreSQL server${at} (${message})`;
  if (unreachable(e)) {
    const timedOut = e.code === undefined && /timeout/i.test(message);
    return `cannot reach the PostgreSQL server${at} (${e.code ?? message}${timedOut ? "; timeouts.connect" : ""})`;
  }
  switch (e.code) {
    case "28P01":
    case "28000":
      return `authentication failed${at}: ${message}`;
    case "3D000":
      return `database does not exist${at}: ${message}`;
    case "42P01":
      return `table ${where.table} does not exist: ${message}`;
    case "3F000":
      return `schema of table ${where.table} does not exist: ${message}`;
    case "42501":
      return `permission denied on ${where.table}: ${message}`;
    case "57014":
      return `statement timed out or was cancelled (statement_timeout; timeouts.statement): ${message}`;
    case "25006":
      return `the connection is read-only: ${message}`;
    // Node's URL parser refusing the connection string (a port that is not a number, a bad IPv6 host): not a
    // server's SQLSTATE, and the string itself (password redacted) says more than "Invalid URL".
    case "ERR_INVALID_URL":
      return `invalid URL${where.server ? ` ${where.server}` : ""}`;
    case undefined:
      return message;
    default:
      return `${message} (SQLSTATE ${e.code})`;
  }
}

/**
 * SQLSTATEs after which repeating a read can succeed: connection exceptions (class 08), serialization
 * failure, deadlock, too many connections, and the server shutting down or starting (57P01–57P03).
 */
const TRANSIENT_SQLSTATES: ReadonlySet<string> = new Set([
  "40001",
  "40P01",
  "53300",
  "57P01",
  "57P02",
  "57P03",
]);

/** Node socket codes after which a read can be repeated: refused or broken, or a DNS lookup that may answer next time. */
const TRANSIENT_SOCKET_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "EAI_AGAIN",
  ...BROKEN_CONNECTION_CODES,
]);

/**
 * Errors after which repeating a read can succeed: the connection was refused, reset or terminated, the
 * server is starting or shutting down, too many connections, a serialization failure or deadlock. A
 * connect timeout has already waited long; statement timeouts, missing objects and permission errors
 * would fail again. None of these is retried for writes.
 */
export function isPostgresTransient(err: unknown): boolean {
  // As transient as the "Connection terminated unexpectedly" it stands for.
  if (err instanceof PgConnectFailed) return true;
  const e = fields(err);
  const code = e.code ?? "";
  if (TRANSIENT_SOCKET_CODES.has(code)) return true;
  if (/Connection terminated unexpectedly|Client has encountered a connection error/.test(e.message ?? ""))
    return true;
  return code.startsWith("08") || TRANSIENT_SQLSTATES.has(code);
}

/** A ConnectorError: `label: what: detail`, redacted and on one line. Passes ConnectorErrors through. */
export function postgresError(
  label: string,
  what: string,
  err: unknown,
  where: { table: string; server: string },
): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = fields(err);
  const timedOut =
    isStoreTimeout(err) || (unreachable(e) && e.code === undefined && /timeout/i.test(e.message ?? ""));
  return connectorErrorLine(label, `${what}: ${describePgError(err, where)}`, timedOut);
}
