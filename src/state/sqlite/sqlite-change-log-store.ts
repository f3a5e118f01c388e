/** The ChangeLogStore port on SQLite. */
import type { Key } from "../../core/model.js";
import type { ChangeLogHead, ChangeLogStore, LoggedChange } from "../change-log-store.js";
import { insertRows, type SqliteStateDb } from "./sqlite-state-db.js";

interface HeadRow {
  last_seq: number;
  lost_through: number;
  lost_reason: string | null;
}

export class SqliteChangeLogStore implements ChangeLogStore {
  constructor(private readonly s: SqliteStateDb) {}

  async appendChanges(
    dataset: string,
    source: string,
    keys: readonly Key[],
    at: number,
  ): Promise<ChangeLogHead> {
    return this.s.immediate(() => {
      const head = this.head(dataset, source);
      if (!keys.length) return toHead(head);
      const values: unknown[] = [];
      for (const [i, k] of keys.entries())
        values.push(dataset, source, head.last_seq + i + 1, JSON.stringify(k), at);
      insertRows(this.s, "change_log", ["dataset", "source", "seq", "key", "at"], values);
      const last = head.last_seq + keys.length;
      this.putHead(dataset, source, { ...head, last_seq: last });
      return toHead({ ...head, last_seq: last });
    });
  }

  async readChanges(dataset: string, source: string, after: number, limit: number): Promise<LoggedChange[]> {
    const rows = this.s
      .prepare(
        "SELECT seq, key, at FROM change_log WHERE dataset = ? AND source = ? AND seq > ? ORDER BY seq LIMIT ?",
      )
      .all(dataset, source, after, limit) as { seq: number; key: string; at: number }[];
    return rows.map((r) => ({ seq: r.seq, key: JSON.parse(r.key) as Key, at: r.at }));
  }

  async changeLogHead(dataset: string, source: string): Promise<ChangeLogHead> {
    return toHead(this.head(dataset, source));
  }

  async pruneChanges(dataset: string, source: string, keep: number): Promise<number> {
    return this.s.immediate(() => {
      const head = this.head(dataset, source);
      const through = head.last_seq - keep;
      if (through <= head.lost_through) return 0;
      const deleted = this.s
        .prepare("DELETE FROM change_log WHERE dataset = ? AND source = ? AND seq <= ?")
        .run(dataset, source, through).changes;
      this.putHead(dataset, source, { ...head, lost_through: through, lost_reason: "pruned" });
      return deleted;
    });
  }

  async markChangeLogGap(dataset: string, source: string, reason: string): Promise<void> {
    this.s.immediate(() => {
      const head = this.head(dataset, source);
      this.s
        .prepare("DELETE FROM change_log WHERE dataset = ? AND source = ? AND seq <= ?")
        .run(dataset, source, head.last_seq);
      // The gap takes a seq of its own: a replica caught up to the seq before it missed what it hides too.
      const gap = head.last_seq + 1;
      this.putHead(dataset, source, { last_seq: gap, lost_through: gap, lost_reason: reason });
    });
  }

  async deleteChangeLog(dataset: string, source: string): Promise<void> {
    this.s.transaction(() => {
      this.s.prepare("DELETE FROM change_log WHERE dataset = ? AND source = ?").run(dataset, source);
      this.s.prepare("DELETE FROM change_log_heads WHERE dataset = ? AND source = ?").run(dataset, source);
    });
  }

  async getReplayCursor(dataset: string, replica: string): Promise<number> {
    const row = this.s
      .prepare("SELECT seq FROM replay_cursors WHERE dataset = ? AND replica = ?")
      .get(dataset, replica) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  async moveReplayCursor(
    dataset: string,
    replica: string,
    from: number,
    to: number,
    at: number,
  ): Promise<boolean> {
    return this.s.immediate(() => {
      const row = this.s
        .prepare("SELECT seq FROM replay_cursors WHERE dataset = ? AND replica = ?")
        .get(dataset, replica) as { seq: number } | undefined;
      if ((row?.seq ?? 0) !== from) return false;
      this.s
        .prepare(
          `INSERT INTO replay_cursors (dataset, replica, seq, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (dataset, replica) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
        )
        .run(dataset, replica, to, at);
      return true;
    });
  }

  async listReplayCursors(dataset: string): Promise<{ replica: string; seq: number; updatedAt: number }[]> {
    const rows = this.s
      .prepare("SELECT replica, seq, updated_at FROM replay_cursors WHERE dataset = ? ORDER BY replica")
      .all(dataset) as { replica: string; seq: number; updated_at: number }[];
    return rows.map((r) => ({ replica: r.replica, seq: r.seq, updatedAt: r.updated_at }));
  }

  private head(dataset: string, source: string): HeadRow {
    const row = this.s
      .prepare(
        "SELECT last_seq, lost_through, lost_reason FROM change_log_heads WHERE dataset = ? AND source = ?",
      )
      .get(dataset, source) as HeadRow | undefined;
    return row ?? { last_seq: 0, lost_through: 0, lost_reason: null };
  }

  private putHead(dataset: string, source: string, h: HeadRow): void {
    this.s
      .prepare(
        `INSERT INTO change_log_heads (dataset, source, last_seq, lost_through, lost_reason) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (dataset, source) DO UPDATE SET last_seq = excluded.last_seq,
           lost_through = excluded.lost_through, lost_reason = excluded.lost_reason`,
      )
      .run(dataset, source, h.last_seq, h.lost_through, h.lost_reason);
  }
}

/** Entries before `lost_through` are deleted with it, so those kept are exactly the seqs after it. */
const toHead = (h: HeadRow): ChangeLogHead => ({
  last: h.last_seq,
  lostThrough: h.lost_through,
  ...(h.lost_reason !== null ? { lostReason: h.lost_reason } : {}),
  kept: h.last_seq - h.lost_through,
});
