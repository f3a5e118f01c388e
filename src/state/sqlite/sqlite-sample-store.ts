/** The SampleStore port on SQLite. */
import type { Sample, SampleFilter, SampleStore } from "../sample-store.js";
import { conditions, type SqliteStateDb } from "./sqlite-state-db.js";

const COLUMNS = "dataset, series, label, at, value";

export class SqliteSampleStore implements SampleStore {
  constructor(private readonly s: SqliteStateDb) {}

  async appendSamples(samples: readonly Sample[]): Promise<void> {
    const st = this.s.prepare(`INSERT INTO samples (${COLUMNS}) VALUES (?, ?, ?, ?, ?)`);
    this.s.transaction(() => {
      for (const x of samples) st.run(x.dataset, x.series, x.label, x.at, x.value);
    });
  }

  async listSamples(filter: SampleFilter): Promise<Sample[]> {
    const where = conditions([
      ["dataset", filter.dataset],
      ["series", filter.series],
      ["at", filter.since, ">="],
    ]);
    if (filter.limit === undefined)
      return this.s
        .prepare(`SELECT ${COLUMNS} FROM samples${where.sql} ORDER BY at, rowid`)
        .all(...where.params) as Sample[];
    // The newest `limit` (on equal times, the last appended), turned back to oldest first.
    return this.s
      .prepare(
        `SELECT ${COLUMNS} FROM (SELECT ${COLUMNS}, rowid AS ord FROM samples${where.sql}
           ORDER BY at DESC, rowid DESC LIMIT ?) ORDER BY at, ord`,
      )
      .all(...where.params, filter.limit) as Sample[];
  }

  async pruneSamples(before: number): Promise<number> {
    return this.s.prepare("DELETE FROM samples WHERE at < ?").run(before).changes;
  }
}
