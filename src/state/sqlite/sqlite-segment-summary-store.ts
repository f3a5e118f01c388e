/** The SegmentSummaryStore port on SQLite. */
import type { DirtySegment, SegmentSummary, SegmentSummaryStore } from "../segment-summary-store.js";
import { dropSqliteTrees, staleSqliteLeavesUnderMarks } from "./sqlite-segment-tree-store.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

interface SummaryRow {
  dataset: string;
  key_columns: string;
  bounds: string;
  verified_at: number | null;
  run_id: string | null;
  invalid: string | null;
  invalid_at: number | null;
  sweep_cursor: number;
}

const toSummary = (r: SummaryRow): SegmentSummary => ({
  dataset: r.dataset,
  keyColumns: JSON.parse(r.key_columns),
  bounds: JSON.parse(r.bounds),
  verifiedAt: r.verified_at ?? undefined,
  runId: r.run_id ?? undefined,
  invalid: r.invalid ?? undefined,
  invalidAt: r.invalid_at ?? undefined,
  sweepCursor: Number(r.sweep_cursor),
});

export class SqliteSegmentSummaryStore implements SegmentSummaryStore {
  constructor(private readonly s: SqliteStateDb) {}

  async getSegmentSummary(dataset: string): Promise<SegmentSummary | undefined> {
    const row = this.s.prepare("SELECT * FROM segment_summaries WHERE dataset = ?").get(dataset) as
      | SummaryRow
      | undefined;
    return row && toSummary(row);
  }

  async putSegmentSummary(summary: SegmentSummary): Promise<void> {
    const bounds = JSON.stringify(summary.bounds);
    this.s.immediate(() => {
      const old = this.s
        .prepare("SELECT bounds FROM segment_summaries WHERE dataset = ?")
        .get(summary.dataset) as { bounds: string } | undefined;
      if (old && old.bounds !== bounds) {
        this.s.prepare("DELETE FROM dirty_segments WHERE dataset = ?").run(summary.dataset);
        dropSqliteTrees(this.s, summary.dataset);
      }
      this.s
        .prepare(
          `INSERT OR REPLACE INTO segment_summaries
             (dataset, key_columns, bounds, verified_at, run_id, invalid, invalid_at, sweep_cursor)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          summary.dataset,
          JSON.stringify(summary.keyColumns),
          bounds,
          summary.verifiedAt ?? null,
          summary.runId ?? null,
          summary.invalid ?? null,
          summary.invalidAt ?? null,
          summary.sweepCursor,
        );
    });
  }

  async invalidateSegmentSummary(dataset: string, reason: string, at: number): Promise<void> {
    this.s
      .prepare(
        "UPDATE segment_summaries SET invalid = ?, invalid_at = ? WHERE dataset = ? AND invalid IS NULL",
      )
      .run(reason, at, dataset);
  }

  async verifySegmentSummary(dataset: string, runId: string, startedAt: number): Promise<void> {
    this.s.immediate(() => {
      this.s
        .prepare(
          `UPDATE segment_summaries SET verified_at = ?, run_id = ?,
             invalid = CASE WHEN invalid_at <= ? THEN NULL ELSE invalid END,
             invalid_at = CASE WHEN invalid_at <= ? THEN NULL ELSE invalid_at END
           WHERE dataset = ?`,
        )
        .run(startedAt, runId, startedAt, startedAt, dataset);
      staleSqliteLeavesUnderMarks(this.s, dataset, "d.marked_at < ?", [startedAt]);
      this.s
        .prepare("DELETE FROM dirty_segments WHERE dataset = ? AND marked_at < ?")
        .run(dataset, startedAt);
    });
  }

  async moveSweepCursor(dataset: string, cursor: number): Promise<void> {
    this.s.prepare("UPDATE segment_summaries SET sweep_cursor = ? WHERE dataset = ?").run(cursor, dataset);
  }

  async deleteSegmentSummary(dataset: string): Promise<void> {
    this.s.transaction(() => {
      this.s.prepare("DELETE FROM segment_summaries WHERE dataset = ?").run(dataset);
      this.s.prepare("DELETE FROM dirty_segments WHERE dataset = ?").run(dataset);
      dropSqliteTrees(this.s, dataset);
    });
  }

  async markSegmentsDirty(dataset: string, segments: readonly number[], at: number): Promise<void> {
    const st = this.s.prepare(
      `INSERT INTO dirty_segments (dataset, segment, marked_at) VALUES (?, ?, ?)
       ON CONFLICT (dataset, segment) DO UPDATE SET marked_at = max(marked_at, excluded.marked_at)`,
    );
    this.s.transaction(() => {
      for (const segment of segments) st.run(dataset, segment, at);
    });
  }

  async listDirtySegments(dataset: string): Promise<DirtySegment[]> {
    const rows = this.s
      .prepare("SELECT segment, marked_at FROM dirty_segments WHERE dataset = ? ORDER BY segment")
      .all(dataset) as { segment: number; marked_at: number }[];
    return rows.map((r) => ({ segment: r.segment, markedAt: r.marked_at }));
  }

  async clearDirtySegments(dataset: string, segments: readonly number[], before: number): Promise<void> {
    const st = this.s.prepare(
      "DELETE FROM dirty_segments WHERE dataset = ? AND segment = ? AND marked_at <= ?",
    );
    if (!segments.length) return;
    this.s.immediate(() => {
      staleSqliteLeavesUnderMarks(
        this.s,
        dataset,
        "d.segment IN (SELECT value FROM json_each(?)) AND d.marked_at <= ?",
        [JSON.stringify([...new Set(segments)]), before],
      );
      for (const segment of segments) st.run(dataset, segment, before);
    });
  }
}
