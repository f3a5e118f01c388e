/** The ChangeLogStore port on PostgreSQL. */
import type { Key } from "../../core/model.js";
import type { ChangeLogHead, ChangeLogStore, LoggedChange } from "../change-log-store.js";
import type { StateClient } from "./postgres-state-connection.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

interface HeadRow {
  last_seq: string | number;
  lost_through: string | number;
  lost_reason: string | null;
}

export class PostgresChangeLogStore implements ChangeLogStore {
  constructor(private readonly db: PostgresStateDb) {}

  async appendChanges(
    dataset: string,
    source: string,
    keys: readonly Key[],
    at: number,
  ): Promise<ChangeLogHead> {
    return this.db.transaction(async (c) => {
      // One appender per log at a time: seqs stay consecutive and in the order the feed delivered them.
      await this.db.lock(c, `change-log:${dataset}:${source}`);
      const head = await this.head(c, dataset, source);
      if (!keys.length) return toHead(head);
      const last = Number(head.last_seq);
      await c.query(
        `INSERT INTO ${this.db.t.changeLog} (dataset, source, seq, key, at)
         SELECT $1, $2, $3::bigint + k.ord, k.key, $5
         FROM unnest($4::text[]) WITH ORDINALITY AS k(key, ord)`,
        [dataset, source, last, keys.map((k) => JSON.stringify(k)), at],
      );
      const next = { ...head, last_seq: last + keys.length };
      await this.putHead(c, dataset, source, next);
      return toHead(next);
    });
  }

  async readChanges(dataset: string, source: string, after: number, limit: number): Promise<LoggedChange[]> {
    const rows = await this.db.query<{ seq: string; key: string; at: number }>(
      `SELECT seq, key, at FROM ${this.db.t.changeLog}
       WHERE dataset = $1 AND source = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
      [dataset, source, after, limit],
    );
    return rows.map((r) => ({ seq: Number(r.seq), key: JSON.parse(r.key) as Key, at: Number(r.at) }));
  }

  async changeLogHead(dataset: string, source: string): Promise<ChangeLogHead> {
    const [row] = await this.db.query<HeadRow>(
      `SELECT last_seq, lost_through, lost_reason FROM ${this.db.t.changeLogHeads}
       WHERE dataset = $1 AND source = $2`,
      [dataset, source],
    );
    return toHead(row ?? EMPTY);
  }

  async pruneChanges(dataset: string, source: string, keep: number): Promise<number> {
    return this.db.transaction(async (c) => {
      await this.db.lock(c, `change-log:${dataset}:${source}`);
      const head = await this.head(c, dataset, source);
      const through = Number(head.last_seq) - keep;
      if (through <= Number(head.lost_through)) return 0;
      const deleted = await c.query(
        `DELETE FROM ${this.db.t.changeLog} WHERE dataset = $1 AND source = $2 AND seq <= $3`,
        [dataset, source, through],
      );
      await this.putHead(c, dataset, source, { ...head, lost_through: through, lost_reason: "pruned" });
      return deleted.rowCount ?? 0;
    });
  }

  async markChangeLogGap(dataset: string, source: string, reason: string): Promise<void> {
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `change-log:${dataset}:${source}`);
      const head = await this.head(c, dataset, source);
      await c.query(`DELETE FROM ${this.db.t.changeLog} WHERE dataset = $1 AND source = $2 AND seq <= $3`, [
        dataset,
        source,
        Number(head.last_seq),
      ]);
      // The gap takes a seq of its own: a replica caught up to the seq before it missed what it hides too.
      const gap = Number(head.last_seq) + 1;
      await this.putHead(c, dataset, source, { last_seq: gap, lost_through: gap, lost_reason: reason });
    });
  }

  async deleteChangeLog(dataset: string, source: string): Promise<void> {
    await this.db.transaction(async (c) => {
      await this.db.lock(c, `change-log:${dataset}:${source}`);
      await c.query(`DELETE FROM ${this.db.t.changeLog} WHERE dataset = $1 AND source = $2`, [
        dataset,
        source,
      ]);
      await c.query(`DELETE FROM ${this.db.t.changeLogHeads} WHERE dataset = $1 AND source = $2`, [
        dataset,
        source,
      ]);
    });
  }

  async getReplayCursor(dataset: string, replica: string): Promise<number> {
    const [row] = await this.db.query<{ seq: string }>(
      `SELECT seq FROM ${this.db.t.replayCursors} WHERE dataset = $1 AND replica = $2`,
      [dataset, replica],
    );
    return row ? Number(row.seq) : 0;
  }

  async moveReplayCursor(
    dataset: string,
    replica: string,
    from: number,
    to: number,
    at: number,
  ): Promise<boolean> {
    return this.db.transaction(async (c) => {
      await this.db.lock(c, `replay-cursor:${dataset}:${replica}`);
      const found = await c.query(
        `SELECT seq FROM ${this.db.t.replayCursors} WHERE dataset = $1 AND replica = $2`,
        [dataset, replica],
      );
      const row = found.rows[0] as { seq: string } | undefined;
      if ((row ? Number(row.seq) : 0) !== from) return false;
      await c.query(
        `INSERT INTO ${this.db.t.replayCursors} (dataset, replica, seq, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (dataset, replica) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
        [dataset, replica, to, at],
      );
      return true;
    });
  }

  async listReplayCursors(dataset: string): Promise<{ replica: string; seq: number; updatedAt: number }[]> {
    const rows = await this.db.query<{ replica: string; seq: string; updated_at: number }>(
      `SELECT replica, seq, updated_at FROM ${this.db.t.replayCursors} WHERE dataset = $1
       ORDER BY replica COLLATE "C"`,
      [dataset],
    );
    return rows.map((r) => ({ replica: r.replica, seq: Number(r.seq), updatedAt: Number(r.updated_at) }));
  }

  private async head(c: StateClient, dataset: string, source: string): Promise<HeadRow> {
    const found = await c.query(
      `SELECT last_seq, lost_through, lost_reason FROM ${this.db.t.changeLogHeads}
       WHERE dataset = $1 AND source = $2`,
      [dataset, source],
    );
    return (found.rows[0] as HeadRow | undefined) ?? EMPTY;
  }

  private async putHead(c: StateClient, dataset: string, source: string, h: HeadRow): Promise<void> {
    await c.query(
      `INSERT INTO ${this.db.t.changeLogHeads} (dataset, source, last_seq, lost_through, lost_reason)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (dataset, source) DO UPDATE SET last_seq = excluded.last_seq,
         lost_through = excluded.lost_through, lost_reason = excluded.lost_reason`,
      [dataset, source, Number(h.last_seq), Number(h.lost_through), h.lost_reason],
    );
  }
}

const EMPTY: HeadRow = { last_seq: 0, lost_through: 0, lost_reason: null };

/** Entries before `lost_through` are deleted with it, so those kept are exactly the seqs after it. */
const toHead = (h: HeadRow): ChangeLogHead => ({
  last: Number(h.last_seq),
  lostThrough: Number(h.lost_through),
  ...(h.lost_reason !== null ? { lostReason: h.lost_reason } : {}),
  kept: Number(h.last_seq) - Number(h.lost_through),
});
