/** The SegmentSummaryStore port on PostgreSQL. */
import { type Key, keyId } from "../../core/model.js";
import type {
  DirtyKey,
  DirtySegment,
  SegmentSummary,
  SegmentSummaryStore,
} from "../segment-summary-store.js";
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
    const { segmentSummaries: summaries, dirtySegments: dirty, dirtyKeys } = this.db.t;
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${summary.dataset}`);
      const old = await c.query(`SELECT bounds FROM ${summaries} WHERE dataset = $1`, [summary.dataset]);
      const was = old.rows[0] as { bounds: string } | undefined;
      if (was && was.bounds !== bounds) {
        await c.query(`DELETE FROM ${dirty} WHERE dataset = $1`, [summary.dataset]);
        await c.query(`DELETE FROM ${dirtyKeys} WHERE dataset = $1`, [summary.dataset]);
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
    const { segmentSummaries: summaries, dirtySegments: dirty, dirtyKeys } = this.db.t;
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
      await c.query(`DELETE FROM ${dirtyKeys} WHERE dataset = $1 AND marked_at < $2`, [dataset, startedAt]);
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
      await c.query(`DELETE FROM ${this.db.t.dirtyKeys} WHERE dataset = $1`, [dataset]);
      await dropPostgresTrees(this.db, c, dataset);
    });
  }

  async markSegmentsDirty(dataset: string, segments: readonly number[], at: number): Promise<void> {
    if (!segments.length) return;
    const unique = [...new Set(segments)].sort((a, b) => a - b);
    const { dirtySegments: dirty, dirtyKeys } = this.db.t;
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      await c.query(
        `INSERT INTO ${dirty} (dataset, segment, marked_at, whole)
         SELECT $1, s, $3, true FROM unnest($2::int[]) AS s
         ON CONFLICT (dataset, segment) DO UPDATE
           SET marked_at = GREATEST(${dirty}.marked_at, excluded.marked_at), whole = true`,
        [dataset, unique, at],
      );
      await c.query(`DELETE FROM ${dirtyKeys} WHERE dataset = $1 AND segment = ANY($2::int[])`, [
        dataset,
        unique,
      ]);
    });
  }

  async markKeysDirty(
    dataset: string,
    marks: readonly { readonly segment: number; readonly keys: readonly Key[] }[],
    at: number,
    cap: number,
  ): Promise<void> {
    if (!marks.length) return;
    const { dirtySegments: dirty, dirtyKeys } = this.db.t;
    // One row per (segment, key); a segment given more keys than the cap is marked whole at once.
    const segments: number[] = [];
    const ids: string[] = [];
    const over = new Set<number>();
    const seen = new Set<string>();
    for (const { segment, keys } of marks) {
      const mine = new Set(keys.map(keyId));
      if (mine.size > cap) over.add(segment);
      // A (segment, key) row once per statement: ON CONFLICT cannot touch a row twice.
      else
        for (const id of mine)
          if (!seen.has(`${segment}:${id}`)) {
            seen.add(`${segment}:${id}`);
            segments.push(segment);
            ids.push(id);
          }
    }
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      // Keys of segments already marked whole are not stored.
      await c.query(
        `INSERT INTO ${dirtyKeys} (dataset, segment, key_id, marked_at)
         SELECT $1, m.s, m.k, $4 FROM unnest($2::int[], $3::text[]) AS m(s, k)
         WHERE NOT EXISTS (SELECT 1 FROM ${dirty} d WHERE d.dataset = $1 AND d.segment = m.s AND d.whole)
         ON CONFLICT (dataset, segment, key_id) DO UPDATE
           SET marked_at = GREATEST(${dirtyKeys}.marked_at, excluded.marked_at)`,
        [dataset, segments, ids, at],
      );
      const counted = await c.query<{ segment: number }>(
        `SELECT segment FROM ${dirtyKeys} WHERE dataset = $1 AND segment = ANY($2::int[])
         GROUP BY segment HAVING count(*) > $3`,
        [dataset, [...new Set(segments)], cap],
      );
      for (const r of counted.rows) over.add(r.segment);
      const all = [...new Set(marks.map((m) => m.segment))];
      const whole = all.map((s) => over.has(s));
      await c.query(
        `INSERT INTO ${dirty} (dataset, segment, marked_at, whole)
         SELECT $1, m.s, $4, m.w FROM unnest($2::int[], $3::boolean[]) AS m(s, w)
         ON CONFLICT (dataset, segment) DO UPDATE
           SET marked_at = GREATEST(${dirty}.marked_at, excluded.marked_at), whole = ${dirty}.whole OR excluded.whole`,
        [dataset, all, whole, at],
      );
      if (over.size)
        await c.query(`DELETE FROM ${dirtyKeys} WHERE dataset = $1 AND segment = ANY($2::int[])`, [
          dataset,
          [...over],
        ]);
    });
  }

  async listDirtyKeys(dataset: string, segments: readonly number[]): Promise<DirtyKey[]> {
    if (!segments.length) return [];
    const rows = await this.db.query<{ segment: number; key_id: string; marked_at: number }>(
      `SELECT segment, key_id, marked_at FROM ${this.db.t.dirtyKeys}
       WHERE dataset = $1 AND segment = ANY($2::int[]) ORDER BY segment, key_id COLLATE "C"`,
      [dataset, [...new Set(segments)]],
    );
    return rows.map((r) => ({
      segment: r.segment,
      key: JSON.parse(r.key_id) as Key,
      markedAt: Number(r.marked_at),
    }));
  }

  async clearDirtyKeys(
    dataset: string,
    keys: readonly { readonly segment: number; readonly key: Key }[],
    before: number,
  ): Promise<void> {
    if (!keys.length) return;
    const { dirtySegments: dirty, dirtyKeys } = this.db.t;
    const segments = [...new Set(keys.map((k) => k.segment))];
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `segments:${dataset}`);
      // The keys were checked, the segment was not re-hashed: its leaves cannot vouch for it any more.
      await stalePostgresLeavesUnderMarks(this.db, c, dataset, "d.segment = ANY($2::int[])", [segments]);
      await c.query(
        `DELETE FROM ${dirtyKeys} k USING unnest($2::int[], $3::text[]) AS m(s, id)
         WHERE k.dataset = $1 AND k.segment = m.s AND k.key_id = m.id AND k.marked_at <= $4`,
        [dataset, keys.map((k) => k.segment), keys.map((k) => keyId(k.key)), before],
      );
      await c.query(
        `DELETE FROM ${dirty} d WHERE d.dataset = $1 AND d.segment = ANY($2::int[]) AND NOT d.whole
           AND d.marked_at <= $3
           AND NOT EXISTS (SELECT 1 FROM ${dirtyKeys} k WHERE k.dataset = d.dataset AND k.segment = d.segment)`,
        [dataset, segments, before],
      );
    });
  }

  async listDirtySegments(dataset: string): Promise<DirtySegment[]> {
    const rows = await this.db.query<{ segment: number; marked_at: number; whole: boolean; n: number }>(
      `SELECT d.segment, d.marked_at, d.whole,
         (SELECT count(*)::int FROM ${this.db.t.dirtyKeys} k WHERE k.dataset = d.dataset AND k.segment = d.segment) AS n
       FROM ${this.db.t.dirtySegments} d WHERE d.dataset = $1 ORDER BY d.segment`,
      [dataset],
    );
    return rows.map((r) => ({
      segment: r.segment,
      markedAt: Number(r.marked_at),
      ...(r.whole ? {} : { keys: r.n }),
    }));
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
      await c.query(
        `DELETE FROM ${this.db.t.dirtyKeys} WHERE dataset = $1 AND segment = ANY($2::int[]) AND marked_at <= $3`,
        [dataset, marks, before],
      );
    });
  }
}
