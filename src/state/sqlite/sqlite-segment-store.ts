/** The SegmentStore port on SQLite. */
import type { RunSegment, SegmentStore } from "../segment-store.js";
import { type SegmentRow, segmentRow, toRunSegment } from "../state-rows.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

const COLUMNS = "dataset, run_id, seg_from, seg_to, seg_of, visit, started_at, duration_ms, scan_ms, figures";

export class SqliteSegmentStore implements SegmentStore {
  constructor(private readonly s: SqliteStateDb) {}

  async recordSegment(segment: RunSegment): Promise<void> {
    this.s
      .prepare(
        `INSERT INTO run_segments (${COLUMNS})
         VALUES (@dataset, @run_id, @seg_from, @seg_to, @seg_of, @visit, @started_at, @duration_ms, @scan_ms, @figures)
         ON CONFLICT (run_id, seg_from, visit) DO UPDATE SET dataset = excluded.dataset, seg_to = excluded.seg_to,
           seg_of = excluded.seg_of, started_at = excluded.started_at, duration_ms = excluded.duration_ms,
           scan_ms = excluded.scan_ms, figures = excluded.figures`,
      )
      .run(segmentRow(segment));
  }

  async listSegments(runId: string): Promise<RunSegment[]> {
    const rows = this.s
      .prepare(`SELECT ${COLUMNS} FROM run_segments WHERE run_id = ? ORDER BY visit, seg_from`)
      .all(runId) as SegmentRow[];
    return rows.map(toRunSegment);
  }

  async keepSegmentRuns(dataset: string, runs: number): Promise<number> {
    return this.s
      .prepare(
        `DELETE FROM run_segments WHERE dataset = ? AND run_id NOT IN (
           SELECT run_id FROM run_segments WHERE dataset = ?
           GROUP BY run_id ORDER BY max(started_at) DESC, run_id DESC LIMIT ?)`,
      )
      .run(dataset, dataset, Math.max(0, Math.floor(runs))).changes;
  }

  async pruneSegments(before: number): Promise<number> {
    return this.s.prepare("DELETE FROM run_segments WHERE started_at < ?").run(before).changes;
  }
}
