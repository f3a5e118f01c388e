/** Turns driver and server errors into one-line ConnectorError messages without credentials, and says which are transient. */
import { redactText } from "../../config/redact.js";
import { ConnectorError } from "../connector.js";

interface PgErrorLike {
  readonly code?: string;
  readonly message?: string;
}

function fields(err: unknown): PgErrorLike {
  return err !== null && typeof err === "object" ? (err as PgErrorLike) : { message: String(err) };
}

const NETWORK = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EAI_AGAIN",
]);

/** True when the driver could not reach the server (nothing was sent). */
function unreachable(e: PgErrorLike): boolean {
  const message = e.message ?? "";
  return (
    (e.code !== undefined && NETWORK.has(e.code)) ||
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
  if (unreachable(e)) return `cannot reach the PostgreSQL server${at} (${e.code ?? message})`;
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
      return `statement timed out or was cancelled (statement_timeout): ${message}`;
    case "25006":
      return `the connection is read-only: ${message}`;
    case undefined:
      return message;
    default:
      return `${message} (SQLSTATE ${e.code})`;
  }
}

/**
 * Errors after which repeating a read can succeed: the connection was refused, reset or terminated, the
 * server is starting or shutting down, too many connections, a serialization failure or deadlock. A
 * connect timeout has already waited long; statement timeouts, missing objects and permission errors
 * would fail again. None of these is retried for writes.
 */
export function isTransient(err: unknown): boolean {
  const e = fields(err);
  const code = e.code ?? "";
  if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "EAI_AGAIN"].includes(code)) return true;
  if (/Connection terminated unexpectedly|Client has encountered a connection error/.test(e.message ?? ""))
    return true;
  return code.startsWith("08") || ["40001", "40P01", "53300", "57P01", "57P02", "57P03"].includes(code);
}

/** A ConnectorError: `label: what: detail`, redacted and on one line. Passes ConnectorErrors through. */
export function connectorError(
  label: string,
  what: string,
  err: unknown,
  where: { table: string; server: string },
): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const text = `${label ? `${label}: ` : ""}${what}: ${describePgError(err, where)}`;
  return new ConnectorError(redactText(text).replace(/\s*\n\s*/g, " "));
}
