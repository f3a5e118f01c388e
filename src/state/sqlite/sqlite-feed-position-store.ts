/** The FeedPositionStore port on SQLite. */
import type { FeedPosition, FeedPositionStore } from "../feed-position-store.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

interface FeedPositionRow {
  dataset: string;
  replica: string;
  position: string;
  updated_at: number;
}

const toFeedPosition = (r: FeedPositionRow): FeedPosition => ({
  dataset: r.dataset,
  replica: r.replica,
  position: r.position,
  updatedAt: r.updated_at,
});

export class SqliteFeedPositionStore implements FeedPositionStore {
  constructor(private readonly s: SqliteStateDb) {}

  async getFeedPosition(dataset: string, replica: string): Promise<FeedPosition | undefined> {
    const row = this.s
      .prepare("SELECT * FROM feed_positions WHERE dataset = ? AND replica = ?")
      .get(dataset, replica) as FeedPositionRow | undefined;
    return row && toFeedPosition(row);
  }

  async putFeedPosition(p: FeedPosition): Promise<void> {
    this.s
      .prepare(
        `INSERT INTO feed_positions (dataset, replica, position, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (dataset, replica) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      )
      .run(p.dataset, p.replica, p.position, p.updatedAt);
  }

  async listFeedPositions(dataset?: string): Promise<FeedPosition[]> {
    const rows = (
      dataset === undefined
        ? this.s.prepare("SELECT * FROM feed_positions ORDER BY dataset, replica").all()
        : this.s.prepare("SELECT * FROM feed_positions WHERE dataset = ? ORDER BY replica").all(dataset)
    ) as FeedPositionRow[];
    return rows.map(toFeedPosition);
  }

  async deleteFeedPosition(dataset: string, replica: string): Promise<void> {
    this.s.prepare("DELETE FROM feed_positions WHERE dataset = ? AND replica = ?").run(dataset, replica);
  }
}
