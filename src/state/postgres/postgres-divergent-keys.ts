/** The DivergentKeys port on PostgreSQL: one writer per dataset, so overlapping upserts cannot deadlock. */
import type { DivergentKeys } from "../divergent-keys.js";
import { storedText } from "../prepared-audit.js";
import { takenInOrder } from "../state-rows.js";
import { chunks, textListJson } from "./postgres-sql.js";
import type { StateClient } from "./postgres-state-connection.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

/** The lock of a dataset's divergent-key writers. */
export function divergentLock(dataset: string): string {
  return `divergent:${dataset}`;
}

export class PostgresDivergentKeys implements DivergentKeys {
  constructor(private readonly db: PostgresStateDb) {}

  async markDivergent(dataset: string, keys: readonly string[], at: number): Promise<void> {
    if (keys.length === 0) return;
    await this.db.transaction(async (c) => {
      // One writer per dataset: upserts of overlapping keys in different orders would otherwise deadlock.
      await this.db.lock(c, divergentLock(dataset));
      await this.mark(c, dataset, keys, at);
    });
  }

  /** markDivergent inside the caller's transaction, which holds `divergentLock(dataset)`. */
  async mark(c: StateClient, dataset: string, keys: readonly string[], at: number): Promise<void> {
    // ON CONFLICT may not touch a row twice in one statement; keys are compared as the server stores them.
    const unique = [...new Set(keys.map(storedText))];
    // least and greatest make marks commute: the same marks in any order, from any number of processes,
    // leave the same first and last seen.
    for (const batch of chunks(unique, BATCH_ROWS))
      await c.query(
        `INSERT INTO ${this.db.t.divergentKeys} AS d (dataset, key, first_seen, last_seen)
         SELECT $1, k, $3::double precision, $3::double precision
         FROM json_array_elements_text($2::json) AS k
         ON CONFLICT (dataset, key) DO UPDATE SET first_seen = least(d.first_seen, excluded.first_seen),
           last_seen = greatest(d.last_seen, excluded.last_seen)`,
        [dataset, textListJson(batch), String(at)],
      );
  }

  async takeDivergent(dataset: string, keys: readonly string[]): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    return this.db.transaction(async (c) => {
      await this.db.lock(c, divergentLock(dataset));
      return this.take(c, dataset, keys);
    });
  }

  /** takeDivergent inside the caller's transaction, which holds `divergentLock(dataset)`. */
  async take(c: StateClient, dataset: string, keys: readonly string[]): Promise<Map<string, number>> {
    const unique = [...new Set(keys.map(storedText))];
    const rows: { key: string; first_seen: number }[] = [];
    for (const batch of chunks(unique, BATCH_ROWS)) {
      const result = await c.query<{ key: string; first_seen: number }>(
        `DELETE FROM ${this.db.t.divergentKeys}
         WHERE dataset = $1 AND key IN (SELECT json_array_elements_text($2::json))
         RETURNING key, first_seen`,
        [dataset, textListJson(batch)],
      );
      rows.push(...result.rows);
    }
    return takenInOrder(keys, rows);
  }

  async purgeDivergent(dataset: string, before: number): Promise<number> {
    return this.db.transaction(async (c) => {
      await this.db.lock(c, divergentLock(dataset));
      const result = await c.query(
        `DELETE FROM ${this.db.t.divergentKeys} WHERE dataset = $1 AND last_seen < $2`,
        [dataset, String(before)],
      );
      return result.rowCount ?? 0;
    });
  }

  async countDivergent(dataset: string): Promise<number> {
    const [row] = await this.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.db.t.divergentKeys} WHERE dataset = $1`,
      [dataset],
    );
    return Number(row?.n ?? 0);
  }

  async getDivergent(
    dataset: string,
    key: string,
  ): Promise<{ firstSeen: number; lastSeen: number } | undefined> {
    const [row] = await this.db.query<{ first_seen: number; last_seen: number }>(
      `SELECT first_seen, last_seen FROM ${this.db.t.divergentKeys} WHERE dataset = $1 AND key = $2`,
      [dataset, key],
    );
    return row && { firstSeen: Number(row.first_seen), lastSeen: Number(row.last_seen) };
  }
}
