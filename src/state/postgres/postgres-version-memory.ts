/** The VersionMemory port on PostgreSQL: the comparison and the write under one lock per dataset. */
import { type Key, keyId } from "../../core/model.js";
import { type Version, type VersionOrdering, versionFromJson } from "../../core/version.js";
import type { ObservedVersion, VersionMemory } from "../version-memory.js";
import { versionsToRemember } from "../versions-to-remember.js";
import { VERSION_COLUMNS } from "./postgres-columns.js";
import { chunks, columnNames, recordset, recordsetJson, textListJson } from "./postgres-sql.js";
import type { StateClient } from "./postgres-state-connection.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

/** The lock of a dataset's version comparisons and writes. */
export function versionsLock(dataset: string): string {
  return `versions:${dataset}`;
}

export class PostgresVersionMemory implements VersionMemory {
  constructor(private readonly db: PostgresStateDb) {}

  async lastSeenVersions(
    dataset: string,
    keys: readonly Key[],
  ): Promise<Map<string, Record<string, Version>>> {
    const out = new Map<string, Record<string, Version>>();
    if (keys.length === 0) return out;
    const ids = keys.map(keyId);
    const rows = await this.db.query<{ key: string; replica: string; version: string }>(
      `SELECT key, replica, version FROM ${this.db.t.versions}
       WHERE dataset = $1 AND key IN (SELECT json_array_elements_text($2::json)) ORDER BY replica COLLATE "C"`,
      [dataset, textListJson(ids)],
    );
    const byKey = new Map<string, Record<string, Version>>();
    for (const r of rows) {
      const seen = byKey.get(r.key) ?? {};
      seen[r.replica] = versionFromJson(JSON.parse(r.version));
      byKey.set(r.key, seen);
    }
    for (const id of ids) {
      const seen = byKey.get(id);
      if (seen) out.set(id, seen);
    }
    return out;
  }

  async rememberVersions(
    dataset: string,
    observed: readonly ObservedVersion[],
    options: { overwrite?: boolean; ordering?: VersionOrdering | undefined } = {},
  ): Promise<void> {
    if (observed.length === 0) return;
    await this.db.transaction(async (c) => {
      // Read, compare and write under one lock per dataset: two processes that both read "nothing seen yet"
      // could otherwise both write, and the lower version land last.
      await this.db.lock(c, versionsLock(dataset));
      await this.write(c, dataset, observed, options);
    });
  }

  /** rememberVersions inside the caller's transaction, which holds `versionsLock(dataset)`. */
  async write(
    c: StateClient,
    dataset: string,
    observed: readonly ObservedVersion[],
    options: { overwrite?: boolean; ordering?: VersionOrdering | undefined } = {},
  ): Promise<void> {
    if (observed.length === 0) return;
    const overwrite = options.overwrite ?? false;
    const stored = new Map<string, string>();
    if (!overwrite) {
      const { rows } = await c.query<{ key: string; replica: string; version: string }>(
        `SELECT key, replica, version FROM ${this.db.t.versions}
         WHERE dataset = $1 AND key IN (SELECT json_array_elements_text($2::json))`,
        [dataset, textListJson([...new Set(observed.map((o) => keyId(o.key)))])],
      );
      for (const r of rows) stored.set(JSON.stringify([r.key, r.replica]), r.version);
    }
    const writes = versionsToRemember(
      observed,
      (key, replica) => stored.get(JSON.stringify([key, replica])),
      overwrite,
      options.ordering,
    );
    const columns = columnNames(VERSION_COLUMNS);
    for (const batch of chunks(writes, BATCH_ROWS))
      await c.query(
        `INSERT INTO ${this.db.t.versions} (dataset, ${columns})
         SELECT $1, ${columns} FROM ${recordset(VERSION_COLUMNS, 2)}
         ON CONFLICT (dataset, key, replica) DO UPDATE SET version = excluded.version`,
        [dataset, recordsetJson(VERSION_COLUMNS, batch)],
      );
  }
}
