/**
 * API token hashes, as config declares them (never the token itself): `sha256:<hex>` for random tokens,
 * `scrypt:<salt hex>:<key hex>` for ones a person picked. Pure: hashing only; the salt comes in as an argument.
 */
import { createHash, scryptSync, timingSafeEqual } from "node:crypto";

/** scrypt's cost parameters (N, r, p) and key length, fixed so a hash needs no more than salt and key. */
const SCRYPT = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_BYTES = 32;

/** A parsed token hash. */
export type TokenHash =
  | { readonly kind: "sha256"; readonly digest: Buffer }
  | { readonly kind: "scrypt"; readonly salt: Buffer; readonly key: Buffer };

/** Parses `sha256:<64 hex>` or `scrypt:<salt hex, 16+ bytes>:<64 hex>`; undefined when it is neither. */
export function parseTokenHash(text: string): TokenHash | undefined {
  const sha = /^sha256:([0-9a-f]{64})$/.exec(text);
  if (sha) return { kind: "sha256", digest: Buffer.from(sha[1]!, "hex") };
  const scrypt = /^scrypt:((?:[0-9a-f]{2}){16,}):([0-9a-f]{64})$/.exec(text);
  if (scrypt)
    return { kind: "scrypt", salt: Buffer.from(scrypt[1]!, "hex"), key: Buffer.from(scrypt[2]!, "hex") };
  return undefined;
}

/** The SHA-256 digest of a token (what a `sha256:` hash holds). */
export function tokenDigest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** The hash to declare for `token`: `sha256:…`, or `scrypt:…` with `salt` (16 random bytes or more). */
export function hashToken(token: string, kind: "sha256" | "scrypt", salt?: Buffer): string {
  if (kind === "sha256") return `sha256:${tokenDigest(token).toString("hex")}`;
  if (!salt || salt.length < 16) throw new Error("hashToken: scrypt needs a salt of at least 16 bytes");
  return `scrypt:${salt.toString("hex")}:${scryptSync(token, salt, KEY_BYTES, SCRYPT).toString("hex")}`;
}

/**
 * True when `token` is the one `hash` was made from. Constant-time over the digests; scrypt is deliberately
 * slow (tens of milliseconds), so callers cache a match by the token's SHA-256 digest.
 */
export function tokenMatches(hash: TokenHash, token: string): boolean {
  if (hash.kind === "sha256") return timingSafeEqual(tokenDigest(token), hash.digest);
  return timingSafeEqual(scryptSync(token, hash.salt, KEY_BYTES, SCRYPT), hash.key);
}
