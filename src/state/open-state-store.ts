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
 * Why the state store `url` names holds no audit log yet (a SQLite file that does not exist or is empty, a
 * PostgreSQL schema or audit table that does not), with what may have happened, or undefined when it may.
 * Creates nothing: `openStateStore` would create an empty store, which a reader of the log must not then
 * vouch for as intact. SQLite takes a zero-byte file (one truncated to nothing) for a new database, so such a
 * file holds no log either, unless a write-ahead log beside it holds the database's first pages.
 */
export async function missingStateStore(url: string, timeouts?: TimeoutsConfig): Promise<string | undefined> {
  const gone = "(deleted, or nothing has run with this config)";
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path === ":memory:") return undefined;
    if (!existsSync(path)) return `the state file ${path} does not exist ${gone}`;
    if (statSync(path).size === 0 && !(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0))
      return `the state file ${path} is empty (truncated, or nothing has run with this config)`;
    return undefined;
  }
  if (/^postgres(ql)?:/i.test(url)) {
    const { PostgresStateStore } = await import("./postgres/postgres-state-store.js");
    const missing = await PostgresStateStore.missing(url, timeouts);
    return missing === undefined ? undefined : `${missing} ${gone}`;
  }
  return undefined;
}
