/** The LeaseStore port on SQLite: one conditional upsert per acquisition, atomic under the file's write lock. */
import type { Lease, LeaseStore } from "../lease-store.js";
import { type LeaseRow, toLease } from "../state-rows.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteLeaseStore implements LeaseStore {
  constructor(private readonly s: SqliteStateDb) {}

  async acquireLease(name: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    // The upsert's WHERE is the whole rule: taken over when expired, renewed (never shortened) when already
    // the owner's, left alone otherwise. One statement, so it is atomic against every other process.
    const { changes } = this.s
      .prepare(
        `INSERT INTO leases (name, owner, acquired_at, expires_at) VALUES (@name, @owner, @now, @expires)
         ON CONFLICT (name) DO UPDATE SET
           acquired_at = CASE WHEN leases.owner = excluded.owner THEN leases.acquired_at ELSE excluded.acquired_at END,
           expires_at = CASE WHEN leases.owner = excluded.owner THEN max(leases.expires_at, excluded.expires_at)
             ELSE excluded.expires_at END,
           owner = excluded.owner
         WHERE leases.owner = excluded.owner OR leases.expires_at <= @now`,
      )
      .run({ name, owner, now, expires: now + ttlMs });
    return changes > 0;
  }

  async releaseLease(name: string, owner: string): Promise<boolean> {
    return this.s.prepare("DELETE FROM leases WHERE name = ? AND owner = ?").run(name, owner).changes > 0;
  }

  async getLease(name: string): Promise<Lease | undefined> {
    const row = this.s.prepare("SELECT * FROM leases WHERE name = ?").get(name) as LeaseRow | undefined;
    return row && toLease(row);
  }
}
