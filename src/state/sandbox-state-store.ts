/** A state store for trying things out: reads what the real store knows, keeps every write in memory, writes nothing. */
import { ComposedStateStore } from "./composed-state-store.js";
import { SqliteStateStore } from "./sqlite/sqlite-state-store.js";
import type { StateStore, StateStoreParts } from "./state-store.js";
import type { VersionMemory } from "./version-memory.js";

/**
 * A StateStore over an in-memory SQLite store, except that the versions last seen are read from `real`
 * (so a sandboxed run classifies regressions as a real one would) and never remembered. A run through it
 * (the policy sandbox, `plan --candidate`) records its run, divergences, segments and leases in memory only: the real
 * store is only read. `close` drops the memory, never `real`.
 */
export class SandboxStateStore extends ComposedStateStore {
  private constructor(
    parts: StateStoreParts,
    private readonly memory: SqliteStateStore,
  ) {
    super(parts);
  }

  static over(real: Pick<StateStore, "lastSeenVersions">): SandboxStateStore {
    const memory = SqliteStateStore.open(":memory:");
    const versions: VersionMemory = {
      lastSeenVersions: (dataset, keys) => real.lastSeenVersions(dataset, keys),
      rememberVersions: async () => {},
    };
    return new SandboxStateStore({ ...memory.parts, versions }, memory);
  }

  async close(): Promise<void> {
    await this.memory.close();
  }
}
