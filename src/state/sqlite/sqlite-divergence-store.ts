/** The DivergenceStore port on SQLite. */
import type { DivergenceStore, StoredDivergence } from "../divergence-store.js";
import { type DivergenceRow, divergenceRow, toDivergence } from "../state-rows.js";
import { insertRows, type SqliteStateDb } from "./sqlite-state-db.js";

const DIVERGENCE_COLUMNS = ["run_id", "dataset", "key", "class", "detail"] as const;

export class SqliteDivergenceStore implements DivergenceStore {
  constructor(private readonly s: SqliteStateDb) {}

  async recordDivergences(divergences: readonly StoredDivergence[]): Promise<void> {
    this.write(divergences);
  }

  /** recordDivergences, synchronously (in the caller's transaction when there is one). */
  write(divergences: readonly StoredDivergence[]): void {
    // INSERT OR REPLACE gives the row a new rowid: the last word on a (run, key) moves to the end. A
    // multi-row statement replaces row by row in the order given, as one statement per row would.
    const values: unknown[] = [];
    for (const d of divergences) {
      const r = divergenceRow(d);
      values.push(r.run_id, r.dataset, r.key, r.class, r.detail);
    }
    this.s.transaction(() =>
      insertRows(this.s, "divergences", DIVERGENCE_COLUMNS, values, "", "INSERT OR REPLACE"),
    );
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = this.s
      .prepare("SELECT * FROM divergences WHERE run_id = ? ORDER BY rowid")
      .all(runId) as DivergenceRow[];
    return rows.map(toDivergence);
  }
}
