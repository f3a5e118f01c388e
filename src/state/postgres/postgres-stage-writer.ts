/** The StageWriter port on PostgreSQL: a stage's writes in one transaction, its locks taken in one statement. */
import { prepareAudit } from "../prepared-audit.js";
import type { StageResult, StageWriter, StageWrites } from "../stage-writer.js";
import type { PostgresAuditLog } from "./postgres-audit-log.js";
import { DIVERGENCES_LOCK, type PostgresDivergenceStore } from "./postgres-divergence-store.js";
import { divergentLock, type PostgresDivergentKeys } from "./postgres-divergent-keys.js";
import { EVIDENCE_LOCK, type PostgresEvidenceStore } from "./postgres-evidence-store.js";
import type { PostgresStateDb } from "./postgres-state-db.js";
import { type PostgresVersionMemory, versionsLock } from "./postgres-version-memory.js";

/** The ports whose writes a stage makes, each with its write inside a caller's transaction. */
export interface PostgresStagePorts {
  readonly versions: PostgresVersionMemory;
  readonly divergences: PostgresDivergenceStore;
  readonly audit: PostgresAuditLog;
  readonly evidence: PostgresEvidenceStore;
  readonly divergentKeys: PostgresDivergentKeys;
}

export class PostgresStageWriter implements StageWriter {
  constructor(
    private readonly db: PostgresStateDb,
    private readonly ports: PostgresStagePorts,
  ) {}

  async recordStage(writes: StageWrites): Promise<StageResult> {
    const versions = (writes.versions ?? []).filter((v) => v.observed.length > 0);
    const divergences = writes.divergences ?? [];
    const cells = writes.evidence?.length ? this.ports.evidence.cells(writes.evidence) : [];
    const prepared = writes.audit?.length ? prepareAudit(writes.audit) : [];
    const d = writes.divergent;
    const mark = d?.mark ?? [];
    const take = d?.take ?? [];
    const locks = [
      ...versions.map((v) => versionsLock(v.dataset)),
      ...(divergences.length ? [DIVERGENCES_LOCK] : []),
      ...(cells.length ? [EVIDENCE_LOCK] : []),
      ...(d && (mark.length || take.length) ? [divergentLock(d.dataset)] : []),
    ];
    if (locks.length === 0 && prepared.length === 0) return { audit: [], taken: new Map() };
    return this.db.transaction(async (c) => {
      // Every lock but the audit's in one statement; the audit's (one appender per schema, shared by every
      // worker) last, so it is held only for the tail read and the insert. Nothing is visible before COMMIT,
      // so writing the audit entries last has the effects of the contract's order.
      await this.db.lock(c, ...locks);
      for (const v of versions) await this.ports.versions.write(c, v.dataset, v.observed, v.options);
      if (divergences.length) await this.ports.divergences.write(c, divergences);
      if (cells.length) await this.ports.evidence.write(c, cells);
      if (d && mark.length) await this.ports.divergentKeys.mark(c, d.dataset, mark, d.at);
      const taken = d && take.length ? await this.ports.divergentKeys.take(c, d.dataset, take) : new Map();
      const audit = await this.ports.audit.insert(c, prepared);
      return { audit, taken };
    });
  }
}
