/** The RunStore port on PostgreSQL. */
import type { RunRecord, RunResult, RunStore } from "../run-store.js";
import { type RunRow, toRun } from "../state-rows.js";
import { noLimitIfNegative } from "./postgres-sql.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresRunStore implements RunStore {
  constructor(private readonly db: PostgresStateDb) {}

  async beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.db.t.runs} (id, dataset, command, started_at, status, heartbeat_at)
       VALUES ($1, $2, $3, $4, 'running', $5)`,
      [run.id, run.dataset, run.command, run.startedAt, run.startedAt],
    );
  }

  async pruneQuietRuns(dataset: string, commands: readonly string[], keep: number): Promise<number> {
    if (!commands.length) return 0;
    const runs = this.db.t.runs;
    return this.db.execute(
      `DELETE FROM ${runs} WHERE dataset = $1 AND command = ANY($2::text[])
         AND status = 'ok' AND counts = '{}' AND stats NOT LIKE '%"repairs.%'
         AND id NOT IN (SELECT id FROM ${runs} WHERE dataset = $1 AND command = ANY($2::text[])
                        ORDER BY started_at DESC, ord DESC LIMIT $3)`,
      [dataset, [...commands], keep],
    );
  }

  async finishRun(id: string, dataset: string, result: RunResult): Promise<void> {
    await this.db.query(
      `UPDATE ${this.db.t.runs} SET finished_at = $1, status = $2, counts = $3, stats = $4
       WHERE id = $5 AND dataset = $6`,
      [
        result.finishedAt,
        result.status,
        JSON.stringify(result.counts),
        JSON.stringify(result.stats),
        id,
        dataset,
      ],
    );
  }

  async heartbeatRun(id: string, at: number): Promise<boolean> {
    // greatest() keeps heartbeats from moving back: calls may arrive late or out of order.
    const changed = await this.db.execute(
      `UPDATE ${this.db.t.runs} SET heartbeat_at = greatest(coalesce(heartbeat_at, started_at), $2::double precision)
       WHERE id = $1 AND status = 'running'`,
      [id, at],
    );
    return changed > 0;
  }

  async getRun(id: string): Promise<RunRecord[]> {
    const rows = await this.db.query<RunRow>(`SELECT * FROM ${this.db.t.runs} WHERE id = $1 ORDER BY ord`, [
      id,
    ]);
    return rows.map(toRun);
  }

  async listRuns(options: { dataset?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const limit = noLimitIfNegative(options.limit ?? 100);
    const rows = options.dataset
      ? await this.db.query<RunRow>(
          `SELECT * FROM ${this.db.t.runs} WHERE dataset = $1 ORDER BY started_at DESC, ord DESC LIMIT $2`,
          [options.dataset, limit],
        )
      : await this.db.query<RunRow>(
          `SELECT * FROM ${this.db.t.runs} ORDER BY started_at DESC, ord DESC LIMIT $1`,
          [limit],
        );
    return rows.map(toRun);
  }
}
