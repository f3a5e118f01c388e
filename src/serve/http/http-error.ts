/** HTTP error answers: maps the service's typed errors to statuses and keeps every reply one safe line. */
import { redactText } from "../../config/redact.js";
import { printable } from "../../core/printable.js";
import { ReplayError } from "../../engine/replay-dataset.js";
import { ResolveError } from "../../engine/resolve-escalation.js";
import { CanaryError } from "../canary-rollout.js";
import { ApprovalError } from "../policy-approval.js";
import { ReloadError } from "../reload-config.js";
import { TriggerError } from "../service-api.js";

/** An error whose message is meant for the client, answered with `statusCode`. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** What to answer for an error: status and a one-line message, or null for "internal error". */
export interface ErrorReply {
  readonly status: number;
  readonly message: string;
}

const RESOLVE_STATUS: Record<ResolveError["kind"], number> = {
  "not-found": 404,
  "not-open": 409,
  "bad-choice": 400,
  "unknown-dataset": 409,
  unconfirmed: 409,
};

const TRIGGER_STATUS: Record<TriggerError["kind"], number> = {
  "unknown-dataset": 404,
  busy: 409,
  stopping: 503,
  idle: 409,
  standby: 503,
  "bad-replica": 400,
  "not-replay": 409,
  "damaged-checkpoint": 409,
  // Locked or unreachable: the same request may succeed once the state store answers again.
  "state-store": 503,
};

/**
 * One line, at most 300 characters, credentials redacted, and inert: control and bidi characters (a dataset
 * name or path a client sent, echoed back) are written as escapes (`\u202e`), not obeyed by whatever shows it.
 */
export function oneLine(text: string): string {
  const line = printable(
    redactText(text)
      .replace(/\s*[\r\n]+\s*/g, " ")
      .trim(),
  );
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/**
 * The reply for an error thrown while handling a request. Client errors (ours, the service's typed ones,
 * and fastify's own 4xx such as malformed JSON) keep their message; anything else is a 500 whose details
 * stay in the log.
 */
export function errorReply(err: unknown): ErrorReply {
  if (err instanceof HttpError) return { status: err.statusCode, message: oneLine(err.message) };
  if (err instanceof ResolveError) return { status: RESOLVE_STATUS[err.kind], message: oneLine(err.message) };
  if (err instanceof TriggerError) return { status: TRIGGER_STATUS[err.kind], message: oneLine(err.message) };
  if (err instanceof ReloadError) return { status: 400, message: oneLine(err.message) };
  if (err instanceof CanaryError) return { status: 409, message: oneLine(err.message) };
  if (err instanceof ApprovalError) return { status: 409, message: oneLine(err.message) };
  if (err instanceof ReplayError) return { status: 409, message: oneLine(err.message) };
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500 && err instanceof Error) {
    return { status, message: oneLine(err.message) };
  }
  return { status: 500, message: "internal error" };
}
