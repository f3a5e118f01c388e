/** What every store's errors file shares: the socket failures Node reports, and one-line redacted ConnectorErrors. No I/O. */
import { redactText } from "../config/redact.js";
import { RowError } from "../core/row-codec.js";
import { ConnectorError } from "./connector.js";

/** Node socket errors meaning the server could not be reached (nothing was sent), whatever the driver. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EAI_AGAIN",
]);

/** Node socket errors meaning an established connection broke mid-conversation, whatever the driver. */
export const BROKEN_CONNECTION_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE"]);

/** The `code` of a driver error (a Node socket code, a SQLSTATE, a driver's name), or "". */
export function errorCode(err: unknown): string {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
}

/** The message of anything thrown (a value error without the label the wrapping error names again). */
export function errorMessage(err: unknown): string {
  if (err instanceof RowError) return err.unlabelled;
  return err instanceof Error ? err.message : String(err);
}

/** A ConnectorError reading `label: text` on one line, with credentials redacted (no label: `text`). */
export function connectorErrorLine(label: string, text: string, timedOut = false): ConnectorError {
  return new ConnectorError(oneLine(`${label ? `${label}: ` : ""}${text}`), { timedOut });
}

/** Text redacted and folded onto one line. */
export function oneLine(text: string): string {
  return redactText(text).replace(/\s*\n\s*/g, " ");
}
