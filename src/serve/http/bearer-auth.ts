/** Bearer-token check for /api: constant-time, tokens known by hash, and never reveals or logs a token. */
import { timingSafeEqual } from "node:crypto";
import type { Role } from "../../core/roles.js";
import { parseTokenHash, type TokenHash, tokenDigest, tokenMatches } from "../../core/token-hash.js";

/** A token with the name requests presenting it act as (`token:<name>` in the audit); admin unless a role is given. */
export interface NamedToken {
  /** Undefined for the one unnamed token (`serve.token`): requests then act as "api". */
  readonly name: string | undefined;
  readonly token: string;
  readonly role?: Role | undefined;
}

/** A token known only by its hash (`serve.tokens`), with its name and role. */
export interface HashedToken {
  readonly name: string;
  readonly hash: string;
  readonly role: Role;
}

/**
 * Why a request was refused, or whose token it presented and its role (`name`: undefined for the one unnamed
 * token, `serve.token`, which is admin). The error text is safe to send back (it never contains a token).
 */
export type BearerVerdict =
  | { readonly ok: true; readonly name?: string | undefined; readonly role: Role }
  | { readonly ok: false; readonly error: string };

interface Known {
  readonly name?: string | undefined;
  readonly role: Role;
  readonly hash: TokenHash;
}

/** Presented tokens that matched no scrypt hash, remembered so a flood of bad tokens costs one scrypt each. */
const MISSES_KEPT = 10_000;

/**
 * Returns a check of `Authorization` header values against `tokens` (one admin token, or several named ones,
 * in plain text or by hash). The presented token is hashed first, so each comparison is over equal-length
 * digests and takes the same time whatever its length or content, and every SHA-256 entry is compared (no
 * early exit); scrypt entries are tried only when none matched, and a token's outcome against them is
 * cached by its digest. The scheme name is case-insensitive (RFC 9110).
 */
export function createBearerCheck(
  tokens: string | readonly (NamedToken | HashedToken)[],
): (header: string | undefined) => BearerVerdict {
  const list: readonly (NamedToken | HashedToken | { token: string; role: Role; name?: undefined })[] =
    typeof tokens === "string" ? [{ token: tokens, role: "admin" }] : tokens;
  if (list.length === 0) throw new Error("the API token must not be empty");
  const known: Known[] = list.map((t) => {
    if ("token" in t) {
      if (t.token.length === 0) throw new Error("the API token must not be empty");
      return {
        name: t.name,
        role: t.role ?? "admin",
        hash: { kind: "sha256", digest: tokenDigest(t.token) },
      };
    }
    const hash = parseTokenHash(t.hash);
    if (!hash) throw new Error(`API token ${t.name}: not a token hash`);
    return { name: t.name, role: t.role, hash };
  });
  const digests = known.filter((k) => k.hash.kind === "sha256");
  const slow = known.filter((k) => k.hash.kind === "scrypt");
  const hits = new Map<string, Known>();
  const misses = new Set<string>();
  return (header) => {
    if (header === undefined || header === "") {
      return { ok: false, error: "missing Authorization: Bearer <token> header" };
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return { ok: false, error: "Authorization header must be 'Bearer <token>'" };
    const presented = tokenDigest(match[1]!);
    let found: Known | undefined;
    for (const k of digests)
      if (timingSafeEqual(presented, (k.hash as { digest: Buffer }).digest) && !found) found = k;
    if (!found && slow.length) {
      const id = presented.toString("hex");
      found = hits.get(id);
      if (!found && !misses.has(id)) {
        found = slow.find((k) => tokenMatches(k.hash, match[1]!));
        if (found) hits.set(id, found);
        else {
          if (misses.size >= MISSES_KEPT) misses.clear();
          misses.add(id);
        }
      }
    }
    return found ? { ok: true, name: found.name, role: found.role } : { ok: false, error: "invalid token" };
  };
}
