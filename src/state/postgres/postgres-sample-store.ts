/** The SampleStore port on PostgreSQL. */
import type { Sample, SampleFilter, SampleStore } from "../sample-store.js";
import { SAMPLE_COLUMNS } from "./postgres-columns.js";
import {
  chunks,
  columnNames,
  conditions,
  noLimitIfNegative,
  recordset,
  recordsetJson,
} from "./postgres-sql.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

const COLUMNS = "dataset, series, label, at, value";

export class PostgresSampleStore implements SampleStore {
  constructor(private readonly db: PostgresStateDb) {}

  async appendSamples(samples: readonly Sample[]): Promise<void> {
    if (samples.length === 0) return;
    const columns = columnNames(SAMPLE_COLUMNS);
    const insert = `INSERT INTO ${this.db.t.samples} (${columns}) SELECT ${columns} FROM ${recordset(SAMPLE_COLUMNS)}`;
    // Plain inserts conflict with nothing: no table lock needed. One statement is atomic by itself: a
    // transaction only when the samples take several.
    if (samples.length <= BATCH_ROWS) {
      await this.db.execute(insert, [recordsetJson(SAMPLE_COLUMNS, samples)]);
      return;
    }
    await this.db.transaction(async (c) => {
      for (const batch of chunks(samples, BATCH_ROWS))
        await c.query(insert, [recordsetJson(SAMPLE_COLUMNS, batch)]);
    });
  }

  async listSamples(filter: SampleFilter): Promise<Sample[]> {
    const where = conditions([
      ["dataset", filter.dataset],
      ["series", filter.series],
      ["at", filter.since, ">="],
    ]);
    const limit = noLimitIfNegative(filter.limit);
    if (limit === null)
      return this.db.query<Sample>(
        `SELECT ${COLUMNS} FROM ${this.db.t.samples}${where.sql} ORDER BY at, ord`,
        where.params,
      );
    // The newest `limit` (on equal times, the last appended), turned back to oldest first.
    return this.db.query<Sample>(
      `SELECT ${COLUMNS} FROM (SELECT ${COLUMNS}, ord FROM ${this.db.t.samples}${where.sql}
         ORDER BY at DESC, ord DESC LIMIT $${where.params.length + 1}) AS newest ORDER BY at, ord`,
      [...where.params, limit],
    );
  }

  async pruneSamples(before: number): Promise<number> {
    return this.db.execute(`DELETE FROM ${this.db.t.samples} WHERE at < $1`, [String(before)]);
  }
}
