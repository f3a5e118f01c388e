/** What `concord serve` offers its HTTP API and dashboard: read models and the few actions an operator takes. */

import type { AuditEntry } from "../core/audit-chain.js";
import type { DatasetHint } from "../core/consistency-hint.js";
import type { Key } from "../core/model.js";
import type { FocusPlanned } from "../engine/adaptive-focus.js";
import type { EscalationGroupView, EscalationValues, EscalationView } from "../engine/escalation-view.js";
import type { replaySummary } from "../engine/replay-dataset.js";
import type { BulkSummary, MatchPreview, Resolution, ResolveOutcome } from "../engine/resolve-escalation.js";
import type { QueueDepth, SegmentFailure } from "../engine/segment-dispatch.js";
import type { SegmentTreeView } from "../engine/segment-trees.js";
import type { DatasetInsights } from "../learning/dataset-insights.js";

export type { EscalationGroupView, EscalationValues, EscalationView } from "../engine/escalation-view.js";

import type { RunRecord, RunSegment, Sample } from "../state/state-store.js";

export type { QueueDepth } from "../engine/segment-dispatch.js";

import type { CanaryView } from "./canary-rollout.js";
import type { ApprovalView } from "./policy-approval.js";
import type { ShadowView } from "./shadow-tracker.js";

export type { CanaryView } from "./canary-rollout.js";
export type { ShadowView } from "./shadow-tracker.js";

/** A replay's outcome as the API answers it. */
export type ReplaySummary = ReturnType<typeof replaySummary>;

/** A replica's health as the service last saw it. */
export interface ReplicaHealth {
  readonly name: string;
  /** False when the last call to it failed (connection refused, timeout, permission). */
  readonly up: boolean;
  /** True while work on it is backed off because its calls are slower than `serve.slowReplica`. */
  readonly slow: boolean;
  /** Mean call latency over the last segment, in milliseconds. */
  readonly latencyMs?: number | undefined;
  /** The last error, one line, secrets redacted. */
  readonly lastError?: string | undefined;
  readonly checkedAt?: number | undefined;
}

/** One dataset's status for `/api/datasets` and the dashboard. */
export interface DatasetStatus {
  readonly name: string;
  readonly mode: "repair" | "scan";
  /** Milliseconds between passes; null: runs only when triggered, or on `scheduleCron`. */
  readonly scheduleMs: number | null;
  /** The cron schedule (UTC) passes start on, when the dataset has one instead of an interval. */
  readonly scheduleCron: string | null;
  readonly intensity: number;
  /** `paused`: a pass is under way but waits between segments until resumed (or aborted). */
  readonly state: "idle" | "running" | "paused" | "replaying" | "backing-off";
  /**
   * Why the dataset's last pass did not start or stopped, one line naming the dataset (a replica down, a
   * damaged checkpoint: `concord checkpoint drop` starts it afresh); null once a pass finished since.
   */
  readonly error: string | null;
  /** While running: segments finished of the pass, and how many there are. */
  readonly progress?:
    | { readonly done: number; readonly segments: number; readonly runId: string }
    | undefined;
  readonly nextRunAt?: number | undefined;
  /** The last finished pass. */
  readonly lastRun?: RunRecord | undefined;
  /** Divergences by class in the last finished pass. */
  readonly counts: Readonly<Record<string, number>>;
  /** Repair outcomes of the last finished pass (applied, noop, superseded, failed). */
  readonly repairs: Readonly<Record<string, number>>;
  readonly openEscalations: number;
  /** Last probe's convergence lag per polled replica, in seconds (null: not converged within the timeout). */
  readonly lag: Readonly<Record<string, number | null>>;
  readonly replicas: readonly ReplicaHealth[];
  /**
   * Adaptive focus (`focus: adaptive`): what the last planned pass prioritised and why; null when the dataset
   * scans uniformly.
   */
  readonly focus: FocusView | null;
  /** The change-log replay running, or the last one since serve started (null: none). */
  readonly replay: ReplayView | null;
  /**
   * A watched dataset's segment trees: each replica's root, whether the roots agree, and when the trees were
   * last complete (null: the dataset has no segment summary).
   */
  readonly segmentTrees?: SegmentTreeView | null;
}

