/** The RolloutStore port on SQLite. */
import type { RolloutState, RolloutStore } from "../rollout-store.js";
import { type RolloutRow, rolloutRow, toRolloutState } from "../state-rows.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteRolloutStore implements RolloutStore {
  constructor(private readonly s: SqliteStateDb) {}

  async getRollout(dataset: string, kind: string): Promise<RolloutState | undefined> {
    const row = this.s
      .prepare(
        "SELECT dataset, kind, subject, state, updated_at FROM rollouts WHERE dataset = ? AND kind = ?",
      )
      .get(dataset, kind) as RolloutRow | undefined;
    return row && toRolloutState(row);
  }

  async putRollout(state: RolloutState): Promise<void> {
    this.s
      .prepare(
        `INSERT INTO rollouts (dataset, kind, subject, state, updated_at)
         VALUES (@dataset, @kind, @subject, @state, @updated_at)
         ON CONFLICT (dataset, kind) DO UPDATE SET subject = excluded.subject, state = excluded.state,
           updated_at = excluded.updated_at`,
      )
      .run(rolloutRow(state));
  }

  async deleteRollout(dataset: string, kind: string): Promise<void> {
    this.s.prepare("DELETE FROM rollouts WHERE dataset = ? AND kind = ?").run(dataset, kind);
  }
}
