/** The LeaseStore port on PostgreSQL: one conditional upsert per acquisition, atomic against every session. */
import type { Lease, LeaseStore } from "../lease-store.js";
import { type LeaseRow, toLease } from "../state-rows.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresLeaseStore implements LeaseStore {
  constructor(private readonly db: PostgresStateDb) {}

  async acquireLease(name: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    // The upsert's WHERE is the whole rule: taken over when expired, renewed (never shortened) when already
    // the owner's, left alone otherwise. A concurrent insert of the same name waits for the other to commit
    // and then evaluates the WHERE against it, so exactly one of them gets a free lease.
    const changed = await this.db.execute(
      `INSERT INTO ${this.db.t.leases} AS l (name, owner, acquired_at, expires_at)
       VALUES ($1, $2, $3::double precision, $4::double precision)
       ON CONFLICT (name) DO UPDATE SET
         acquired_at = CASE WHEN l.owner = excluded.owner THEN l.acquired_at ELSE excluded.acquired_at END,
         expires_at = CASE WHEN l.owner = excluded.owner THEN greatest(l.expires_at, excluded.expires_at)
           ELSE excluded.expires_at END,
         owner = excluded.owner
       WHERE l.owner = excluded.owner OR l.expires_at <= $3::double precision`,
      [name, owner, String(now), String(now + ttlMs)],
    );
    return changed > 0;
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    return (
      (await this.db.execute(`DELETE FROM ${this.db.t.leases} WHERE name = $1 AND owner = $2`, [
        name,
        owner,
      ])) > 0
    );
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const [row] = await this.db.query<LeaseRow>(`SELECT * FROM ${this.db.t.leases} WHERE name = $1`, [name]);
    return row && toLease(row);
  }
}