/** A change-log replay under serve (`POST /api/datasets/:name/replay`, or the watcher's catch-up). */
export interface ReplayView {
  readonly replica: string;
  /** Who asked: `token:<name>`, "api", or "serve" for the watcher's automatic catch-up. */
  readonly by: string;
  readonly state: "running" | "finished" | "failed";
  readonly startedAt: number;
  readonly finishedAt?: number | undefined;
  /** The replica's cursor when the replay began and now, and where the owner's log ended then. */
  readonly from: number;
  readonly cursor: number;
  readonly last: number;
  /** Batches replayed so far, and the logged changes they held. */
  readonly batches: number;
  readonly changes: number;
  /** Why it stopped, one line (failed). */
  readonly error?: string | undefined;
}

/** What adaptive focus planned for the dataset's latest pass (hot segments with their visits and the drift that made them hot). */
export type FocusView = FocusPlanned;

/** One group of segments of a serve pass, as the runner saw it finish (kept in memory for recent passes). */
/** A group of segments of a run, as the state store keeps it for the drill-down (see SegmentStore). */
export type SegmentView = RunSegment;

/** What an operator can do to a running pass: hold it between segments, let it go on, or end it. */
export type PassControl = "pause" | "resume" | "abort";

/** A divergence of a dataset's last finished pass. */
/** Which divergences of the last finished passes `divergences` lists: of one dataset, of one class. */
export interface DivergenceQuery {
  readonly dataset?: string | undefined;
  readonly class?: string | undefined;
}

export interface DivergenceView {
  readonly dataset: string;
  readonly runId: string;
  /** Key values in key-column order, typed as JSON output shows them. */
  readonly key: readonly unknown[];
  readonly class: string;
  readonly detail: unknown;
}

/** What `audit verify` found: the chain, its anchors and the ledger against the audit. */
export interface AuditVerification {
  readonly ok: boolean;
  readonly count: number;
  /** The first entry that does not verify, and why (a broken chain). */
  readonly firstBad?: { readonly seq: number; readonly reason: string } | undefined;
  /** Why verification failed when no single entry is to blame (anchors, the ledger against the audit). */
  readonly problem?: string | undefined;
}

/**
 * History for the dashboard's charts and summary figures: serve's own passes (commands "serve scan" and
 * "serve repair"); CLI runs (scan, plan, repair) are in `runs()` but not here, so "per pass" means one thing.
 */
export interface History {
  /** Finished passes, oldest first. */
  readonly runs: readonly {
    readonly runId: string;
    /** "serve scan" or "serve repair". */
    readonly command: string;
    readonly dataset: string;
    readonly at: number;
    readonly durationMs: number;
    readonly counts: Readonly<Record<string, number>>;
    readonly repairs: Readonly<Record<string, number>>;
  }[];
  /** Probe lag samples (series "lag", label = replica, value in seconds or null = timed out). */
  readonly lag: readonly Sample[];
  /** Time-to-convergence samples (series "ttc", seconds from first detection to verified repair). */
  readonly ttc: readonly Sample[];
  /** Read-after-write anomalies seen by probes (series "anomaly", label = replica). */
  readonly anomalies: readonly Sample[];
  readonly summary: {
    /** How many passes the figures cover (the length of `runs`). */
    readonly passes: number;
    /** Share of passes that ended with the replicas agreeing (ignoring tolerated and in-flight). */
    readonly convergenceRate: number | null;
    /** Time to convergence percentiles, seconds. */
    readonly ttc: { readonly p50: number | null; readonly p90: number | null; readonly p99: number | null };
    /** applied + noop over all attempted repairs. */
    readonly repairSuccessRate: number | null;
    /** Escalated divergences over all divergences. */
    readonly escalationRate: number | null;
  };
}

