/** Bearer-token check for /api: constant-time, and never reveals or logs the token. */
import { createHash, timingSafeEqual } from "node:crypto";

/** Why a request was refused; the text is safe to send back (it never contains the token). */
export type BearerVerdict = { readonly ok: true } | { readonly ok: false; readonly error: string };

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * Returns a check of `Authorization` header values against `token`. Both sides are hashed first, so the
 * comparison is over equal-length digests and takes the same time whatever the presented value's length
 * or content; the scheme name is case-insensitive (RFC 9110).
 */
export function createBearerCheck(token: string): (header: string | undefined) => BearerVerdict {
  if (token.length === 0) throw new Error("the API token must not be empty");
  const expected = digest(token);
  return (header) => {
    if (header === undefined || header === "") {
      return { ok: false, error: "missing Authorization: Bearer <token> header" };
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return { ok: false, error: "Authorization header must be 'Bearer <token>'" };
    return timingSafeEqual(digest(match[1]!), expected)
      ? { ok: true }
      : { ok: false, error: "invalid token" };
  };
}
