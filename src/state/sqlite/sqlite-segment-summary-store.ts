/** The SegmentSummaryStore port on SQLite. */
import { type Key, keyId } from "../../core/model.js";
import type {
  DirtyKey,
  DirtySegment,
  SegmentSummary,
  SegmentSummaryStore,
} from "../segment-summary-store.js";
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
        this.s.prepare("DELETE FROM dirty_keys WHERE dataset = ?").run(summary.dataset);
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
      this.s.prepare("DELETE FROM dirty_keys WHERE dataset = ? AND marked_at < ?").run(dataset, startedAt);
    });
  }

  async moveSweepCursor(dataset: string, cursor: number): Promise<void> {
    this.s.prepare("UPDATE segment_summaries SET sweep_cursor = ? WHERE dataset = ?").run(cursor, dataset);
  }

  async deleteSegmentSummary(dataset: string): Promise<void> {
    this.s.transaction(() => {
      this.s.prepare("DELETE FROM segment_summaries WHERE dataset = ?").run(dataset);
      this.s.prepare("DELETE FROM dirty_segments WHERE dataset = ?").run(dataset);
      this.s.prepare("DELETE FROM dirty_keys WHERE dataset = ?").run(dataset);
      dropSqliteTrees(this.s, dataset);
    });
  }

  async markSegmentsDirty(dataset: string, segments: readonly number[], at: number): Promise<void> {
    const st = this.s.prepare(
      `INSERT INTO dirty_segments (dataset, segment, marked_at, whole) VALUES (?, ?, ?, 1)
       ON CONFLICT (dataset, segment) DO UPDATE SET marked_at = max(marked_at, excluded.marked_at), whole = 1`,
    );
    const drop = this.s.prepare("DELETE FROM dirty_keys WHERE dataset = ? AND segment = ?");
    this.s.transaction(() => {
      for (const segment of segments) {
        st.run(dataset, segment, at);
        drop.run(dataset, segment);
      }
    });
  }

  async markKeysDirty(
    dataset: string,
    marks: readonly { readonly segment: number; readonly keys: readonly Key[] }[],
    at: number,
    cap: number,
  ): Promise<void> {
    if (!marks.length) return;
    const whole = this.s.prepare("SELECT whole FROM dirty_segments WHERE dataset = ? AND segment = ?");
    const key = this.s.prepare(
      `INSERT INTO dirty_keys (dataset, segment, key_id, marked_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (dataset, segment, key_id) DO UPDATE SET marked_at = max(marked_at, excluded.marked_at)`,
    );
    const count = this.s.prepare("SELECT count(*) AS n FROM dirty_keys WHERE dataset = ? AND segment = ?");
    const mark = this.s.prepare(
      `INSERT INTO dirty_segments (dataset, segment, marked_at, whole) VALUES (?, ?, ?, ?)
       ON CONFLICT (dataset, segment) DO UPDATE SET marked_at = max(marked_at, excluded.marked_at),
         whole = max(whole, excluded.whole)`,
    );
    const drop = this.s.prepare("DELETE FROM dirty_keys WHERE dataset = ? AND segment = ?");
    this.s.immediate(() => {
      for (const { segment, keys } of marks) {
        const was = whole.get(dataset, segment) as { whole: number } | undefined;
        const mine = new Set(keys.map(keyId));
        let overflow = was?.whole === 1 || mine.size > cap;
        if (!overflow) {
          for (const id of mine) key.run(dataset, segment, id, at);
          overflow = (count.get(dataset, segment) as { n: number }).n > cap;
        }
        if (overflow) drop.run(dataset, segment);
        mark.run(dataset, segment, at, overflow ? 1 : 0);
      }
    });
  }

  async listDirtyKeys(dataset: string, segments: readonly number[]): Promise<DirtyKey[]> {
    if (!segments.length) return [];
    const rows = this.s
      .prepare(
        `SELECT segment, key_id, marked_at FROM dirty_keys
         WHERE dataset = ? AND segment IN (SELECT value FROM json_each(?)) ORDER BY segment, key_id`,
      )
      .all(dataset, JSON.stringify([...new Set(segments)])) as {
      segment: number;
      key_id: string;
      marked_at: number;
    }[];
    return rows.map((r) => ({ segment: r.segment, key: JSON.parse(r.key_id) as Key, markedAt: r.marked_at }));
  }

  async clearDirtyKeys(
    dataset: string,
    keys: readonly { readonly segment: number; readonly key: Key }[],
    before: number,
  ): Promise<void> {
    if (!keys.length) return;
    const segments = [...new Set(keys.map((k) => k.segment))];
    const drop = this.s.prepare(
      "DELETE FROM dirty_keys WHERE dataset = ? AND segment = ? AND key_id = ? AND marked_at <= ?",
    );
    const unmark = this.s.prepare(
      `DELETE FROM dirty_segments WHERE dataset = ? AND segment = ? AND whole = 0 AND marked_at <= ?
         AND NOT EXISTS (SELECT 1 FROM dirty_keys k WHERE k.dataset = dirty_segments.dataset
           AND k.segment = dirty_segments.segment)`,
    );
    this.s.immediate(() => {
      // The keys were checked, the segment was not re-hashed: its leaves cannot vouch for it any more.
      staleSqliteLeavesUnderMarks(this.s, dataset, "d.segment IN (SELECT value FROM json_each(?))", [
        JSON.stringify(segments),
      ]);
      for (const k of keys) drop.run(dataset, k.segment, keyId(k.key), before);
      for (const segment of segments) unmark.run(dataset, segment, before);
    });
  }

  async listDirtySegments(dataset: string): Promise<DirtySegment[]> {
    const rows = this.s
      .prepare(
        `SELECT d.segment, d.marked_at, d.whole,
           (SELECT count(*) FROM dirty_keys k WHERE k.dataset = d.dataset AND k.segment = d.segment) AS n
         FROM dirty_segments d WHERE d.dataset = ? ORDER BY d.segment`,
      )
      .all(dataset) as { segment: number; marked_at: number; whole: number; n: number }[];
    return rows.map((r) => ({
      segment: r.segment,
      markedAt: r.marked_at,
      ...(r.whole === 0 ? { keys: r.n } : {}),
    }));
  }

  async clearDirtySegments(dataset: string, segments: readonly number[], before: number): Promise<void> {
    const st = this.s.prepare(
      "DELETE FROM dirty_segments WHERE dataset = ? AND segment = ? AND marked_at <= ?",
    );
    const keys = this.s.prepare(
      "DELETE FROM dirty_keys WHERE dataset = ? AND segment = ? AND marked_at <= ?",
    );
    if (!segments.length) return;
    this.s.immediate(() => {
      staleSqliteLeavesUnderMarks(
        this.s,
        dataset,
        "d.segment IN (SELECT value FROM json_each(?)) AND d.marked_at <= ?",
        [JSON.stringify([...new Set(segments)]), before],
      );
      for (const segment of segments) {
        st.run(dataset, segment, before);
        keys.run(dataset, segment, before);
      }
    });
  }
}
