/** The VersionMemory port on SQLite. */
import { type Key, keyId } from "../../core/model.js";
import { type Version, type VersionOrdering, versionFromJson } from "../../core/version.js";
import type { ObservedVersion, VersionMemory } from "../version-memory.js";
import { versionsToRemember } from "../versions-to-remember.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteVersionMemory implements VersionMemory {
  constructor(private readonly s: SqliteStateDb) {}

  async lastSeenVersions(
    dataset: string,
    keys: readonly Key[],
  ): Promise<Map<string, Record<string, Version>>> {
    const out = new Map<string, Record<string, Version>>();
    const st = this.s.prepare("SELECT replica, version FROM observed_versions WHERE dataset = ? AND key = ?");
    for (const key of keys) {
      const id = keyId(key);
      const rows = st.all(dataset, id) as { replica: string; version: string }[];
      if (rows.length === 0) continue;
      const seen: Record<string, Version> = {};
      for (const r of rows) seen[r.replica] = versionFromJson(JSON.parse(r.version));
      out.set(id, seen);
    }
    return out;
  }

  async rememberVersions(
    dataset: string,
    observed: readonly ObservedVersion[],
    options: { overwrite?: boolean; ordering?: VersionOrdering | undefined } = {},
  ): Promise<void> {
    this.write(dataset, observed, options);
  }

  /** rememberVersions, synchronously (in the caller's transaction when there is one). */
  write(
    dataset: string,
    observed: readonly ObservedVersion[],
    options: { overwrite?: boolean; ordering?: VersionOrdering | undefined } = {},
  ): void {
    const get = this.s
      .prepare("SELECT version FROM observed_versions WHERE dataset = ? AND key = ? AND replica = ?")
      .pluck();
    const put = this.s.prepare(
      "INSERT OR REPLACE INTO observed_versions (dataset, key, replica, version) VALUES (?, ?, ?, ?)",
    );
    // IMMEDIATE: the comparison reads under the write lock, so another process cannot land a lower version
    // between this read and this write.
    this.s.immediate(() => {
      const writes = versionsToRemember(
        observed,
        (key, replica) => get.get(dataset, key, replica) as string | undefined,
        options.overwrite ?? false,
        options.ordering,
      );
      for (const w of writes) put.run(dataset, w.key, w.replica, w.version);
    });
  }
}
