/** The RolloutStore port on PostgreSQL. */
import type { RolloutState, RolloutStore } from "../rollout-store.js";
import { type RolloutRow, rolloutRow, toRolloutState } from "../state-rows.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresRolloutStore implements RolloutStore {
  constructor(private readonly db: PostgresStateDb) {}

  async getRollout(dataset: string, kind: string): Promise<RolloutState | undefined> {
    const [row] = await this.db.query<RolloutRow>(
      `SELECT dataset, kind, subject, state, updated_at FROM ${this.db.t.rollouts}
       WHERE dataset = $1 AND kind = $2`,
      [dataset, kind],
    );
    return row && toRolloutState(row);
  }

  async putRollout(state: RolloutState): Promise<void> {
    const r = rolloutRow(state);
    await this.db.query(
      `INSERT INTO ${this.db.t.rollouts} (dataset, kind, subject, state, updated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (dataset, kind) DO UPDATE SET subject = excluded.subject, state = excluded.state,
         updated_at = excluded.updated_at`,
      [r.dataset, r.kind, r.subject, r.state, r.updated_at],
    );
  }

  async deleteRollout(dataset: string, kind: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.db.t.rollouts} WHERE dataset = $1 AND kind = $2`, [
      dataset,
      kind,
    ]);
  }
}
