/** Signs the audit log's head and appends it to the anchor log: `concord audit anchor`, and the hook a run calls when it finishes. */
import type { AuditConfig } from "../config/load-config.js";
import { type AuditAnchor, signAuditAnchor } from "../core/audit-anchor.js";
import { GENESIS_HASH, hashAuditEntry } from "../core/audit-chain.js";
import type { StateStore } from "../state/state-store.js";
import { loadSigningKeys } from "./anchor-keys.js";
import { appendAnchor, lastAnchor } from "./anchor-log.js";

/** Raised when the log no longer extends the last anchor: anchoring it would vouch for a rewritten log. */
export class AuditAnchorError extends Error {
  override readonly name = "AuditAnchorError";
}

/** What `writeAuditAnchor` did: the anchor of the head, and whether it was appended (false: already there). */
export interface AnchorResult {
  readonly anchor: AuditAnchor;
  readonly written: boolean;
}

const PAGE = 2000;

/**
 * Anchors the audit log's current head: signs { seq, hash } of its newest entry (seq 0 for an empty log)
 * with audit.anchor.privateKey and appends the anchor to audit.anchor.file. Contract:
 * - Does nothing and returns undefined when the config declares no anchoring, so a caller may call it
 *   unconditionally once a run has appended its audit entries (every CLI run; each `serve` pass).
 * - Never vouches for a rewritten log: the entries from the last anchor in the file to the head must
 *   chain to it (same hash at its seq, every later link intact), else AuditAnchorError. Reads only those
 *   entries, in pages of 2,000.
 * - When the head is the one the last anchor already names (same key), appends nothing (`written: false`).
 * - Throws ConfigError (one line, naming the path) when the signing key is missing or unusable, and
 *   AnchorLogError when the anchor log cannot be written.
 * `now` is the time recorded in the anchor (epoch ms).
 */
export async function writeAuditAnchor(
  state: StateStore,
  audit: AuditConfig,
  now: number,
): Promise<AnchorResult | undefined> {
  const config = audit.anchor;
  if (!config) return undefined;
  const { privateKey, publicKey } = loadSigningKeys(config);
  // The last anchor before the head: another process may anchor a newer head between the two reads, and an
  // anchor read after the head could then vouch for more than this process saw, which reads as a log cut short.
  // Read first, it names a head that existed before this one was read, so a log that only grows extends it.
  const base = lastAnchor(config.file);
  const newest = (await state.readAudit({ limit: 1, newest: true }))[0];
  const head = newest ? { seq: newest.seq, hash: newest.hash } : { seq: 0, hash: GENESIS_HASH };
  if (base) await checkExtends(state, base, head.seq, config.file);
  const anchor = signAuditAnchor(head, now, privateKey, publicKey);
  if (base && base.seq === head.seq && base.hash === head.hash && base.key === anchor.key)
    return { anchor: base, written: false };
  appendAnchor(config.file, anchor);
  return { anchor, written: true };
}

/** Checks that entries base.seq … headSeq chain from the anchored entry. */
async function checkExtends(
  state: StateStore,
  base: AuditAnchor,
  headSeq: number,
  file: string,
): Promise<void> {
  const refuse = (why: string) =>
    new AuditAnchorError(
      `refusing to anchor: ${why}, and the last anchor in ${file} vouches for entry ${base.seq} (run concord audit verify)`,
    );
  if (headSeq < base.seq) throw refuse(`the log ends at entry ${headSeq}`);
  let prevHash = base.seq === 0 ? GENESIS_HASH : undefined;
  let expected = base.seq === 0 ? 1 : base.seq;
  while (expected <= headSeq) {
    const page = await state.readAudit({ fromSeq: expected, limit: PAGE });
    if (page.length === 0) break;
    for (const e of page) {
      if (e.seq > headSeq) return;
      if (e.seq !== expected) throw refuse(`entry ${expected} is missing`);
      if (prevHash === undefined) {
        if (e.hash !== base.hash) throw refuse(`entry ${e.seq} no longer has the hash it was anchored with`);
      } else if (e.prevHash !== prevHash || hashAuditEntry(e.prevHash, e) !== e.hash) {
        throw refuse(`entry ${e.seq} does not chain to entry ${e.seq - 1}`);
      }
      prevHash = e.hash;
      expected++;
    }
  }
  if (expected <= headSeq) throw refuse(`entries up to ${headSeq} cannot be read`);
}
