/** A StateStore made of one object per port: the delegation both adapters share. No storage here. */
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
import type { StateStore, StateStoreParts } from "./state-store.js";
import type { VersionMemory } from "./version-memory.js";

/**
 * Serves every StateStore method from the port object that implements it; an adapter passes its ports and
 * implements `close`. The ports stay reachable as `parts` for code that needs only one of them.
 */
export abstract class ComposedStateStore implements StateStore {
  constructor(readonly parts: StateStoreParts) {}

  abstract close(): Promise<void>;

  // Runs.
  readonly beginRun: RunStore["beginRun"] = (run) => this.parts.runs.beginRun(run);
  readonly finishRun: RunStore["finishRun"] = (id, dataset, result) =>
    this.parts.runs.finishRun(id, dataset, result);
  readonly heartbeatRun: RunStore["heartbeatRun"] = (id, at) => this.parts.runs.heartbeatRun(id, at);
  readonly getRun: RunStore["getRun"] = (id) => this.parts.runs.getRun(id);
  readonly listRuns: RunStore["listRuns"] = (options) => this.parts.runs.listRuns(options);
  readonly pruneQuietRuns: RunStore["pruneQuietRuns"] = (dataset, commands, keep) =>
    this.parts.runs.pruneQuietRuns(dataset, commands, keep);

  // Divergences.
  readonly recordDivergences: DivergenceStore["recordDivergences"] = (divergences) =>
    this.parts.divergences.recordDivergences(divergences);
  readonly listDivergences: DivergenceStore["listDivergences"] = (runId, page) =>
    this.parts.divergences.listDivergences(runId, page);
  readonly countDivergences: DivergenceStore["countDivergences"] = (runId, filter) =>
    this.parts.divergences.countDivergences(runId, filter);
  readonly keysOfRun: DivergenceStore["keysOfRun"] = (runId) => this.parts.divergences.keysOfRun(runId);

  // Versions.
  readonly lastSeenVersions: VersionMemory["lastSeenVersions"] = (dataset, keys) =>
    this.parts.versions.lastSeenVersions(dataset, keys);
  readonly rememberVersions: VersionMemory["rememberVersions"] = (dataset, observed, options) =>
    this.parts.versions.rememberVersions(dataset, observed, options);

  // The repair ledger.
  readonly getRepairs: RepairLedger["getRepairs"] = (refs) => this.parts.ledger.getRepairs(refs);
  readonly recordRepairs: RepairLedger["recordRepairs"] = (entries) =>
    this.parts.ledger.recordRepairs(entries);
  readonly claimRepairs: RepairLedger["claimRepairs"] = (entries) => this.parts.ledger.claimRepairs(entries);
  readonly settleRepairs: RepairLedger["settleRepairs"] = (settlements, audit) =>
    this.parts.ledger.settleRepairs(settlements, audit);
  readonly listRepairs: RepairLedger["listRepairs"] = (filter) => this.parts.ledger.listRepairs(filter);
  readonly listRepairsPage: RepairLedger["listRepairsPage"] = (filter, page) =>
    this.parts.ledger.listRepairsPage(filter, page);
  readonly countRepairs: RepairLedger["countRepairs"] = (filter, options) =>
    this.parts.ledger.countRepairs(filter, options);
  readonly listAbandonedRepairs: RepairLedger["listAbandonedRepairs"] = (dataset, options) =>
    this.parts.ledger.listAbandonedRepairs(dataset, options);

  // Escalations.
  readonly openEscalations: EscalationStore["openEscalations"] = (list) =>
    this.parts.escalations.openEscalations(list);
  readonly listEscalations: EscalationStore["listEscalations"] = (filter) =>
    this.parts.escalations.listEscalations(filter);
  readonly countEscalations: EscalationStore["countEscalations"] = (filter) =>
    this.parts.escalations.countEscalations(filter);
  readonly groupEscalations: EscalationStore["groupEscalations"] = (filter) =>
    this.parts.escalations.groupEscalations(filter);
  readonly getEscalation: EscalationStore["getEscalation"] = (id) => this.parts.escalations.getEscalation(id);
  readonly closeEscalation: EscalationStore["closeEscalation"] = (id, status, resolution, at) =>
    this.parts.escalations.closeEscalation(id, status, resolution, at);

  // The audit log.
  readonly appendAudit: AuditLog["appendAudit"] = (events) => this.parts.audit.appendAudit(events);
  readonly readAudit: AuditLog["readAudit"] = (filter) => this.parts.audit.readAudit(filter);
  readonly iterateAudit: AuditLog["iterateAudit"] = () => this.parts.audit.iterateAudit();

  // Checkpoints.
  readonly getCheckpoint: CheckpointStore["getCheckpoint"] = (dataset) =>
    this.parts.checkpoints.getCheckpoint(dataset);
  readonly putCheckpoint: CheckpointStore["putCheckpoint"] = (checkpoint) =>
    this.parts.checkpoints.putCheckpoint(checkpoint);
  readonly deleteCheckpoint: CheckpointStore["deleteCheckpoint"] = (dataset) =>
    this.parts.checkpoints.deleteCheckpoint(dataset);

