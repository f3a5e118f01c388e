/** Which keys a staged rollout applies a candidate policy to: a deterministic share of keys by key hash. Pure. */
import { hash } from "node:crypto";
import { type Key, keyId } from "./model.js";

/**
 * The key's point in [0, 1): the first 48 bits of SHA-256 over its `keyId` text, as a fraction. The same key
 * always has the same point, in every process and store.
 */
export function keyPoint(key: Key): number {
  return Number.parseInt(hash("sha256", keyId(key), "hex").slice(0, 12), 16) / 2 ** 48;
}

/**
 * True when a rollout at `fraction` (0 to 1) applies the candidate to `key`: its point is below the
 * fraction. Deterministic, and monotonic: a key in the canary at one step stays in it at every larger step.
 */
export function inCanary(key: Key, fraction: number): boolean {
  return fraction >= 1 || (fraction > 0 && keyPoint(key) < fraction);
}
