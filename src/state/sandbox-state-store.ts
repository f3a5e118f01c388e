/** A state store for trying things out: reads what the real store knows, keeps every write in memory, writes nothing. */
import { ComposedStateStore } from "./composed-state-store.js";
import type { EvidenceStore } from "./evidence-store.js";
import { SqliteStateStore } from "./sqlite/sqlite-state-store.js";
import { stagesInTurn } from "./stage-writer.js";
import type { StateStore, StateStoreParts } from "./state-store.js";
import type { VersionMemory } from "./version-memory.js";

/**
 * A StateStore over an in-memory SQLite store, except that the versions last seen are read from `real`
 * (so a sandboxed run classifies regressions as a real one would) and never remembered, and evidence is
 * read from `real` (so a candidate that infers ownership decides from what was learned) and never added:
 * a sandboxed run is no evidence. A run through it
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

  static over(
    real: Pick<StateStore, "lastSeenVersions"> &
      Partial<Pick<StateStore, "replicaEvidence" | "rangeDrift" | "activityEvidence" | "evidenceTotals">>,
  ): SandboxStateStore {
    const memory = SqliteStateStore.open(":memory:");
    const versions: VersionMemory = {
      lastSeenVersions: (dataset, keys) => real.lastSeenVersions(dataset, keys),
      rememberVersions: async () => {},
    };
    // A real store without evidence (a state file not created yet) reads as the empty memory does.
    const kept = memory.parts.evidence;
    const evidence: EvidenceStore = {
      addEvidence: async () => {},
      rollUpEvidence: async () => 0,
      pruneEvidence: async () => 0,
      replicaEvidence: (dataset) => (real.replicaEvidence ?? kept.replicaEvidence.bind(kept))(dataset),
      rangeDrift: (dataset, since) => (real.rangeDrift ?? kept.rangeDrift.bind(kept))(dataset, since),
      activityEvidence: (dataset, since) =>
        (real.activityEvidence ?? kept.activityEvidence.bind(kept))(dataset, since),
      evidenceTotals: (query) => (real.evidenceTotals ?? kept.evidenceTotals.bind(kept))(query),
    };
    const parts = { ...memory.parts, versions, evidence };
    // Through the ports above, so a stage's versions and evidence are dropped as theirs are.
    return new SandboxStateStore({ ...parts, stages: stagesInTurn(parts) }, memory);
  }

  async close(): Promise<void> {
    await this.memory.close();
  }
}
