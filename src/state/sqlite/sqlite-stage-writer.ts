/** The StageWriter port on SQLite: a stage's writes in one IMMEDIATE transaction. */
import { prepareAudit } from "../prepared-audit.js";
import { type StageResult, type StageWriter, type StageWrites, stageIsEmpty } from "../stage-writer.js";
import type { SqliteAuditLog } from "./sqlite-audit-log.js";
import type { SqliteDivergenceStore } from "./sqlite-divergence-store.js";
import type { SqliteDivergentKeys } from "./sqlite-divergent-keys.js";
import type { SqliteEvidenceStore } from "./sqlite-evidence-store.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";
import type { SqliteVersionMemory } from "./sqlite-version-memory.js";

/** The ports whose writes a stage makes, each with its synchronous write. */
export interface SqliteStagePorts {
  readonly versions: SqliteVersionMemory;
  readonly divergences: SqliteDivergenceStore;
  readonly audit: SqliteAuditLog;
  readonly evidence: SqliteEvidenceStore;
  readonly divergentKeys: SqliteDivergentKeys;
}

export class SqliteStageWriter implements StageWriter {
  constructor(
    private readonly s: SqliteStateDb,
    private readonly ports: SqliteStagePorts,
  ) {}

  async recordStage(writes: StageWrites): Promise<StageResult> {
    if (stageIsEmpty(writes)) return { audit: [], taken: new Map() };
    const prepared = writes.audit?.length ? prepareAudit(writes.audit) : [];
    const d = writes.divergent;
    // IMMEDIATE: the version comparison and the audit tail are read under the write lock (each port's own
    // transaction becomes a savepoint of this one).
    return this.s.immediate(() => {
      for (const v of writes.versions ?? [])
        if (v.observed.length) this.ports.versions.write(v.dataset, v.observed, v.options);
      if (writes.divergences?.length) this.ports.divergences.write(writes.divergences);
      const audit = this.ports.audit.insert(prepared);
      if (writes.evidence?.length) this.ports.evidence.write(writes.evidence);
      if (d?.mark?.length) this.ports.divergentKeys.mark(d.dataset, d.mark, d.at);
      const taken = d?.take?.length ? this.ports.divergentKeys.take(d.dataset, d.take) : new Map();
      return { audit, taken };
    });
  }
}