/** Which escalations a list, count, grouping or bulk resolution covers (every field given must match). */
export interface EscalationQuery {
  readonly status?: "open" | "resolved" | "rejected" | undefined;
  readonly dataset?: string | undefined;
  readonly class?: string | undefined;
  /** Escalations whose differing columns include this one. */
  readonly column?: string | undefined;
  /** Escalations that concern this replica (it lacks the record, or holds the odd value out). */
  readonly replica?: string | undefined;
  /** Escalations of this group (an `EscalationGroupView.id`). */
  readonly group?: string | undefined;
}

/** A bulk resolution's answer: the preview when not confirmed, else what was done. */
export type BulkAnswer =
  | { readonly confirmed: false; readonly preview: MatchPreview }
  | {
      readonly confirmed: true;
      readonly summary: BulkSummary;
      /** The escalations left open and why (at most 1,000). */
      readonly open: readonly { readonly id: string; readonly note?: string | undefined }[];
    };

/** A dataset's policy history for the dashboard: the current version, every version, and the last change's diff. */
export interface PolicyView {
  readonly dataset: string;
  /** The version in force (null: no repair pass has run under a policy yet). */
  readonly current: string | null;
  readonly adoptedAt: number | null;
  /** The version it replaced. */
  readonly previous: string | null;
  /** Every version the dataset ran under, first used first. */
  readonly versions: readonly {
    readonly version: string;
    readonly firstUsedAt: number;
    readonly firstUsedBy: string;
    readonly firstRunId: string;
    readonly source: string;
  }[];
  /** The current version's full text. */
  readonly text: string | null;
  /** The current version against the previous one, line by line ("- ", "+ ", "  "); [] when none. */
  readonly diff: readonly string[];
  /** The candidate in shadow, as `candidate(dataset)` gives it; null when the dataset has none. */
  readonly candidate: ShadowView | CanaryView | null;
  /** A promotion or a reloaded policy waiting for approvers, as `approval(dataset)` gives it. */
  readonly approval: ApprovalView | null;
}

/** What a reload applied: per dataset, the settings changed; whether the API tokens changed. */
export interface ReloadOutcome {
  readonly reloaded: true;
  readonly datasets: Readonly<Record<string, readonly string[]>>;
  readonly tokens: boolean;
}

/** Thrown by `trigger`: `kind` tells the HTTP layer which status to answer (400, 404, 409, 503). */
export class TriggerError extends Error {
  override readonly name = "TriggerError";
  constructor(
    readonly kind:
      | "unknown-dataset"
      | "busy"
      | "stopping"
      | "idle"
      | "standby"
      | "bad-replica"
      | "not-replay"
      | "damaged-checkpoint"
      | "state-store",
    message: string,
  ) {
    super(message);
  }
}

/** A dataset's hint with its name and when it was computed. */
export interface DatasetHintView extends DatasetHint {
  readonly dataset: string;
  /** ISO time the hint was computed. */
  readonly at: string;
  /** The lag p99 above which the dataset is `lagging`, seconds. */
  readonly lagThresholdSeconds: number;
}

/** What an application may want to know about one key before trusting a replica's copy of it. */
export interface KeyHintView {
  readonly dataset: string;
  /** The key's values in key-column order, as given (null for a NULL part). */
  readonly key: Key;
  /** Seen divergent and not yet repaired and verified: read it from the owner meanwhile. */
  readonly divergent: boolean;
  /** A repair is still to come (the key is divergent and Concord will repair it, or a person must decide). */
  readonly repairPending: boolean;
  /** When it was first seen divergent (ISO), null when it is not. */
  readonly divergentSince: string | null;
  /** When Concord last found its copies in agreement (a check of the key, or a whole pass), ISO; null if never. */
  readonly lastVerifiedAt: string | null;
}

