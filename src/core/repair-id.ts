/** Repair identity: the same intended write on the same observed state always has the same id. Pure. */
import { hash } from "node:crypto";
import { type Key, keyId } from "./model.js";

/**
 * hash(dataset, key, target, fingerprint expected on the target or absence, fingerprint to write or
 * absence), as 24 hex digits. Re-detecting the same divergence yields the same id, so the ledger can tell
 * a repair already carried out; a target that changed meanwhile yields a new id.
 */
export function repairId(
  dataset: string,
  key: Key,
  target: string,
  expected: string | null,
  next: string | null,
): string {
  return hash(
    "sha256",
    [dataset, keyId(key), target, expected ?? "absent", next ?? "absent"].join("\u0000"),
    "hex",
  ).slice(0, 24);
}

/**
 * The id of a repair's `n`th episode (n ≥ 2): the same write carried out again after the target went back to
 * the state it was repaired from, under an id of its own so the ledger still applies each id at most once.
 */
export function episodeId(id: string, n: number): string {
  return `${id}~${n}`;
}

/** The repair an id belongs to: the id itself, or the first episode's of a later episode (`episodeId`). */
export function repairOf(id: string): string {
  const at = id.lastIndexOf("~");
  return at < 0 ? id : id.slice(0, at);
}

/** Escalation identity: one open escalation per (dataset, key, class, observed state). */
export function escalationId(
  dataset: string,
  key: Key,
  cls: string,
  observed: readonly (string | null)[],
): string {
  // The first 8 bytes' hex, made as a string of its own: a slice of the whole digest's hex would keep all 64
  // characters alive for as long as a run keeps the id (every open escalation of the dataset).
  return hash(
    "sha256",
    [dataset, keyId(key), cls, ...observed.map((o) => o ?? "absent")].join("\u0000"),
    "buffer",
  ).toString("hex", 0, 8);
}
