/** The LeaseStore port: named, expiring leases, so that one process at a time owns a job (a dataset's pass). */

/** A lease as stored. */
export interface Lease {
  readonly name: string;
  readonly owner: string;
  /** When the current owner first acquired it (renewals keep it). */
  readonly acquiredAt: number;
  /** The lease is free from this time on unless renewed. */
  readonly expiresAt: number;
}

/**
 * Leases: at most one owner per name at any time, for as long as it keeps renewing.
 *
 * ## Acquiring and renewing
 * `acquireLease(name, owner, now, ttlMs)` is one atomic step against every other process: it succeeds, and
 * the lease is the owner's until `now + ttlMs`, when the lease is free, expired (`expiresAt <= now`), or
 * already the owner's (a renewal, which never shortens it); otherwise it returns false and changes nothing.
 * An owner renews well before expiry (every ttl/3, say) and stops the job when a renewal fails: by then it
 * may have lost the lease. Owners are unique per process (host, pid and a random part), never shared.
 *
 * ## Releasing
 * `releaseLease` frees the lease only if `owner` holds it (expired or not), so a late release by a former
 * owner cannot free a successor's lease. Must be idempotent.
 *
 * ## Clocks
 * Times are the callers' clocks: hosts sharing a store must keep their clocks well within `ttlMs` of each
 * other.
 */
export interface LeaseStore {
  acquireLease(name: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  /** Returns whether `owner` held the lease (and so freed it). */
  releaseLease(name: string, owner: string): Promise<boolean>;
  /** The lease as stored (possibly expired), or undefined when none was ever taken or it was released. */
  getLease(name: string): Promise<Lease | undefined>;
}
