/** Opens the state store a URL names (sqlite:PATH, postgres://…). The one place that maps state URL schemes. */
import { existsSync, statSync } from "node:fs";
import { redactUrl } from "../config/redact.js";
import type { TimeoutsConfig } from "../config/timeouts.js";
import { SqliteStateStore } from "./sqlite/sqlite-state-store.js";
import type { StateStore } from "./state-store.js";
import { StateStoreError } from "./state-store-error.js";

export { StateStoreError } from "./state-store-error.js";

/**
 * The state store `url` names: `sqlite:PATH` (embedded, one host) or `postgres://…` / `postgresql://…`
 * (shared by several processes; `?schema=NAME`, default `concord`; every statement within `timeouts`). Throws a one-line StateStoreError,
 * password redacted, for an unknown scheme or a store that cannot be opened.
 */
export async function openStateStore(url: string, timeouts?: TimeoutsConfig): Promise<StateStore> {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    try {
      return SqliteStateStore.open(path);
    } catch (err) {
      throw new StateStoreError(`state ${url}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
  if (/^postgres(ql)?:/i.test(url)) {
    // Loaded on demand, so that a SQLite setup never loads the PostgreSQL driver.
    const { PostgresStateStore } = await import("./postgres/postgres-state-store.js");
    return PostgresStateStore.open(url, timeouts);
  }
  throw new StateStoreError(
    `state: unsupported state store ${redactUrl(url)} (supported: sqlite:PATH, postgres://…)`,
  );
}

/**
 * Loads what opening the state store `url` names will need, creating and writing nothing: SQLite's native
 * library for `sqlite:` (nothing for the others). Called where a command waits on its replicas anyway.
 */
export function loadStateDriver(url: string): void {
  if (url.startsWith("sqlite:")) SqliteStateStore.loadDriver();
}

/** The state store a reader of the audit log asked for holds none (`openExistingStateStore`). */
export class NoAuditLogError extends StateStoreError {
  constructor(
    /** Why: a SQLite file that does not exist, a PostgreSQL schema or audit table that does not. */
    readonly reason: string,
    /** What may have happened, said after the reason. */
    readonly why = "deleted, or nothing has run with this config",
  ) {
    super(`there is no audit log: ${reason} (${why})`);
  }
}

/**
 * The state store `url` names, as `openStateStore` opens it, only if it may hold an audit log; otherwise a
 * NoAuditLogError saying why (a SQLite file that does not exist, a PostgreSQL schema or audit table that does
 * not), having created nothing: `openStateStore` would create an empty store, which a reader of the log must
 * not then vouch for as intact. On PostgreSQL the check runs on the store's own first connection.
 */
export async function openExistingStateStore(url: string, timeouts?: TimeoutsConfig): Promise<StateStore> {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path !== ":memory:" && !existsSync(path))
      throw new NoAuditLogError(`the state file ${path} does not exist`);
    // SQLite takes a zero-byte file (one truncated to nothing) for a new database: it holds no log either,
    // unless a write-ahead log beside it holds the database's first pages.
    if (
      path !== ":memory:" &&
      statSync(path).size === 0 &&
      !(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0)
    )
      throw new NoAuditLogError(
        `the state file ${path} is empty`,
        "truncated, or nothing has run with this config",
      );
    return openStateStore(url, timeouts);
  }
  if (/^postgres(ql)?:/i.test(url)) {
    const { PostgresStateStore } = await import("./postgres/postgres-state-store.js");
    const opened = await PostgresStateStore.openExisting(url, timeouts);
    if ("missing" in opened) throw new NoAuditLogError(opened.missing);
    return opened;
  }
  return openStateStore(url, timeouts);
}

/** A state store opened for reading (`openStateStoreToRead`): `absent` says why the named one was not there. */
export interface StateStoreToRead {
  readonly store: StateStore;
  /** Why the named store holds nothing yet (NoAuditLogError's reason); absent when it exists. */
  readonly absent?: string;
}

/**
 * The state store `url` names if it exists (as `openExistingStateStore` decides); otherwise an empty store in
 * memory that refuses every write, and why the named one is absent, having created nothing: no file, no
 * folder, no schema. For commands that only read state (escalations list, insights, policy history): before
 * anything has run there is nothing to list, and reading must not leave an empty store behind.
 */
export async function openStateStoreToRead(
  url: string,
  timeouts?: TimeoutsConfig,
): Promise<StateStoreToRead> {
  try {
    return { store: await openExistingStateStore(url, timeouts) };
  } catch (err) {
    if (!(err instanceof NoAuditLogError)) throw err;
    const empty = SqliteStateStore.open(":memory:");
    // A command that reads must not write: a write here would be lost, so it fails instead (SQLITE_READONLY).
    empty.db.pragma("query_only = ON");
    return { store: empty, absent: err.reason };
  }
}
