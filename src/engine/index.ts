/**
 * `concord/engine`: a run over a dataset's open replicas — `runDataset`, the one orchestrator every entry
 * point calls — and the stages it is made of, for callers that act on a few keys (resolution, rollback).
 * Loads no database driver: replicas come in as Connectors, state as a StateStore.
 */
// biome-ignore-all assist/source/organizeImports: the exports are listed in documented groups, inside out
export { canaryKey, datasetPolicy, describeDataset } from "./describe-dataset.js";
export { observeKeys } from "./observe-keys.js";
export { type DatasetPlan, type GuardTrip, isRepairable, planDataset } from "./plan-dataset.js";
export { recordPlan } from "./record-plan.js";
export { recoverPending } from "./recover-pending.js";
export { type RepairOptions, repairDataset, repairTasks, runRepairTasks } from "./repair-dataset.js";
export type { OpenReplica, RunContext } from "./run-context.js";
export {
  type DatasetRunResult,
  type RunDatasetOptions,
  type RunDeps,
  type RunMode,
  type RunObserver,
  resumableRunId,
  runDataset,
  type SegmentOutcome,
} from "./run-dataset.js";
export {
  type DatasetScan,
  type ScanOptions,
  type ScanStats,
  scanCovers,
  scanDataset,
} from "./scan-dataset.js";
export { segmentBounds, segmentGroups, segmentsOf } from "./segments.js";
export { CandidateDecider, type CandidatePolicy } from "./candidate-decider.js";
export type {
  CandidateFigures,
  CanaryFigures,
  SegmentReport,
  ShadowFigures,
  SideFigures,
} from "./segment-report.js";
export {
  markChangedKeys,
  type PassPlan,
  type PlannedPassResult,
  planPass,
  recordWholePass,
  type PlannedPassOptions,
  runPlannedPass,
  segmentOf,
  type TreePassReport,
} from "./dirty-segment-pass.js";
export {
  compareSegmentTrees,
  hashSegments,
  type SegmentTreeView,
  type TreeComparison,
  viewSegmentTrees,
} from "./segment-trees.js";
export {
  feedOptions,
  type WatchCheck,
  type WatchDatasetOptions,
  type WatchedFeed,
  type WatchObserver,
  watchDataset,
} from "./watch-dataset.js";
export {
  RECHECK_COMMAND,
  type RetryOverflow,
  type WatchRecheck,
} from "./watch-rechecks.js";
export { type RetryEntry, type RetryReason, RetrySet, unsettledKeys } from "./retry-set.js";
export { type KeptLease, keepLease, LeaseLostError } from "./run-liveness.js";
export {
  REPLAY_COMMANDS,
  type ReplayBatch,
  type ReplayDatasetOptions,
  ReplayError,
  type ReplayObserver,
  type ReplayResult,
  replayDataset,
} from "./replay-dataset.js";
export { runSegmentJob, type SegmentJobOptions, type SegmentJobOutcome } from "./run-segment-job.js";
export { dispatchSegments } from "./dispatch-segments.js";
export {
  type QueuedTotals,
  queuedMode,
  type SegmentDispatch,
  SegmentFailedError,
  type SegmentFailure,
  type SegmentJob,
  type SegmentJobResult,
  type SegmentProgress,
} from "./segment-dispatch.js";
