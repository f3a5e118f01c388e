/** Bearer-token check for /api: constant-time, and never reveals or logs a token. */
import { createHash, timingSafeEqual } from "node:crypto";

/** A token with the name requests presenting it act as (recorded as who resolved an escalation). */
export interface NamedToken {
  readonly name: string;
  readonly token: string;
}

/**
 * Why a request was refused, or whose token it presented (`name`: undefined for the one unnamed token).
 * The error text is safe to send back (it never contains a token).
 */
export type BearerVerdict =
  | { readonly ok: true; readonly name?: string | undefined }
  | { readonly ok: false; readonly error: string };

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * Returns a check of `Authorization` header values against `tokens` (one token, or several named ones).
 * Both sides are hashed first, so each comparison is over equal-length digests and takes the same time
 * whatever the presented value's length or content, and every token is compared (no early exit); the
 * scheme name is case-insensitive (RFC 9110).
 */
export function createBearerCheck(
  tokens: string | readonly NamedToken[],
): (header: string | undefined) => BearerVerdict {
  const list: readonly { name?: string; token: string }[] =
    typeof tokens === "string" ? [{ token: tokens }] : tokens;
  if (list.length === 0 || list.some((t) => t.token.length === 0))
    throw new Error("the API token must not be empty");
  const expected = list.map((t) => ({ name: t.name, digest: digest(t.token) }));
  return (header) => {
    if (header === undefined || header === "") {
      return { ok: false, error: "missing Authorization: Bearer <token> header" };
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return { ok: false, error: "Authorization header must be 'Bearer <token>'" };
    const presented = digest(match[1]!);
    let found: { name?: string | undefined } | undefined;
    for (const e of expected) if (timingSafeEqual(presented, e.digest) && !found) found = e;
    return found ? { ok: true, name: found.name } : { ok: false, error: "invalid token" };
  };
}
