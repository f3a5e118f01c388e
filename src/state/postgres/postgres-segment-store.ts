/** The SegmentStore port on PostgreSQL. */
import type { RunSegment, SegmentStore } from "../segment-store.js";
import { type SegmentRow, segmentRow, toRunSegment } from "../state-rows.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

const COLUMNS = "dataset, run_id, seg_from, seg_to, seg_of, visit, started_at, duration_ms, scan_ms, figures";

export class PostgresSegmentStore implements SegmentStore {
  constructor(private readonly db: PostgresStateDb) {}

  async recordSegment(segment: RunSegment): Promise<void> {
    const r = segmentRow(segment);
    await this.db.query(
      `INSERT INTO ${this.db.t.segments} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (run_id, seg_from, visit) DO UPDATE SET dataset = excluded.dataset, seg_to = excluded.seg_to,
         seg_of = excluded.seg_of, started_at = excluded.started_at, duration_ms = excluded.duration_ms,
         scan_ms = excluded.scan_ms, figures = excluded.figures`,
      [
        r.dataset,
        r.run_id,
        r.seg_from,
        r.seg_to,
        r.seg_of,
        r.visit,
        r.started_at,
        r.duration_ms,
        r.scan_ms,
        r.figures,
      ],
    );
  }

  async listSegments(runId: string): Promise<RunSegment[]> {
    const rows = await this.db.query<SegmentRow>(
      `SELECT ${COLUMNS} FROM ${this.db.t.segments} WHERE run_id = $1 ORDER BY visit, seg_from`,
      [runId],
    );
    return rows.map(toRunSegment);
  }

  async keepSegmentRuns(dataset: string, runs: number): Promise<number> {
    return this.db.execute(
      `DELETE FROM ${this.db.t.segments} WHERE dataset = $1 AND run_id NOT IN (
         SELECT run_id FROM ${this.db.t.segments} WHERE dataset = $1
         GROUP BY run_id ORDER BY max(started_at) DESC, run_id COLLATE "C" DESC LIMIT $2)`,
      [dataset, Math.max(0, Math.floor(runs))],
    );
  }

  async pruneSegments(before: number): Promise<number> {
    return this.db.execute(`DELETE FROM ${this.db.t.segments} WHERE started_at < $1`, [before]);
  }
}