/**
 * The service behind the HTTP API. Every method answers from the state store and the scheduler's
 * in-memory status; none blocks on a running pass.
 */

/** What a coordinator's queue reads: each dataset's depth. */
export interface QueueView {
  depths(datasets: readonly string[], now: number): Promise<QueueDepth[]>;
}

/** `/api/queue`: the queue's depth per dataset, and the segments each worker finished (since this start). */
export interface QueueStatus {
  readonly datasets: readonly QueueDepth[];
  readonly workers: readonly {
    readonly worker: string;
    readonly dataset: string;
    readonly segments: number;
  }[];
  /** The latest failed attempts of segment jobs (at most 50), newest last: which worker failed which segment. */
  readonly failures: readonly (SegmentFailure & { readonly at: number })[];
}

export interface ServiceApi {
  /** A coordinator's queue (absent in `--role all`). */
  queue?(): Promise<QueueStatus>;
  health(): { readonly ok: boolean; readonly startedAt: number; readonly datasets: number };
  datasets(): Promise<DatasetStatus[]>;
  runs(filter: { dataset?: string; limit?: number }): Promise<RunRecord[]>;
  /** The per-dataset records of one run; empty when there is no such run. */
  run(id: string): Promise<RunRecord[]>;
  /**
   * The segment groups of a run, in order, from the state store: serve passes, CLI runs and worker segments
   * alike, whichever process ran them; empty for runs over a list of keys and runs past the retention.
   */
  segments(id: string): Promise<SegmentView[]>;
  /**
   * Pauses (after the segment in flight), resumes or aborts (after the step in flight; the pass is recorded
   * failed with `aborted`, its checkpoint dropped) the dataset's running pass. Throws TriggerError:
   * unknown-dataset, or idle when no pass is running. Answers the dataset's state after the call.
   */
  control(
    dataset: string,
    action: PassControl,
  ): Promise<{ readonly runId: string; readonly state: DatasetStatus["state"] }>;
  /**
   * Divergences of each dataset's last finished pass (or of `dataset` only), optionally of one class, paged
   * (`offset`, `limit`; datasets in config order, each pass's in the order recorded), read a page at a time.
   */
  divergences(filter: DivergenceQuery & { limit?: number; offset?: number }): Promise<DivergenceView[]>;
  /** How many divergences match (what `divergences` would list unpaged). */
  countDivergences(filter: DivergenceQuery): Promise<number>;
  /** Escalations matching the query, oldest first, paged (`offset`, `limit`). */
  escalations(filter: EscalationQuery & { limit?: number; offset?: number }): Promise<EscalationView[]>;
  /** How many escalations match the query (what `escalations` would list unpaged). */
  countEscalations(filter: EscalationQuery): Promise<number>;
  /** The matching escalations folded into groups alike enough for one decision, largest first. */
  escalationGroups(filter: EscalationQuery): Promise<EscalationGroupView[]>;
  /** One escalation; throws ResolveError("not-found"). */
  escalation(id: string): Promise<EscalationView>;
  /** The escalated key's current values on every replica, read now; throws ResolveError("not-found"). */
  escalationValues(id: string): Promise<EscalationValues>;
  /**
   * Resolves an escalation through the conditional write path; throws ResolveError (see
   * resolve-escalation.ts). `by` names who asked (default "api").
   */
  resolve(id: string, choice: Resolution, by?: string): Promise<ResolveOutcome>;
  /**
   * Resolves every open escalation matching the query with one choice, once confirmed by the count or the
   * token of the preview; without `confirm` answers the preview and writes nothing. Throws
   * ResolveError("unconfirmed") when the matching set changed since.
   */
  resolveMatching(
    filter: EscalationQuery,
    choice: Resolution,
    confirm: { count?: number | undefined; token?: string | undefined } | undefined,
    by?: string,
  ): Promise<BulkAnswer>;
  audit(filter: { run?: string; key?: string; limit?: number }): Promise<AuditEntry[]>;
  verifyAudit(): Promise<AuditVerification>;
  /**
   * Starts a pass of `dataset` now (it runs in the background); throws TriggerError. With `by`, a `triggered`
   * audit entry names who asked.
   */
  trigger(dataset: string, mode: "scan" | "repair", by?: string): Promise<{ readonly runId: string }>;
  /**
   * Replays the dataset's owner change log onto `replica` in serve's process, serialised with its passes, and
   * answers what it came to (`replaySummary`); `by` is audited. Throws TriggerError: unknown-dataset,
   * bad-replica (not one of its replicas, or its owner), not-replay (its policy is not `resolve: replay`),
   * busy (a pass or a replay runs), stopping, standby; ReplayError when the replay stops (a batch left
   * divergences, the cursor moved under it).
   */
  replay(dataset: string, replica: string, by?: string): Promise<ReplaySummary>;
  history(filter: { dataset?: string; since?: number }): Promise<History>;
  /** Prometheus text exposition. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** The dataset's consistency hint now; throws TriggerError("unknown-dataset"). */
  hint(dataset: string): Promise<DatasetHintView>;
  /** One key's hint (`key`: its values in key-column order); throws TriggerError("unknown-dataset"). */
  keyHint(dataset: string, key: Key): Promise<KeyHintView>;
  /** Calls `listener` with the dataset's hint now and on every change; returns the unsubscribe function. */
  subscribeHints(dataset: string, listener: (hint: DatasetHintView) => void): () => void;
  /**
   * The dataset's candidate policy in shadow: agreement with the live policy, disagreements by rule, and what
   * it would have written; null when the dataset has no candidate. Throws TriggerError("unknown-dataset").
   */
  candidate(dataset: string): Promise<ShadowView | CanaryView | null>;
  /**
   * An approver approves promoting the dataset's canary rollout to its next step (audited `canary-step` once
   * enough distinct approvers have); throws CanaryError when there is no rollout awaiting approval, or
   * `by` already approved this step.
   */
  approveCandidate(dataset: string, by: string): Promise<CanaryView>;
  /**
   * The policy change waiting for approvers: promoting the shadow candidate, or the policy a reload brought
   * (`policyApprovals`); null when none waits. Throws TriggerError("unknown-dataset").
   */
  approval(dataset: string): Promise<ApprovalView | null>;
  /**
   * An approver approves promoting the dataset's shadow candidate to its live policy; with the candidate's
   * `approvals` distinct approvers (audited `policy-approval` each, then `candidate-promoted`) the next pass
   * decides by it and adopts it. Throws ApprovalError: no shadow candidate, or `by` already approved.
   */
  promoteCandidate(dataset: string, by: string): Promise<ApprovalView>;
  /**
   * An approver approves the policy a reload brought; with `policyApprovals` distinct approvers (audited
   * `policy-approval` each, then `policy-approved`) the next pass adopts it. Throws ApprovalError.
   */
  approvePolicy(dataset: string, by: string): Promise<ApprovalView>;
  /** Each dataset's policy versions, the current one, and the diff of the last change. */
  policies(): Promise<PolicyView[]>;
  /**
   * What the evidence says about each dataset (or only `dataset`): reliability ranking, hotspots, patterns,
   * recommendations — the `concord insights --json` datasets. Throws TriggerError("unknown-dataset").
   */
  insights(dataset?: string): Promise<DatasetInsights[]>;
  /**
   * Reads the config file again and applies it from the next pass on, audited (`config-reloaded`, naming
   * `by`); a changed policy is adopted, registered and audited by the dataset's next repair pass (once
   * approved, under `policyApprovals`: see approvePolicy). Throws
   * ReloadError (one line) when the file is invalid or changes what needs a restart: the running config is kept.
   */
  reload(by: string): Promise<ReloadOutcome>;
}
