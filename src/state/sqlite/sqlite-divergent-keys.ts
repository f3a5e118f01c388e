/** The DivergentKeys port on SQLite. */
import type { DivergentKeys } from "../divergent-keys.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteDivergentKeys implements DivergentKeys {
  constructor(private readonly s: SqliteStateDb) {}

  async markDivergent(dataset: string, keys: readonly string[], at: number): Promise<void> {
    this.mark(dataset, keys, at);
  }

  /** markDivergent, synchronously (in the caller's transaction when there is one). */
  mark(dataset: string, keys: readonly string[], at: number): void {
    // min and max make marks commute: the same marks in any order, from any number of processes, leave the
    // same first and last seen.
    const st = this.s.prepare(
      `INSERT INTO divergent_keys (dataset, key, first_seen, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (dataset, key) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
         last_seen = max(last_seen, excluded.last_seen)`,
    );
    this.s.transaction(() => {
      for (const key of keys) st.run(dataset, key, at, at);
    });
  }

  async takeDivergent(dataset: string, keys: readonly string[]): Promise<Map<string, number>> {
    return this.take(dataset, keys);
  }

  /** takeDivergent, synchronously (in the caller's transaction when there is one). */
  take(dataset: string, keys: readonly string[]): Map<string, number> {
    // One key at a time rather than one `IN (json_each)`: the map is then keyed by the text given, even when
    // the stored text differs from it (a lone surrogate reads back as replacement characters).
    const taking = this.s
      .prepare("DELETE FROM divergent_keys WHERE dataset = ? AND key = ? RETURNING first_seen")
      .pluck();
    return this.s.immediate(() => {
      const out = new Map<string, number>();
      for (const key of keys) {
        const firstSeen = taking.get(dataset, key) as number | undefined;
        if (firstSeen !== undefined) out.set(key, firstSeen);
      }
      return out;
    });
  }

  async purgeDivergent(dataset: string, before: number): Promise<number> {
    return this.s
      .prepare("DELETE FROM divergent_keys WHERE dataset = ? AND last_seen < ?")
      .run(dataset, before).changes;
  }

  async countDivergent(dataset: string): Promise<number> {
    return this.s
      .prepare("SELECT count(*) FROM divergent_keys WHERE dataset = ?")
      .pluck()
      .get(dataset) as number;
  }

  async getDivergent(
    dataset: string,
    key: string,
  ): Promise<{ firstSeen: number; lastSeen: number } | undefined> {
    const row = this.s
      .prepare("SELECT first_seen, last_seen FROM divergent_keys WHERE dataset = ? AND key = ?")
      .get(dataset, key) as { first_seen: number; last_seen: number } | undefined;
    return row && { firstSeen: row.first_seen, lastSeen: row.last_seen };
  }
}
