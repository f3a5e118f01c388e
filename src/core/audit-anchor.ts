/** Signed anchors of the audit chain's head, and checking a chain against them. Pure: signing only, no I/O, no clock. */
import { createHash, type KeyObject, sign, verify } from "node:crypto";
import { type AuditEntry, canonicalJson, GENESIS_HASH } from "./audit-chain.js";

/**
 * A signed statement that the audit log held `seq` entries and that entry `seq` had hash `hash` (seq 0:
 * the empty log, hash GENESIS_HASH). Kept outside the state store, it makes removing entries from the
 * end, or rewriting the chain with recomputed hashes, detectable up to the anchored entry.
 */
export interface AuditAnchor {
  /** Format version: 1. */
  readonly v: 1;
  readonly seq: number;
  readonly hash: string;
  /** When it was signed, in epoch milliseconds (the caller's clock). */
  readonly at: number;
  /** `anchorKeyId` of the public key that verifies `sig`. */
  readonly key: string;
  /** Ed25519 signature over `anchorPayload`, base64. */
  readonly sig: string;
}

/** The first 16 hex digits of SHA-256 over the public key's SPKI DER: names the key in anchors and messages. */
export function anchorKeyId(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * The bytes an anchor's signature covers: a domain line, then the canonical JSON of every field but the
 * signature, so a signature made for anything else never verifies as an anchor.
 */
export function anchorPayload(a: Omit<AuditAnchor, "sig">): Buffer {
  const body = canonicalJson({ v: a.v, seq: a.seq, hash: a.hash, at: a.at, key: a.key });
  return Buffer.from(`concord audit anchor\n${body}`, "utf8");
}

/** Signs the head `{ seq, hash }` at time `at` with an Ed25519 private key. */
export function signAuditAnchor(
  head: { readonly seq: number; readonly hash: string },
  at: number,
  privateKey: KeyObject,
  publicKey: KeyObject,
): AuditAnchor {
  const unsigned = { v: 1 as const, seq: head.seq, hash: head.hash, at, key: anchorKeyId(publicKey) };
  return { ...unsigned, sig: sign(null, anchorPayload(unsigned), privateKey).toString("base64") };
}

/** True when `sig` is a valid signature of the anchor by `publicKey`. */
export function verifyAnchorSignature(anchor: AuditAnchor, publicKey: KeyObject): boolean {
  try {
    return verify(null, anchorPayload(anchor), publicKey, Buffer.from(anchor.sig, "base64"));
  } catch {
    return false;
  }
}

/** The anchor as one line of the anchor log (canonical JSON, no newline). */
export function formatAuditAnchor(anchor: AuditAnchor): string {
  return canonicalJson(anchor);
}

/** Reads one line of an anchor log: the anchor, or why the line is not one. */
export function parseAuditAnchor(line: string): AuditAnchor | { readonly problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { problem: "not JSON" };
  }
  const o = v as Record<string, unknown>;
  if (!o || typeof o !== "object" || Array.isArray(o)) return { problem: "not a JSON object" };
  if (o.v !== 1) return { problem: `unknown anchor format ${JSON.stringify(o.v)}` };
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 0) return { problem: "seq is not a count" };
  if (typeof o.hash !== "string" || !/^[0-9a-f]{64}$/.test(o.hash))
    return { problem: "hash is not SHA-256 hex" };
  if (!Number.isSafeInteger(o.at)) return { problem: "at is not a time" };
  if (typeof o.key !== "string" || typeof o.sig !== "string") return { problem: "key or sig is missing" };
  return { v: 1, seq: o.seq as number, hash: o.hash, at: o.at as number, key: o.key, sig: o.sig };
}

/** An anchor read from a log, with where it was read (for messages). */
export interface LocatedAnchor {
  readonly anchor: AuditAnchor;
  /** "FILE line N". */
  readonly where: string;
}

/** What checking the chain against its anchors found. */
export type AnchorVerdict =
  | {
      readonly ok: true;
      /** Anchors checked. */
      readonly anchors: number;
      /** The anchor with the highest seq (the most recent head vouched for), if any. */
      readonly latest?: AuditAnchor | undefined;
      /** Entries after the latest anchor: nothing outside the state store vouches for them yet. */
      readonly unanchored: number;
    }
  | { readonly ok: false; readonly problem: string };

function when(at: number): string {
  return Number.isFinite(at) ? new Date(at).toISOString() : String(at);
}

/**
 * Checks anchors against a chain streamed in seq order (after, or alongside, `AuditChainVerifier`): every
 * anchor must be signed by `publicKey` and name the hash the entry at its seq has; an anchor past the last
 * entry means entries were removed from the end. Holds the anchors (sorted by seq) and one entry.
 */
export class AnchorChecker {
  private readonly anchors: LocatedAnchor[];
  private next = 0;
  private failure: string | undefined;
  private count = 0;

  constructor(anchors: readonly LocatedAnchor[], publicKey: KeyObject) {
    const keyId = anchorKeyId(publicKey);
    for (const a of anchors) {
      if (!verifyAnchorSignature(a.anchor, publicKey)) {
        this.failure =
          a.anchor.key === keyId
            ? `the anchor at ${a.where} (entry ${a.anchor.seq}) has a signature that does not verify: it was altered or forged`
            : `the anchor at ${a.where} was signed by key ${a.anchor.key}, not by audit.anchor.publicKey (key ${keyId})`;
        break;
      }
    }
    this.anchors = [...anchors].sort((x, y) => x.anchor.seq - y.anchor.seq);
    // Anchors of the empty log vouch for nothing to compare.
    while (this.anchors[this.next]?.anchor.seq === 0) this.check(this.anchors[this.next++]!, GENESIS_HASH);
  }

  /** Checks the next entry of the chain (seq order, from 1). */
  push(entry: AuditEntry): void {
    if (this.failure) return;
    this.count = entry.seq;
    while (this.anchors[this.next]?.anchor.seq === entry.seq)
      this.check(this.anchors[this.next++]!, entry.hash);
  }

  private check(a: LocatedAnchor, hash: string): void {
    if (this.failure || a.anchor.hash === hash) return;
    this.failure = `entry ${a.anchor.seq} does not match the anchor of ${when(a.anchor.at)} (${a.where}): the log was rewritten at or before entry ${a.anchor.seq}`;
  }

  /** The verdict once the whole chain (`count` entries, verified intact) has been pushed. */
  verdict(count: number): AnchorVerdict {
    if (this.failure) return { ok: false, problem: this.failure };
    const beyond = this.anchors[this.next];
    if (beyond) {
      return {
        ok: false,
        problem: `the log ends at entry ${count}, but the anchor of ${when(beyond.anchor.at)} (${beyond.where}) vouches for entry ${beyond.anchor.seq}: entries were removed from the end`,
      };
    }
    const latest = this.anchors.at(-1)?.anchor;
    return { ok: true, anchors: this.anchors.length, latest, unanchored: count - (latest?.seq ?? 0) };
  }

  /** Entries pushed so far (the last seq). */
  get pushed(): number {
    return this.count;
  }
}