  // Samples.
  readonly appendSamples: SampleStore["appendSamples"] = (samples) =>
    this.parts.samples.appendSamples(samples);
  readonly listSamples: SampleStore["listSamples"] = (filter) => this.parts.samples.listSamples(filter);
  readonly pruneSamples: SampleStore["pruneSamples"] = (before) => this.parts.samples.pruneSamples(before);

  // Divergent keys.
  readonly markDivergent: DivergentKeys["markDivergent"] = (dataset, keys, at) =>
    this.parts.divergentKeys.markDivergent(dataset, keys, at);
  readonly takeDivergent: DivergentKeys["takeDivergent"] = (dataset, keys) =>
    this.parts.divergentKeys.takeDivergent(dataset, keys);
  readonly purgeDivergent: DivergentKeys["purgeDivergent"] = (dataset, before) =>
    this.parts.divergentKeys.purgeDivergent(dataset, before);
  readonly countDivergent: DivergentKeys["countDivergent"] = (dataset) =>
    this.parts.divergentKeys.countDivergent(dataset);
  readonly getDivergent: DivergentKeys["getDivergent"] = (dataset, key) =>
    this.parts.divergentKeys.getDivergent(dataset, key);

  // Leases.
  readonly acquireLease: LeaseStore["acquireLease"] = (name, owner, now, ttlMs) =>
    this.parts.leases.acquireLease(name, owner, now, ttlMs);
  readonly releaseLease: LeaseStore["releaseLease"] = (name, owner) =>
    this.parts.leases.releaseLease(name, owner);
  readonly getLease: LeaseStore["getLease"] = (name) => this.parts.leases.getLease(name);

  // Change feed positions.
  readonly getFeedPosition: FeedPositionStore["getFeedPosition"] = (dataset, replica) =>
    this.parts.feedPositions.getFeedPosition(dataset, replica);
  readonly putFeedPosition: FeedPositionStore["putFeedPosition"] = (position) =>
    this.parts.feedPositions.putFeedPosition(position);
  readonly listFeedPositions: FeedPositionStore["listFeedPositions"] = (dataset) =>
    this.parts.feedPositions.listFeedPositions(dataset);
  readonly deleteFeedPosition: FeedPositionStore["deleteFeedPosition"] = (dataset, replica) =>
    this.parts.feedPositions.deleteFeedPosition(dataset, replica);
  // Segment summaries and dirty segments.
  readonly getSegmentSummary: SegmentSummaryStore["getSegmentSummary"] = (dataset) =>
    this.parts.segmentSummaries.getSegmentSummary(dataset);
  readonly putSegmentSummary: SegmentSummaryStore["putSegmentSummary"] = (summary) =>
    this.parts.segmentSummaries.putSegmentSummary(summary);
  readonly invalidateSegmentSummary: SegmentSummaryStore["invalidateSegmentSummary"] = (
    dataset,
    reason,
    at,
  ) => this.parts.segmentSummaries.invalidateSegmentSummary(dataset, reason, at);
  readonly verifySegmentSummary: SegmentSummaryStore["verifySegmentSummary"] = (dataset, runId, startedAt) =>
    this.parts.segmentSummaries.verifySegmentSummary(dataset, runId, startedAt);
  readonly deleteSegmentSummary: SegmentSummaryStore["deleteSegmentSummary"] = (dataset) =>
    this.parts.segmentSummaries.deleteSegmentSummary(dataset);
  readonly moveSweepCursor: SegmentSummaryStore["moveSweepCursor"] = (dataset, cursor) =>
    this.parts.segmentSummaries.moveSweepCursor(dataset, cursor);
  readonly markSegmentsDirty: SegmentSummaryStore["markSegmentsDirty"] = (dataset, segments, at) =>
    this.parts.segmentSummaries.markSegmentsDirty(dataset, segments, at);
  readonly listDirtySegments: SegmentSummaryStore["listDirtySegments"] = (dataset) =>
    this.parts.segmentSummaries.listDirtySegments(dataset);
  readonly clearDirtySegments: SegmentSummaryStore["clearDirtySegments"] = (dataset, segments, before) =>
    this.parts.segmentSummaries.clearDirtySegments(dataset, segments, before);
  readonly markKeysDirty: SegmentSummaryStore["markKeysDirty"] = (dataset, marks, at, cap) =>
    this.parts.segmentSummaries.markKeysDirty(dataset, marks, at, cap);
  readonly listDirtyKeys: SegmentSummaryStore["listDirtyKeys"] = (dataset, segments) =>
    this.parts.segmentSummaries.listDirtyKeys(dataset, segments);
  readonly clearDirtyKeys: SegmentSummaryStore["clearDirtyKeys"] = (dataset, keys, before) =>
    this.parts.segmentSummaries.clearDirtyKeys(dataset, keys, before);

