/** The FeedPositionStore port on PostgreSQL. */
import type { FeedPosition, FeedPositionStore } from "../feed-position-store.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

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
  updatedAt: Number(r.updated_at),
});

export class PostgresFeedPositionStore implements FeedPositionStore {
  constructor(private readonly db: PostgresStateDb) {}

  async getFeedPosition(dataset: string, replica: string): Promise<FeedPosition | undefined> {
    const [row] = await this.db.query<FeedPositionRow>(
      `SELECT * FROM ${this.db.t.feedPositions} WHERE dataset = $1 AND replica = $2`,
      [dataset, replica],
    );
    return row && toFeedPosition(row);
  }

  async putFeedPosition(p: FeedPosition): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.db.t.feedPositions} (dataset, replica, position, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (dataset, replica) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      [p.dataset, p.replica, p.position, p.updatedAt],
    );
  }

  async listFeedPositions(dataset?: string): Promise<FeedPosition[]> {
    const rows =
      dataset === undefined
        ? await this.db.query<FeedPositionRow>(
            `SELECT * FROM ${this.db.t.feedPositions} ORDER BY dataset COLLATE "C", replica COLLATE "C"`,
          )
        : await this.db.query<FeedPositionRow>(
            `SELECT * FROM ${this.db.t.feedPositions} WHERE dataset = $1 ORDER BY replica COLLATE "C"`,
            [dataset],
          );
    return rows.map(toFeedPosition);
  }

  async deleteFeedPosition(dataset: string, replica: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.db.t.feedPositions} WHERE dataset = $1 AND replica = $2`, [
      dataset,
      replica,
    ]);
  }
}
