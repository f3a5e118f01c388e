/** The FeedPositionStore port: where each change feed of a dataset resumes, one position per (dataset, replica). */

/** A change feed's durable resume position, stored only once every change before it was checked. */
export interface FeedPosition {
  readonly dataset: string;
  /** The watched replica whose feed this is. */
  readonly replica: string;
  /**
   * The feed's own position text, opaque here: a PostgreSQL LSN, a MariaDB binlog file and offset, a SQLite
   * change-table sequence number, a Redis session marker.
   */
  readonly position: string;
  readonly updatedAt: number;
}

/**
 * Change feed positions.
 *
 * ## Round trip
 * `putFeedPosition` creates or replaces the position of (dataset, replica); `getFeedPosition` returns it
 * exactly as given. `listFeedPositions` lists a dataset's positions (every dataset's when none is named),
 * by dataset then replica. `deleteFeedPosition` is idempotent: no error when there is none.
 *
 * ## When to write
 * A position is written only after every change the feed delivered before it was checked (or covered by a
 * whole pass), so a restart that resumes there loses nothing; changes after it may be delivered again, which
 * the idempotent, conditional checks absorb.
 */
export interface FeedPositionStore {
  getFeedPosition(dataset: string, replica: string): Promise<FeedPosition | undefined>;
  putFeedPosition(position: FeedPosition): Promise<void>;
  listFeedPositions(dataset?: string): Promise<FeedPosition[]>;
  deleteFeedPosition(dataset: string, replica: string): Promise<void>;
}
