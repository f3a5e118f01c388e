/** The ChangeLogStore port: the owner's changed keys in commit order, and how far each replica was replayed. */
import type { Key } from "../core/model.js";

/** One logged change: a key the source replica's feed reported changed, at its place in commit order. */
export interface LoggedChange {
  /** Consecutive per (dataset, source) from 1, in the order the feed delivered the changes. */
  readonly seq: number;
  readonly key: Key;
  /** When it was logged (ms since the epoch). */
  readonly at: number;
}

/** Where a change log stands. */
export interface ChangeLogHead {
  /** The last seq given (0: nothing logged yet). */
  readonly last: number;
  /**
   * Changes at or before this seq cannot be replayed: pruned past retention, or a gap in the feed (its own
   * seq: changes the feed could not vouch for). A replica whose cursor is below it needs a full pass.
   */
  readonly lostThrough: number;
  /** Why `lostThrough` last moved ("pruned", or the feed's gap), if it did. */
  readonly lostReason?: string | undefined;
  /** Entries kept. */
  readonly kept: number;
}

/**
 * A change log per (dataset, source replica), and a replay cursor per (dataset, replica).
 *
 * ## Log
 * `appendChanges` gives the keys the next consecutive seqs, in the order given, atomically (all or none),
 * and returns the head after them; an empty list changes nothing. Keys are stored exactly as given (JSON).
 * `readChanges` returns entries with seq > `after`, ascending, at most `limit`. `pruneChanges` deletes the
 * oldest entries beyond the newest `keep` and moves `lostThrough` to the highest seq it deleted (never
 * back); it returns how many it deleted. `markChangeLogGap` gives the gap the next seq (no entry: what it
 * hides is unknown), moves `last` and `lostThrough` to it, deletes the entries before it and keeps its
 * reason: a replica whose cursor is below the gap's seq — caught up to the change before it, or behind —
 * missed what the gap hides. `changeLogHead` of a log never written is
 * `{ last: 0, lostThrough: 0, kept: 0 }`. `deleteChangeLog` drops the log and its head (idempotent).
 *
 * ## Replay cursors
 * A replica's cursor is the last seq of `source`'s log applied to it (0 when none is stored).
 * `moveReplayCursor` sets it to `to` only if it is `from` now (compare and set: two movers never skip a
 * window between them) and says whether it did. `listReplayCursors` lists a dataset's cursors by replica.
 */
export interface ChangeLogStore {
  // ---- the log ----------------------------------------------------------------------------------------
  appendChanges(dataset: string, source: string, keys: readonly Key[], at: number): Promise<ChangeLogHead>;
  readChanges(dataset: string, source: string, after: number, limit: number): Promise<LoggedChange[]>;
  changeLogHead(dataset: string, source: string): Promise<ChangeLogHead>;
  pruneChanges(dataset: string, source: string, keep: number): Promise<number>;
  markChangeLogGap(dataset: string, source: string, reason: string): Promise<void>;
  deleteChangeLog(dataset: string, source: string): Promise<void>;

  // ---- replay cursors ---------------------------------------------------------------------------------
  getReplayCursor(dataset: string, replica: string): Promise<number>;
  moveReplayCursor(dataset: string, replica: string, from: number, to: number, at: number): Promise<boolean>;
  listReplayCursors(dataset: string): Promise<{ replica: string; seq: number; updatedAt: number }[]>;
}