  // Segment trees.
  readonly putSegmentHashes: SegmentTreeStore["putSegmentHashes"] = (
    dataset,
    replica,
    leaves,
    hashes,
    readAt,
  ) => this.parts.segmentTrees.putSegmentHashes(dataset, replica, leaves, hashes, readAt);
  readonly getSegmentTreeNodes: SegmentTreeStore["getSegmentTreeNodes"] = (dataset, level, indexes) =>
    this.parts.segmentTrees.getSegmentTreeNodes(dataset, level, indexes);
  readonly listSegmentTrees: SegmentTreeStore["listSegmentTrees"] = (dataset) =>
    this.parts.segmentTrees.listSegmentTrees(dataset);
  readonly staleSegmentHashes: SegmentTreeStore["staleSegmentHashes"] = (dataset, segments) =>
    this.parts.segmentTrees.staleSegmentHashes(dataset, segments);
  // Policy versions.
  readonly adoptPolicy: PolicyRegistry["adoptPolicy"] = (version, audit) =>
    this.parts.policies.adoptPolicy(version, audit);
  readonly listPolicies: PolicyRegistry["listPolicies"] = (dataset) =>
    this.parts.policies.listPolicies(dataset);
  readonly getPolicy: PolicyRegistry["getPolicy"] = (dataset, version) =>
    this.parts.policies.getPolicy(dataset, version);
  readonly currentPolicy: PolicyRegistry["currentPolicy"] = (dataset) =>
    this.parts.policies.currentPolicy(dataset);

  // Run segments.
  readonly recordSegment: SegmentStore["recordSegment"] = (segment) =>
    this.parts.segments.recordSegment(segment);
  readonly listSegments: SegmentStore["listSegments"] = (runId) => this.parts.segments.listSegments(runId);
  readonly keepSegmentRuns: SegmentStore["keepSegmentRuns"] = (dataset, runs) =>
    this.parts.segments.keepSegmentRuns(dataset, runs);
  readonly pruneSegments: SegmentStore["pruneSegments"] = (before) =>
    this.parts.segments.pruneSegments(before);

  // Rollouts.
  readonly getRollout: RolloutStore["getRollout"] = (dataset, kind) =>
    this.parts.rollouts.getRollout(dataset, kind);
  readonly putRollout: RolloutStore["putRollout"] = (state) => this.parts.rollouts.putRollout(state);
  readonly deleteRollout: RolloutStore["deleteRollout"] = (dataset, kind) =>
    this.parts.rollouts.deleteRollout(dataset, kind);

  // A stage's writes together.
  readonly recordStage: StageWriter["recordStage"] = (writes) => this.parts.stages.recordStage(writes);

  // Evidence (the learning loop).
  readonly addEvidence: EvidenceStore["addEvidence"] = (increments) =>
    this.parts.evidence.addEvidence(increments);
  readonly evidenceTotals: EvidenceStore["evidenceTotals"] = (query) =>
    this.parts.evidence.evidenceTotals(query);
  readonly replicaEvidence: EvidenceStore["replicaEvidence"] = (dataset) =>
    this.parts.evidence.replicaEvidence(dataset);
  readonly rangeDrift: EvidenceStore["rangeDrift"] = (dataset, since) =>
    this.parts.evidence.rangeDrift(dataset, since);
  readonly activityEvidence: EvidenceStore["activityEvidence"] = (dataset, since) =>
    this.parts.evidence.activityEvidence(dataset, since);
  readonly rollUpEvidence: EvidenceStore["rollUpEvidence"] = (before) =>
    this.parts.evidence.rollUpEvidence(before);
  readonly pruneEvidence: EvidenceStore["pruneEvidence"] = (before) =>
    this.parts.evidence.pruneEvidence(before);

  // The change log and replay cursors.
  readonly appendChanges: ChangeLogStore["appendChanges"] = (dataset, source, keys, at) =>
    this.parts.changeLog.appendChanges(dataset, source, keys, at);
  readonly readChanges: ChangeLogStore["readChanges"] = (dataset, source, after, limit) =>
    this.parts.changeLog.readChanges(dataset, source, after, limit);
  readonly changeLogHead: ChangeLogStore["changeLogHead"] = (dataset, source) =>
    this.parts.changeLog.changeLogHead(dataset, source);
  readonly pruneChanges: ChangeLogStore["pruneChanges"] = (dataset, source, keep) =>
    this.parts.changeLog.pruneChanges(dataset, source, keep);
  readonly markChangeLogGap: ChangeLogStore["markChangeLogGap"] = (dataset, source, reason) =>
    this.parts.changeLog.markChangeLogGap(dataset, source, reason);
  readonly deleteChangeLog: ChangeLogStore["deleteChangeLog"] = (dataset, source) =>
    this.parts.changeLog.deleteChangeLog(dataset, source);
  readonly getReplayCursor: ChangeLogStore["getReplayCursor"] = (dataset, replica) =>
    this.parts.changeLog.getReplayCursor(dataset, replica);
  readonly moveReplayCursor: ChangeLogStore["moveReplayCursor"] = (dataset, replica, from, to, at) =>
    this.parts.changeLog.moveReplayCursor(dataset, replica, from, to, at);
  readonly listReplayCursors: ChangeLogStore["listReplayCursors"] = (dataset) =>
    this.parts.changeLog.listReplayCursors(dataset);
}
