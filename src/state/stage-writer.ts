/** The StageWriter port: the state writes made at one point of a segment's pipeline, sent together. */
import type { AuditEntry, AuditEntryContent } from "../core/audit-chain.js";
import type { VersionOrdering } from "../core/version.js";
import type { AuditLog } from "./audit-log.js";
import type { DivergenceStore, StoredDivergence } from "./divergence-store.js";
import type { DivergentKeys } from "./divergent-keys.js";
import type { EvidenceIncrement, EvidenceStore } from "./evidence-store.js";
import type { ObservedVersion, VersionMemory } from "./version-memory.js";

/** One `rememberVersions` call of a stage. */
export interface StageVersions {
  readonly dataset: string;
  readonly observed: readonly ObservedVersion[];
  readonly options?: { readonly overwrite?: boolean; readonly ordering?: VersionOrdering | undefined };
}

/** The writes of one stage; every part is optional, and an absent or empty part writes nothing. */
export interface StageWrites {
  /** `rememberVersions` calls, in order. */
  readonly versions?: readonly StageVersions[];
  readonly divergences?: readonly StoredDivergence[];
  /** Appended after the log's last entry, in order (`appendAudit`). */
  readonly audit?: readonly Omit<AuditEntryContent, "seq">[];
  readonly evidence?: readonly EvidenceIncrement[];
  /** Divergent keys of one dataset: `mark` marked at `at` (`markDivergent`), then `take` taken back. */
  readonly divergent?: {
    readonly dataset: string;
    readonly mark?: readonly string[];
    readonly take?: readonly string[];
    readonly at: number;
  };
}

/** What a stage's writes returned. */
export interface StageResult {
  /** The audit entries appended (`appendAudit`'s result). */
  readonly audit: AuditEntry[];
  /** The keys taken back with their first-seen times (`takeDivergent`'s result). */
  readonly taken: Map<string, number>;
}

export interface StageWriter {
  /**
   * Has the effects of rememberVersions (each entry, in order), recordDivergences, appendAudit, addEvidence,
   * markDivergent and takeDivergent, in that order, under each of their contracts; absent and empty parts are
   * skipped, and a stage with nothing to write sends nothing. The SQLite and PostgreSQL adapters make them in
   * one transaction (all or none, each lock taken once), so a crash leaves either none of them or all: never a
   * state that the separate calls in this order could not leave. Callers put together only writes made at
   * the same point of the pipeline, with no external effect (a replica write) between them.
   */
  recordStage(writes: StageWrites): Promise<StageResult>;
}

/** Whether `writes` has anything to write. */
export function stageIsEmpty(writes: StageWrites): boolean {
  return (
    !writes.versions?.some((v) => v.observed.length > 0) &&
    !writes.divergences?.length &&
    !writes.audit?.length &&
    !writes.evidence?.length &&
    !writes.divergent?.mark?.length &&
    !writes.divergent?.take?.length
  );
}

/**
 * A StageWriter that makes each part through its own port, one call after another in the contract's order
 * (not one transaction): for stores composed of ports that are not all in one database (the sandbox).
 */
export function stagesInTurn(ports: {
  readonly versions: Pick<VersionMemory, "rememberVersions">;
  readonly divergences: Pick<DivergenceStore, "recordDivergences">;
  readonly audit: Pick<AuditLog, "appendAudit">;
  readonly evidence: Pick<EvidenceStore, "addEvidence">;
  readonly divergentKeys: Pick<DivergentKeys, "markDivergent" | "takeDivergent">;
}): StageWriter {
  return {
    async recordStage(writes) {
      for (const v of writes.versions ?? [])
        if (v.observed.length) await ports.versions.rememberVersions(v.dataset, v.observed, v.options);
      if (writes.divergences?.length) await ports.divergences.recordDivergences(writes.divergences);
      const audit = writes.audit?.length ? await ports.audit.appendAudit(writes.audit) : [];
      if (writes.evidence?.length) await ports.evidence.addEvidence(writes.evidence);
      const d = writes.divergent;
      if (d?.mark?.length) await ports.divergentKeys.markDivergent(d.dataset, d.mark, d.at);
      const taken = d?.take?.length ? await ports.divergentKeys.takeDivergent(d.dataset, d.take) : new Map();
      return { audit, taken };
    },
  };
}
