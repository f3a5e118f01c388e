/** The DivergenceStore port on PostgreSQL. */
import { type Key, keyId } from "../../core/model.js";
import type {
  DivergenceFilter,
  DivergencePage,
  DivergenceStore,
  StoredDivergence,
} from "../divergence-store.js";
import { type DivergenceRow, divergenceKey, divergenceRow, toDivergence } from "../state-rows.js";
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

  async listDivergences(runId: string, page: DivergencePage = {}): Promise<StoredDivergence[]> {
    const { sql, params } = filtered(runId, page);
    // LIMIT NULL is no limit: PostgreSQL keeps the page's rows in a top-N sort, and only they cross.
    const rows = await this.db.query<DivergenceRow>(
      `SELECT * FROM ${this.db.t.divergences} WHERE ${sql} ORDER BY ord
       LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, page.limit ?? null, page.offset ?? 0],
    );
    return rows.map(toDivergence);
  }

  async countDivergences(runId: string, filter: DivergenceFilter = {}): Promise<number> {
    const { sql, params } = filtered(runId, filter);
    const rows = await this.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.db.t.divergences} WHERE ${sql}`,
      params,
    );
    return Number(rows[0]!.n);
  }

  async *keysOfRun(runId: string): AsyncIterable<{ readonly dataset: string; readonly key: Key }> {
    // Keyset pages by ord: no cursor or transaction stays open across a yield.
    let after: string | null = null;
    for (;;) {
      const rows: (Pick<DivergenceRow, "run_id" | "dataset" | "key"> & { ord: string })[] =
        await this.db.query(
          `SELECT ord, run_id, dataset, key FROM ${this.db.t.divergences}
         WHERE run_id = $1 AND ($2::bigint IS NULL OR ord > $2::bigint) ORDER BY ord LIMIT ${KEY_PAGE}`,
          [runId, after],
        );
      for (const r of rows) yield { dataset: r.dataset, key: divergenceKey(r) };
      if (rows.length < KEY_PAGE) return;
      after = rows[rows.length - 1]!.ord;
    }
  }
}

/** Keys per query when `keysOfRun` reads a run. */
const KEY_PAGE = 1000;

/** The WHERE clause of a run's divergences of one dataset and one class (each when given). */
function filtered(runId: string, filter: DivergenceFilter): { sql: string; params: string[] } {
  const params = [runId];
  let sql = "run_id = $1";
  if (filter.dataset !== undefined) {
    params.push(filter.dataset);
    sql += ` AND dataset = $${params.length}`;
  }
  if (filter.class !== undefined) {
    params.push(filter.class);
    sql += ` AND class = $${params.length}`;
  }
  return { sql, params };
}
