/** The AuditLog port: an append-only, hash-chained log of everything Concord did and was told. */
import type { AuditEntry, AuditEntryContent } from "../core/audit-chain.js";

/** The filter of `readAudit`. */
export interface AuditFilter {
  runId?: string;
  /** `keyId` text. */
  key?: string;
  /** Inclusive. */
  fromSeq?: number;
  /** At most this many (none: no cap), the first ones, or with `newest` the last ones (still in seq order). */
  limit?: number;
  newest?: boolean;
}

/**
 * The audit log (core/audit-chain.ts).
 *
 * ## Appending
 * `appendAudit` appends events atomically: they get the next consecutive seqs (the first entry ever is 1)
 * and each is chained to the one before by `hashAuditEntry`. Must stay correct when several processes append
 * to the same store at once: the read of the last entry and the inserts are one write transaction, so the
 * log is one chain with no gaps and a call's entries are consecutive. An event with no JSON form (a bigint)
 * throws before anything is written. Returns the entries as stored, `data` in its JSON form (as `readAudit`
 * will return it).
 *
 * ## Immutability
 * Entries are never updated or deleted through this port, so any change made behind its back fails
 * verification (`verifyAuditChainAsync`), at the entry changed.
 */
export interface AuditLog {
  appendAudit(events: readonly Omit<AuditEntryContent, "seq">[]): Promise<AuditEntry[]>;
  /** The entries matching every field given, in seq order. */
  readAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
  /**
   * Streams the whole log in seq order, in bounded memory, as stored (no verification: pass it to
   * `verifyAuditChainAsync`). Entries appended while iterating may be included.
   */
  iterateAudit(): AsyncIterable<AuditEntry>;
}
