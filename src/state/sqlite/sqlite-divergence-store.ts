/** The DivergenceStore port on SQLite. */
import type { DivergenceStore, StoredDivergence } from "../divergence-store.js";
import { type DivergenceRow, divergenceRow, toDivergence } from "../state-rows.js";
import { insertRows, ROWS_PER_INSERT, type SqliteStateDb } from "./sqlite-state-db.js";

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
    this.s.transaction(() => {
      // A statement's rows are made as it runs: each detail's JSON (both records' values) dies young, instead
      // of a piece's all living through the piece's statements.
      for (let i = 0; i < divergences.length; i += ROWS_PER_INSERT) {
        const end = Math.min(i + ROWS_PER_INSERT, divergences.length);
        const values = new Array<unknown>((end - i) * DIVERGENCE_COLUMNS.length);
        let v = 0;
        for (let j = i; j < end; j++) {
          const r = divergenceRow(divergences[j]!);
          values[v++] = r.run_id;
          values[v++] = r.dataset;
          values[v++] = r.key;
          values[v++] = r.class;
          values[v++] = r.detail;
        }
        insertRows(this.s, "divergences", DIVERGENCE_COLUMNS, values, "", "INSERT OR REPLACE");
      }
    });
  }

  async listDivergences(runId: string): Promise<StoredDivergence[]> {
    const rows = this.s
      .prepare("SELECT * FROM divergences WHERE run_id = ? ORDER BY rowid")
      .all(runId) as DivergenceRow[];
    return rows.map(toDivergence);
  }
}
