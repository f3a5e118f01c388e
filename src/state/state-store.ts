/** The StateStore port: the composition of the state ports (runs, ledger, audit, …) that one store serves. */
import type { AuditLog } from "./audit-log.js";
import type { ChangeLogStore } from "./change-log-store.js";
import type { CheckpointStore } from "./checkpoint-store.js";
import type { DivergenceStore } from "./divergence-store.js";
import type { DivergentKeys } from "./divergent-keys.js";
import type { EscalationStore } from "./escalation-store.js";
import type { EvidenceStore } from "./evidence-store.js";
import type { FeedPositionStore } from "./feed-position-store.js";
import type { LeaseStore } from "./lease-store.js";
import type { PolicyRegistry } from "./policy-registry.js";
import type { RepairLedger } from "./repair-ledger.js";
import type { RolloutStore } from "./rollout-store.js";
import type { RunStore } from "./run-store.js";
import type { SampleStore } from "./sample-store.js";
import type { SegmentStore } from "./segment-store.js";
import type { SegmentSummaryStore } from "./segment-summary-store.js";
import type { SegmentTreeStore } from "./segment-tree-store.js";
import type { StageWriter } from "./stage-writer.js";
import type { VersionMemory } from "./version-memory.js";

export type { AuditFilter, AuditLog } from "./audit-log.js";
export type { ChangeLogHead, ChangeLogStore, LoggedChange } from "./change-log-store.js";
export type { Checkpoint, CheckpointStore } from "./checkpoint-store.js";
export type { DivergenceStore, StoredDivergence } from "./divergence-store.js";
export type { DivergentKeys } from "./divergent-keys.js";
export {
  type Escalation,
  type EscalationFilter,
  type EscalationGroup,
  EscalationNotOpenError,
  type EscalationPage,
  type EscalationStore,
  escalationPattern,
} from "./escalation-store.js";
export type {
  EvidenceCounts,
  EvidenceDimension,
  EvidenceIncrement,
  EvidenceQuery,
  EvidenceStore,
  EvidenceTotal,
} from "./evidence-store.js";
export type { FeedPosition, FeedPositionStore } from "./feed-position-store.js";
export type { Lease, LeaseStore } from "./lease-store.js";
export type { CurrentPolicy, PolicyAdoption, PolicyRegistry, PolicyVersion } from "./policy-registry.js";
export type {
  LedgerEntry,
  RepairClaim,
  RepairFilter,
  RepairLedger,
  RepairOutcome,
  RepairPage,
  RepairPageOptions,
  RepairRef,
  RepairSettlement,
} from "./repair-ledger.js";
export type { RolloutState, RolloutStore } from "./rollout-store.js";
export type { RunRecord, RunResult, RunStore } from "./run-store.js";
export type { Sample, SampleFilter, SampleStore } from "./sample-store.js";
export type { RunSegment, SegmentStore } from "./segment-store.js";
export type { DirtyKey, DirtySegment, SegmentSummary, SegmentSummaryStore } from "./segment-summary-store.js";
export type {
  SegmentLeaf,
  SegmentTreeHead,
  SegmentTreeNode,
  SegmentTreeStore,
} from "./segment-tree-store.js";
export {
  type StageResult,
  type StageVersions,
  type StageWriter,
  type StageWrites,
  stageIsEmpty,
} from "./stage-writer.js";
export type { ObservedVersion, VersionMemory } from "./version-memory.js";

/**
 * Durable state shared by runs and by every process using the same store: each port's doc comment is its
 * contract, and test/integration/state-store-conformance.test.ts holds every adapter to all of them.
 * Adapters: SqliteStateStore (one file, one host) and PostgresStateStore (one schema, any number of hosts).
 */
export interface StateStore
  extends RunStore,
    DivergenceStore,
    VersionMemory,
    RepairLedger,
    EscalationStore,
    AuditLog,
    CheckpointStore,
    SampleStore,
    DivergentKeys,
    LeaseStore,
    FeedPositionStore,
    SegmentSummaryStore,
    SegmentTreeStore,
    PolicyRegistry,
    SegmentStore,
    RolloutStore,
    EvidenceStore,
    ChangeLogStore,
    StageWriter {
  /** Releases the store's connections; the store is not used afterwards. */
  close(): Promise<void>;
}

/** The ports one adapter implements, one object each; ComposedStateStore turns them into a StateStore. */
export interface StateStoreParts {
  readonly runs: RunStore;
  readonly divergences: DivergenceStore;
  readonly versions: VersionMemory;
  readonly ledger: RepairLedger;
  readonly escalations: EscalationStore;
  readonly audit: AuditLog;
  readonly checkpoints: CheckpointStore;
  readonly samples: SampleStore;
  readonly divergentKeys: DivergentKeys;
  readonly leases: LeaseStore;
  readonly feedPositions: FeedPositionStore;
  readonly segmentSummaries: SegmentSummaryStore;
  readonly segmentTrees: SegmentTreeStore;
  readonly policies: PolicyRegistry;
  readonly segments: SegmentStore;
  readonly rollouts: RolloutStore;
  readonly evidence: EvidenceStore;
  readonly changeLog: ChangeLogStore;
  readonly stages: StageWriter;
}
