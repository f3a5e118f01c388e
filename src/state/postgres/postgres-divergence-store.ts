/** The DivergenceStore port on PostgreSQL. */
import { keyId } from "../../core/model.js";
import type { DivergenceStore, StoredDivergence } from "../divergence-store.js";
import { type DivergenceRow, divergenceRow, toDivergence } from "../state-rows.js";
import { DIVERGENCE_COLUMNS } from "./postgres-columns.js";
import { chunks, columnNames, recordset, recordsetJson } from "./postgres-sql.js";
import type { StateClient } from "./postgres-state-connection.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

/** The lock of the divergences table's writers (multi-row upserts in a given order). */
export const DIVERGENCES_LOCK = "divergences";

export class PostgresDivergenceStore implements DivergenceStore {
  constructor(private readonly db: PostgresStateDb) {}

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    if (divergences.length === 0) return;
    await this.db.transaction(async (c) => {
      await this.db.lock(c, DIVERGENCES_LOCK);
      await this.write(c, divergences);
    });
  }

  /** recordDivergences inside the caller's transaction, which holds DIVERGENCES_LOCK. */
  async write(c: StateClient, divergences: readonly StoredDivergence[]): Promise<void> {
    // As SQLite's INSERT OR REPLACE: the last word on a (run, key) wins and moves to the end of the order.
    const latest = new Map<string, StoredDivergence>();
    for (const d of divergences) {
      const slot = JSON.stringify([d.runId, keyId(d.key)]);
      latest.delete(slot);
      latest.set(slot, d);
    }
    const columns = columnNames(DIVERGENCE_COLUMNS);
    for (const batch of chunks([...latest.values()], BATCH_ROWS))
      await c.query(
        `INSERT INTO ${this.db.t.divergences} (${columns})
         SELECT ${columns} FROM ${recordset(DIVERGENCE_COLUMNS)}
         ON CONFLICT (run_id, key) DO UPDATE SET dataset = excluded.dataset, class = excluded.class,
           detail = excluded.detail, ord = excluded.ord`,
        [recordsetJson(DIVERGENCE_COLUMNS, batch.map(divergenceRow))],
      );
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = await this.db.query<DivergenceRow>(
      `SELECT * FROM ${this.db.t.divergences} WHERE run_id = $1 ORDER BY ord`,
      [runId],
    );
    return rows.map(toDivergence);
  }
}
