/** The DivergenceStore port on SQLite. */
import type { DivergenceStore, StoredDivergence } from "../divergence-store.js";
import { type DivergenceRow, divergenceRow, toDivergence } from "../state-rows.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteDivergenceStore implements DivergenceStore {
  constructor(private readonly s: SqliteStateDb) {}

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    this.write(divergences);
  }

  /** recordDivergences, synchronously (in the caller's transaction when there is one). */
  write(divergences: readonly StoredDivergence[]): void {
    // INSERT OR REPLACE gives the row a new rowid: the last word on a (run, key) moves to the end.
    const st = this.s.prepare(
      `INSERT OR REPLACE INTO divergences (run_id, dataset, key, class, detail)
       VALUES (@run_id, @dataset, @key, @class, @detail)`,
    );
    this.s.transaction(() => {
      for (const d of divergences) st.run(divergenceRow(d));
    });
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = this.s
      .prepare("SELECT * FROM divergences WHERE run_id = ? ORDER BY rowid")
      .all(runId) as DivergenceRow[];
    return rows.map(toDivergence);
  }
}
