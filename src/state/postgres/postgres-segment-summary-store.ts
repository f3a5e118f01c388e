/** The SegmentSummaryStore port on PostgreSQL. */
import type { DirtySegment, SegmentSummary, SegmentSummaryStore } from "../segment-summary-store.js";
import { dropPostgresTrees, stalePostgresLeavesUnderMarks } from "./postgres-segment-tree-store.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

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
  verifiedAt: r.verified_at === null ? undefined : Number(r.verified_at),
  runId: r.run_id ?? undefined,
  invalid: r.invalid ?? undefined,
  invalidAt: r.invalid_at === null ? undefined : Number(r.invalid_at),
  sweepCursor: Number(r.sweep_cursor),
});

export class PostgresSegmentSummaryStore implements SegmentSummaryStore {
  constructor(private readonly db: PostgresStateDb) {}

  async getSegmentSummary(dataset: string): Promise<SegmentSummary | undefined> {
    const [row] = await this.db.query<SummaryRow>(
      `SELECT * FROM ${this.db.t.segmentSummaries} WHERE dataset = $1`,
      [dataset],
    );
    return row && toSummary(row);
  }

  async putSegmentSummary(summary: SegmentSummary): Promise<void> {
    const bounds = JSON.stringify(summary.bounds);
    const { segmentSummaries: summaries, dirtySegments: dirty } = this.db.t;
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${summary.dataset}`);
      const old = await c.query(`SELECT bounds FROM ${summaries} WHERE dataset = $1`, [summary.dataset]);
      const was = old.rows[0] as { bounds: string } | undefined;
      if (was && was.bounds !== bounds) {
        await c.query(`DELETE FROM ${dirty} WHERE dataset = $1`, [summary.dataset]);
        await dropPostgresTrees(this.db, c, summary.dataset);
      }
      await c.query(
        `INSERT INTO ${summaries}
           (dataset, key_columns, bounds, verified_at, run_id, invalid, invalid_at, sweep_cursor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (dataset) DO UPDATE SET key_columns = excluded.key_columns, bounds = excluded.bounds,
           verified_at = excluded.verified_at, run_id = excluded.run_id, invalid = excluded.invalid,
           invalid_at = excluded.invalid_at, sweep_cursor = excluded.sweep_cursor`,
        [
          summary.dataset,
          JSON.stringify(summary.keyColumns),
          bounds,
          summary.verifiedAt ?? null,
          summary.runId ?? null,
          summary.invalid ?? null,
          summary.invalidAt ?? null,
          summary.sweepCursor,
        ],
      );
    });
  }

  async invalidateSegmentSummary(dataset: string, reason: string, at: number): Promise<void> {
    await this.db.query(
      `UPDATE ${this.db.t.segmentSummaries} SET invalid = $1, invalid_at = $2 WHERE dataset = $3 AND invalid IS NULL`,
      [reason, at, dataset],
    );
  }

  async verifySegmentSummary(dataset: string, runId: string, startedAt: number): Promise<void> {
    const { segmentSummaries: summaries, dirtySegments: dirty } = this.db.t;
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      await c.query(
        `UPDATE ${summaries} SET verified_at = $1, run_id = $2,
           invalid = CASE WHEN invalid_at <= $1 THEN NULL ELSE invalid END,
           invalid_at = CASE WHEN invalid_at <= $1 THEN NULL ELSE invalid_at END
         WHERE dataset = $3`,
        [startedAt, runId, dataset],
      );
      await stalePostgresLeavesUnderMarks(this.db, c, dataset, "d.marked_at < $2", [startedAt]);
      await c.query(`DELETE FROM ${dirty} WHERE dataset = $1 AND marked_at < $2`, [dataset, startedAt]);
    });
  }

  async moveSweepCursor(dataset: string, cursor: number): Promise<void> {
    await this.db.query(`UPDATE ${this.db.t.segmentSummaries} SET sweep_cursor = $1 WHERE dataset = $2`, [
      cursor,
      dataset,
    ]);
  }

  async deleteSegmentSummary(dataset: string): Promise<void> {
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      await c.query(`DELETE FROM ${this.db.t.segmentSummaries} WHERE dataset = $1`, [dataset]);
      await c.query(`DELETE FROM ${this.db.t.dirtySegments} WHERE dataset = $1`, [dataset]);
      await dropPostgresTrees(this.db, c, dataset);
    });
  }

  async markSegmentsDirty(dataset: string, segments: readonly number[], at: number): Promise<void> {
    if (!segments.length) return;
    const unique = [...new Set(segments)].sort((a, b) => a - b);
    await this.db.query(
      `INSERT INTO ${this.db.t.dirtySegments} (dataset, segment, marked_at)
       SELECT $1, s, $3 FROM unnest($2::int[]) AS s
       ON CONFLICT (dataset, segment) DO UPDATE
         SET marked_at = GREATEST(${this.db.t.dirtySegments}.marked_at, excluded.marked_at)`,
      [dataset, unique, at],
    );
  }

  async listDirtySegments(dataset: string): Promise<DirtySegment[]> {
    const rows = await this.db.query<{ segment: number; marked_at: number }>(
      `SELECT segment, marked_at FROM ${this.db.t.dirtySegments} WHERE dataset = $1 ORDER BY segment`,
      [dataset],
    );
    return rows.map((r) => ({ segment: r.segment, markedAt: Number(r.marked_at) }));
  }

  async clearDirtySegments(dataset: string, segments: readonly number[], before: number): Promise<void> {
    if (!segments.length) return;
    const marks = [...new Set(segments)];
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      await stalePostgresLeavesUnderMarks(
        this.db,
        c,
        dataset,
        "d.segment = ANY($2::int[]) AND d.marked_at <= $3",
        [marks, before],
      );
      await c.query(
        `DELETE FROM ${this.db.t.dirtySegments} WHERE dataset = $1 AND segment = ANY($2::int[]) AND marked_at <= $3`,
        [dataset, marks, before],
      );
    });
  }
}
