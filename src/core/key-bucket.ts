/** Key-hash buckets: which of `modulus` buckets a key falls in, the same in every store. Pure: hashing only, no I/O. */
import { hash } from "node:crypto";
import { type CanonicalValue, encodeRow } from "./canonical.js";

/**
 * The hash of a key that every store can compute in SQL: the first 32 bits of MD5 over the key's
 * canonical encoding (`encodeRow` of its parts), as an unsigned integer. Independent of collation and key
 * order, so replicas that order text differently (or cannot order it by an index) still agree on it.
 */
export function keyHash32(key: readonly CanonicalValue[]): number {
  return Number.parseInt(hash("md5", encodeRow(key), "hex").slice(0, 8), 16);
}

/**
 * The bucket of `key` among `modulus` buckets: `keyHash32(key) mod modulus`. Buckets refine: the rows of
 * bucket b at modulus m are the rows of buckets b + i·m (0 ≤ i < f) at modulus m·f, which is how a
 * differing bucket is split without knowing any key.
 */
export function keyBucket(key: readonly CanonicalValue[], modulus: number): number {
  return keyHash32(key) % modulus;
}

/** Largest modulus a bucket may be taken at: the hash has 32 bits. */
export const MAX_BUCKET_MODULUS = 2 ** 32;
