/** The RunStore port on SQLite. */
import type { RunRecord, RunResult, RunStore } from "../run-store.js";
import { type RunRow, toRun } from "../state-rows.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteRunStore implements RunStore {
  constructor(private readonly s: SqliteStateDb) {}

  async beginRun(run: { id: string; dataset: string; command: string; startedAt: number }): Promise<void> {
    this.s
      .prepare(
        `INSERT INTO runs (id, dataset, command, started_at, status, heartbeat_at)
         VALUES (?, ?, ?, ?, 'running', ?)`,
      )
      .run(run.id, run.dataset, run.command, run.startedAt, run.startedAt);
  }

  async pruneQuietRuns(dataset: string, commands: readonly string[], keep: number): Promise<number> {
    if (!commands.length) return 0;
    const list = JSON.stringify(commands);
    return this.s
      .prepare(
        `DELETE FROM runs WHERE dataset = ? AND command IN (SELECT value FROM json_each(?))
           AND status = 'ok' AND counts = '{}' AND stats NOT LIKE '%"repairs.%'
           AND id NOT IN (SELECT id FROM runs WHERE dataset = ? AND command IN (SELECT value FROM json_each(?))
                          ORDER BY started_at DESC, rowid DESC LIMIT ?)`,
      )
      .run(dataset, list, dataset, list, keep).changes;
  }

  async finishRun(id: string, dataset: string, result: RunResult): Promise<void> {
    this.s
      .prepare(
        "UPDATE runs SET finished_at = ?, status = ?, counts = ?, stats = ? WHERE id = ? AND dataset = ?",
      )
      .run(
        result.finishedAt,
        result.status,
        JSON.stringify(result.counts),
        JSON.stringify(result.stats),
        id,
        dataset,
      );
  }

  async heartbeatRun(id: string, at: number): Promise<boolean> {
    // max() keeps heartbeats from moving back: calls may arrive late or out of order.
    const { changes } = this.s
      .prepare(
        `UPDATE runs SET heartbeat_at = max(coalesce(heartbeat_at, started_at), ?)
         WHERE id = ? AND status = 'running'`,
      )
      .run(at, id);
    return changes > 0;
  }

  async getRun(id: string): Promise<RunRecord[]> {
    const rows = this.s.prepare("SELECT * FROM runs WHERE id = ? ORDER BY rowid").all(id) as RunRow[];
    return rows.map(toRun);
  }

  async listRuns(options: { dataset?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const limit = options.limit ?? 100;
    const rows = (
      options.dataset
        ? this.s
            .prepare("SELECT * FROM runs WHERE dataset = ? ORDER BY started_at DESC, rowid DESC LIMIT ?")
            .all(options.dataset, limit)
        : this.s.prepare("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?").all(limit)
    ) as RunRow[];
    return rows.map(toRun);
  }
}
