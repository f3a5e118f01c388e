/** The DivergenceStore port on PostgreSQL. */
import { keyId } from "../../core/model.js";
import type { DivergenceStore, StoredDivergence } from "../divergence-store.js";
import { type DivergenceRow, divergenceRow, toDivergence } from "../state-rows.js";
import { DIVERGENCE_COLUMNS } from "./postgres-columns.js";
import { columnNames, recordset, recordsetJson } from "./postgres-sql.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresDivergenceStore implements DivergenceStore {
  constructor(private readonly db: PostgresStateDb) {}

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    // As SQLite's INSERT OR REPLACE: the last word on a (run, key) wins and moves to the end of the order.
    const latest = new Map<string, StoredDivergence>();
    for (const d of divergences) {
      const slot = JSON.stringify([d.runId, keyId(d.key)]);
      latest.delete(slot);
      latest.set(slot, d);
    }
    const columns = columnNames(DIVERGENCE_COLUMNS);
    await this.db.writeBatches("divergences", [...latest.values()], (c, batch) =>
      c.query(
        `INSERT INTO ${this.db.t.divergences} (${columns})
         SELECT ${columns} FROM ${recordset(DIVERGENCE_COLUMNS)}
         ON CONFLICT (run_id, key) DO UPDATE SET dataset = excluded.dataset, class = excluded.class,
           detail = excluded.detail, ord = excluded.ord`,
        [recordsetJson(DIVERGENCE_COLUMNS, batch.map(divergenceRow))],
      ),
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
