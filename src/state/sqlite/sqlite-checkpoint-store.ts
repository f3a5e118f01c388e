/** The CheckpointStore port on SQLite. */
import type { Checkpoint, CheckpointStore } from "../checkpoint-store.js";
import { type CheckpointRow, checkpointRow, toCheckpoint } from "../state-rows.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteCheckpointStore implements CheckpointStore {
  constructor(private readonly s: SqliteStateDb) {}

  async getCheckpoint(dataset: string): Promise<Checkpoint | undefined> {
    const row = this.s.prepare("SELECT * FROM checkpoints WHERE dataset = ?").get(dataset) as
      | CheckpointRow
      | undefined;
    return row && toCheckpoint(row);
  }

  async putCheckpoint(checkpoint: Checkpoint): Promise<void> {
    this.s
      .prepare(
        `INSERT INTO checkpoints (dataset, run_id, mode, bounds, done, totals, started_at, updated_at)
         VALUES (@dataset, @run_id, @mode, @bounds, @done, @totals, @started_at, @updated_at)
         ON CONFLICT (dataset) DO UPDATE SET run_id = excluded.run_id, mode = excluded.mode,
           bounds = excluded.bounds, done = excluded.done, totals = excluded.totals,
           started_at = excluded.started_at, updated_at = excluded.updated_at`,
      )
      .run(checkpointRow(checkpoint));
  }

  async deleteCheckpoint(dataset: string): Promise<string | undefined> {
    const row = this.s.prepare("DELETE FROM checkpoints WHERE dataset = ? RETURNING run_id").get(dataset) as
      | { run_id: string }
      | undefined;
    return row?.run_id;
  }
}
