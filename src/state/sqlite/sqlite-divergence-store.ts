/** The DivergenceStore port on SQLite. */
import type { Key } from "../../core/model.js";
import type {
  DivergenceFilter,
  DivergencePage,
  DivergenceStore,
  StoredDivergence,
} from "../divergence-store.js";
import { type DivergenceRow, divergenceKey, divergenceRow, toDivergence } from "../state-rows.js";
import { conditions, insertRows, ROWS_PER_INSERT, type SqliteStateDb } from "./sqlite-state-db.js";

/** Keys per query when `keysOfRun` reads a run. */
const KEY_PAGE = 1000;

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

  async listDivergences(runId: string, page: DivergencePage = {}): Promise<StoredDivergence[]> {
    const span = this.span(runId);
    if (!span) return [];
    // The run's rows by rowid (the order recorded) within its span, not through the (run_id, key) index:
    // that index holds them in key order, so an ordered page would sort every row of the run (a 100k
    // divergence run: 0.3 s and its every detail read) to keep a few.
    const where = conditions([
      ["dataset", page.dataset],
      ["class", page.class],
    ]);
    const rows = this.s
      .prepare(
        `SELECT * FROM divergences NOT INDEXED WHERE rowid BETWEEN ? AND ? AND run_id = ?` +
          `${where.sql.replace(" WHERE ", " AND ")} ORDER BY rowid LIMIT ? OFFSET ?`,
      )
      .all(span.lo, span.hi, runId, ...where.params, page.limit ?? -1, page.offset ?? 0) as DivergenceRow[];
    return rows.map(toDivergence);
  }

  async countDivergences(runId: string, filter: DivergenceFilter = {}): Promise<number> {
    const where = conditions([
      ["run_id", runId],
      ["dataset", filter.dataset],
      ["class", filter.class],
    ]);
    const row = this.s.prepare(`SELECT count(*) AS n FROM divergences${where.sql}`).get(...where.params) as {
      n: number;
    };
    return row.n;
  }

  async *keysOfRun(runId: string): AsyncIterable<{ readonly dataset: string; readonly key: Key }> {
    const span = this.span(runId);
    if (!span) return;
    // Keyset pages by rowid: no statement stays open across a yield.
    const next = this.s.prepare(
      "SELECT rowid AS id, run_id, dataset, key FROM divergences NOT INDEXED" +
        " WHERE rowid > ? AND rowid <= ? AND run_id = ? ORDER BY rowid LIMIT ?",
    );
    let after = span.lo - 1;
    for (;;) {
      const rows = next.all(after, span.hi, runId, KEY_PAGE) as (Pick<
        DivergenceRow,
        "run_id" | "dataset" | "key"
      > & {
        id: number;
      })[];
      for (const r of rows) yield { dataset: r.dataset, key: divergenceKey(r) };
      if (rows.length < KEY_PAGE) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  /** The first and last rowid of the run's rows (read from the run's index entries alone), if it has any. */
  private span(runId: string): { lo: number; hi: number } | undefined {
    const row = this.s
      .prepare("SELECT min(rowid) AS lo, max(rowid) AS hi FROM divergences WHERE run_id = ?")
      .get(runId) as { lo: number | null; hi: number | null };
    return row.lo === null || row.hi === null ? undefined : { lo: row.lo, hi: row.hi };
  }
}
