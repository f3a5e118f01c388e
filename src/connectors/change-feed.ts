/**
 * The ChangeFeed port: the keys a store reports changed, from its own change mechanism, with a durable
 * position to resume from. Knows nothing of runs, policies or the state store (the watcher keeps positions).
 */
import type { Key } from "../core/model.js";

/** What a feed is told about its dataset and its limits. */
export interface ChangeFeedOptions {
  /** The dataset's name (server-side objects are named after it and the replica). */
  readonly dataset: string;
  /** The replica's name, as in the config. */
  readonly replica: string;
  /** The key columns in key order: a change's key is their canonical texts. */
  readonly keyColumns: readonly string[];
  /**
   * Distinct keys held in memory before the feed gives up tracking keys one by one and reports a gap (a
   * whole pass then covers them): memory stays bounded by this, whatever the write rate.
   */
  readonly bufferKeys: number;
  /**
   * How far (bytes of log, or rows of a change table) the store may keep changes for a feed that has not
   * acknowledged them before it releases them and reports a gap: never unbounded log growth.
   */
  readonly maxLagBytes: number;
  /** How error messages name the replica (`orders.pg`). */
  readonly label: string;
}

/**
 * A changed row as its store committed it, column name → the store's own text of the value (its output
 * function: PostgreSQL's text output; null for NULL), complete: every column of the row is there. `null`
 * instead of an image: the key's row was deleted.
 */
export type RowImage = Readonly<Record<string, string | null>>;

/** The changes a feed delivers at once: every change up to `position`, which covers nothing after them. */
export interface ChangeBatch {
  /** The distinct keys changed (order not significant). */
  readonly keys: readonly Key[];
  /**
   * For some of `keys` (by `keyId`): the row as the key's newest change in this batch committed it (null: the
   * change deleted it). A key is missing when the feed cannot give its whole row (PostgreSQL: an unchanged
   * TOASTed value not sent), or when the store's changes carry no rows (Redis, SQLite). The image is what the
   * store held at that commit; a later change of the key comes in a later batch.
   */
  readonly images?: ReadonlyMap<string, RowImage | null> | undefined;
  /**
   * With `images`: must be awaited before the watched store is read for this batch's keys (the feed may
   * deliver a commit a moment before other sessions see it; PostgreSQL). A batch without it needs no wait.
   */
  readonly beforeRead?: (() => Promise<void>) | undefined;
  /**
   * The feed's position after these changes (opaque text): store it once the keys are checked, then
   * `acknowledge` it. Undefined when nothing moved.
   */
  readonly position: string | undefined;
  /**
   * Why changes may have been missed before this batch (the feed restarted without history, a slot was
   * released for lagging, the buffer overflowed): the caller checks the whole dataset before storing
   * `position`. Undefined when the feed knows every change.
   */
  readonly gap?: string | undefined;
  /**
   * With a gap: the store released changes this feed had not acknowledged because it lagged (a PostgreSQL
   * slot past `maxLagBytes`, or invalidated by the server), so serve raises the `slot-released` alert.
   */
  readonly released?: boolean | undefined;
}

/**
 * One store's change feed over one table or key prefix.
 *
 * ## Lifecycle
 * `start(from)` creates what the feed needs on the store when it is missing (a publication and slot, change
 * triggers) and begins reading after `from` — a position this feed returned and the caller stored — or at the
 * store's current end when `from` is undefined (nothing before is reported, and no gap); `startedAt` then names
 * that end, so the caller can store it at once. A `from` the store cannot resume after — not one of its
 * positions, or past its end (the store was replaced or restored from a backup, or the stored row edited) —
 * must not skip the changes up to it: the first batch is a gap naming why. A store not set up
 * for feeds fails `start` with one line naming the setting (`wal_level is replica; change feeds need
 * wal_level=logical`). `close` stops reading and keeps the server-side objects, so a later `start` resumes;
 * `drop` removes them (idempotent, also without `start`).
 *
 * ## Delivery
 * `take` waits until a change is buffered (or `waitMs` passes, or `signal` aborts) and returns the buffered
 * changes of whole transactions, at least one transaction and about `maxKeys` keys. Delivery is at least
 * once: after a restart at a stored position, changes after it may come again. A feed never reports a
 * position past a change it has not delivered. When it cannot promise that (see `ChangeBatch.gap`), the batch
 * says so.
 *
 * ## Acknowledging
 * `acknowledge(position)` tells the store the changes up to `position` are checked and stored, so it may
 * release them (PostgreSQL: the slot's flush LSN; SQLite: the change rows). Positions are acknowledged in
 * the order the batches were taken.
 */
export interface ChangeFeed {
  readonly label: string;
  start(from: string | undefined): Promise<void>;
  /**
   * Where the feed began reading, once `start` has resolved: a position to store before the first change is
   * taken, so a process that dies before it stores one of `take`'s resumes there (`start` with it delivers
   * every change since, or opens a gap where the store keeps none). Undefined when the store cannot name it.
   */
  startedAt(): string | undefined;
  take(options: {
    readonly maxKeys: number;
    readonly waitMs: number;
    readonly signal?: AbortSignal;
  }): Promise<ChangeBatch>;
  acknowledge(position: string): Promise<void>;
  close(): Promise<void>;
  drop(): Promise<void>;
}

/**
 * A store that is not set up for change feeds (one line naming the setting), or a feed that cannot go on.
 * `retryable`: a connection or stream failure that starting again later may cure (a slot still held by a
 * killed process's connection, a server restarting), as opposed to a setting, a grant or a missing table.
 */
export class ChangeFeedError extends Error {
  override readonly name = "ChangeFeedError";
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/**
 * The name of a feed's server-side objects: `concord_<dataset>_<replica>`, lower-cased, characters other than
 * letters, digits and `_` replaced by `_`, cut to 63 bytes with a hash of the full name when longer (or when
 * anything was replaced), so two datasets never share a slot.
 */
export function feedObjectName(dataset: string, replica: string): string {
  const raw = `concord_${dataset}_${replica}`;
  const clean = raw.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (clean === raw && clean.length <= 63) return clean;
  let h = 0x811c9dc5;
  for (let i = 0; i < raw.length; i++) h = Math.imul(h ^ raw.charCodeAt(i), 0x01000193);
  const tag = (h >>> 0).toString(16).padStart(8, "0");
  return `${clean.slice(0, 54)}_${tag}`;
}

/**
 * Canonical key text of one key column's value as a driver decoded it (integers and text; bigint as text).
 * `bytes`: the column is binary (bytea, BINARY/VARBINARY/BLOB), and its part is the bytes' lowercase hex (a
 * Buffer's, or a text already in hex, `\x00ff` or `00ff`).
 */
export function keyPart(value: unknown, bytes = false): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (bytes) {
    if (Buffer.isBuffer(value)) return value.toString("hex");
    if (typeof value === "string" && /^(\\x)?([0-9a-f]{2})*$/i.test(value))
      return value.replace(/^\\x/, "").toLowerCase();
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  return String(value);
}
