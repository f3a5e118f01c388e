/** The CheckpointStore port on PostgreSQL. */
import type { Checkpoint, CheckpointStore } from "../checkpoint-store.js";
import { type CheckpointRow, checkpointRow, toCheckpoint } from "../state-rows.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresCheckpointStore implements CheckpointStore {
  constructor(private readonly db: PostgresStateDb) {}

  async getCheckpoint(dataset: string): Promise<Checkpoint | undefined> {
    const [row] = await this.db.query<CheckpointRow>(
      `SELECT * FROM ${this.db.t.checkpoints} WHERE dataset = $1`,
      [dataset],
    );
    return row && toCheckpoint(row);
  }

  async putCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const r = checkpointRow(checkpoint);
    await this.db.query(
      `INSERT INTO ${this.db.t.checkpoints} (dataset, run_id, mode, bounds, done, totals, started_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (dataset) DO UPDATE SET run_id = excluded.run_id, mode = excluded.mode,
         bounds = excluded.bounds, done = excluded.done, totals = excluded.totals,
         started_at = excluded.started_at, updated_at = excluded.updated_at`,
      [r.dataset, r.run_id, r.mode, r.bounds, r.done, r.totals, r.started_at, r.updated_at],
    );
  }

  async deleteCheckpoint(dataset: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ run_id: string }>(
      `DELETE FROM ${this.db.t.checkpoints} WHERE dataset = $1 RETURNING run_id`,
      [dataset],
    );
    return row?.run_id;
  }
}
