/**
 * One dataset under `serve`: passes over its key space segment by segment, with a checkpoint after each
 * segment so a restart resumes where it stopped; pauses between segments by `intensity`; backs off a slow
 * or failing replica; never runs two passes at once. Also runs the dataset's convergence probe.
 */
import type { CandidateConfig, DatasetConfig, ServeConfig } from "../config/load-config.js";
import { openConnector } from "../connectors/open-connector.js";
import { BENIGN_CLASSES } from "../core/classify.js";
import { nextCronTime, parseCron } from "../core/cron.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import { canaryKey, describeDataset } from "../engine/describe-dataset.js";
import { runPlannedPass } from "../engine/dirty-segment-pass.js";
import { type ReplayResult, replayDataset, replaySource } from "../engine/replay-dataset.js";
import type { OpenReplica } from "../engine/run-context.js";
import {
  type DatasetRunResult,
  evidenceReader,
  resumableRunId,
  type SegmentOutcome,
} from "../engine/run-dataset.js";
import { newRunId } from "../engine/run-id.js";
import {
  acquirePass,
  HEARTBEAT_MS,
  type KeptLease,
  keepLease,
  LEASE_TTL_MS,
  PassOwnedError,
  passLease,
} from "../engine/run-liveness.js";
import { queuedMode, type SegmentDispatch } from "../engine/segment-dispatch.js";
import type { SegmentReport } from "../engine/segment-report.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { probeEvidence } from "../learning/evidence-of-run.js";
import {
  FocusTracker,
  focusStretch,
  foundDrift,
  hotFirst,
  planFocus,
  planRest,
} from "../learning/focus-order.js";
import type { RunRecord, StateStore } from "../state/state-store.js";
import {
  CanaryError,
  type CanaryEvent,
  CanaryRollout,
  type CanarySnapshot,
  type CanaryView,
  candidateSubject,
} from "./canary-rollout.js";
import type { ServeMetrics } from "./metrics.js";
import {
  ApprovalError,
  type ApprovalSnapshot,
  type ApprovalView,
  PolicyApproval,
  policySubject,
} from "./policy-approval.js";
import { type ProbeOutcome, Prober } from "./probe.js";
import { HealthTracker, watch } from "./replica-health.js";
import { countRepairs, markSegment } from "./segment-marks.js";
import {
  type DatasetStatus,
  type FocusView,
  type PassControl,
  type ReplayView,
  TriggerError,
} from "./service-api.js";
import { ShadowTracker, type ShadowView } from "./shadow-tracker.js";

export type PassMode = "scan" | "repair";

export interface RunnerDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly serve: ServeConfig;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** Told when a pass or a probe finished (alert evaluation). */
  readonly onChange?: () => void;
  /** Told when a pass ended, finished or not (the hints' last agreeing pass is read again). */
  readonly onPassEnd?: () => void;
  /** Signs the audit log's head once a pass has written its entries (when anchoring is configured). */
  readonly anchor?: () => Promise<void>;
  /** This process as the owner of the passes it runs (`host:pid:random`): one process runs a dataset's pass. */
  readonly owner: string;
  /** The config file the datasets' policies come from (recorded in the policy registry). */
  readonly configFile?: string | undefined;
  /**
   * The job queue of a coordinator (`serve --role coordinator`): passes run their segments on worker
   * processes (runDataset's `dispatch`) instead of in this process.
   */
  readonly dispatch?: SegmentDispatch | undefined;
}

const MAX_BACKOFF_MS = 5 * 60_000;
/** The longest delay a Node timer keeps (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const FIRST_BACKOFF_MS = 1000;

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

export class DatasetRunner {
  private readonly replicas = new Map<string, OpenReplica>();
  /** Replicas being opened, by name (one opening per replica at a time). */
  private readonly opening = new Map<string, Promise<OpenReplica>>();
  private readonly health: Map<string, HealthTracker>;
  private resolved: ResolvedShape | undefined;
  private running: Promise<void> | undefined;
  private progress: DatasetStatus["progress"];
  private backoffMs = 0;
  private nextRunAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private prober: Prober | undefined;
  private stopping = false;
  private abort = new AbortController();
  /** Last probe's lag per replica, seconds (null: not converged within the timeout). */
  readonly lag: Record<string, number | null> = {};
  private readonly gaugedClasses = new Set<string>();
  /** Failed repairs in the last finished pass. */
  lastFailed = 0;
  /** The running pass's own stop (abort), apart from the service's; made when it is launched. */
  private passAbort = new AbortController();
  /** The run id of the pass launched last (while `busy`, the running one). */
  private launched: string | undefined;
  /** Set while an operator holds the running pass; `release` lets it go on. */
  private held: { readonly released: Promise<void>; readonly release: () => void } | undefined;

  /** Who changed the dataset's policy by a reload, named by the next pass that adopts it. */
  private policyActor: string | undefined;
  /** The shadow candidate's figures (`candidate: { mode: shadow }`); reset when the candidate changes. */
  private shadowTracker: ShadowTracker | undefined;
  /**
   * The staged rollout (`candidate: { mode: canary }`), read from the state store once (where a restart left
   * it) and saved there after every change; reset when the candidate changes.
   */
  private rollout: CanaryRollout | undefined;
  /** What adaptive focus planned for the latest pass (`focus: adaptive`). */
  private focusView: FocusView | null = null;
  /** Visits ÷ segments of the last focused pass: the wait before the next pass grows by it (same read rate). */
  private stretch = 1;
  /** Adaptive focus's live evidence: what the latest visits of each segment found (this process's passes). */
  private readonly focusTracker = new FocusTracker();
  /** Divergent keys the pieces of the segment being visited found so far (a segment cut into pieces). */
  private focusPieces = 0;
  private rolloutLoad: Promise<CanaryRollout> | undefined;
  /** The change-log replay running (or the last one): shown in status. */
  private replayView: ReplayView | null = null;
  private replaying: Promise<unknown> | undefined;
  private rolloutReset: Promise<void> = Promise.resolve();

  /** The dataset as the config file declares it; `config` is what runs (a promotion or a held reload applied). */
  private fileConfig: DatasetConfig;
  /** A policy change waiting for its approvers (kept in the state store, kind `approval`). */
  private approval: PolicyApproval | undefined;
  /** The shadow candidate promoted to live, by its subject and approvers (kept, kind `promoted`). */
  private promoted: { readonly subject: string; readonly approvers: readonly string[] } | undefined;

  constructor(
    private config: DatasetConfig,
    private readonly deps: RunnerDeps,
  ) {
    const ds = config;
    this.fileConfig = config;
    this.health = new Map(
      ds.replicas.map((r) => [
        r.name,
        new HealthTracker(r.name, deps.now, (up) =>
          deps.metrics.replicaUp.set({ dataset: ds.name, replica: r.name }, up ? 1 : 0),
        ),
      ]),
    );
  }

  /** The dataset's config (the reloaded one after a reload). */
  get ds(): DatasetConfig {
    return this.config;
  }

  /**
   * Takes a reloaded config of the dataset (same replicas and shape: see planReload). A pass in flight
   * finishes under the old settings; the next one uses the new. A changed schedule is rescheduled at once.
   * `policyBy`: who changed the policy, named in the registry and audit by the next pass that adopts it.
   * With `policyApprovals`, a changed policy waits for its approvers (approvePolicy) and the live one runs
   * meanwhile; a changed candidate drops a promotion waiting for approvers, or one made of the old candidate.
   */
  async reconfigure(ds: DatasetConfig, policyBy?: string): Promise<void> {
    const old = this.config;
    const oldFile = this.fileConfig;
    this.fileConfig = ds;
    if (JSON.stringify(oldFile.candidate) !== JSON.stringify(ds.candidate)) {
      this.shadowTracker = undefined;
      this.rollout = undefined;
      this.rolloutLoad = undefined;
      // Another candidate starts afresh: the stored progress was the old one's, dropped before it is read.
      this.rolloutReset = this.deps.state
        .deleteRollout(ds.name, "canary")
        .catch((err) => this.deps.log(`${ds.name}: cannot reset the canary rollout: ${message(err)}`));
      if (ds.candidate?.mode === "canary")
        this.canary(ds.candidate).catch((err) =>
          this.deps.log(`${ds.name}: cannot read the canary rollout: ${message(err)}`),
        );
      if (this.approval?.snapshot.kind === "promotion") await this.dropApproval();
      if (this.promoted && this.promoted.subject !== (ds.candidate && candidateSubject(ds.candidate))) {
        this.promoted = undefined;
        await this.deps.state.deleteRollout(ds.name, "promoted");
      }
    }
    if (JSON.stringify(oldFile.policy) !== JSON.stringify(ds.policy))
      await this.holdPolicy(ds, old, policyBy);
    this.config = this.effective(ds);
    if (policyBy !== undefined && JSON.stringify(old.policy) !== JSON.stringify(this.config.policy))
      this.policyActor = policyBy;
    const rescheduled =
      old.scheduleMs !== ds.scheduleMs || old.scheduleCron !== ds.scheduleCron || old.mode !== ds.mode;
    if (!rescheduled || this.busy || this.stopping || this.backoffMs > 0) return;
    const next = this.untilNext();
    if (next !== undefined) this.schedule(next, ds.mode);
    else {
      clearTimeout(this.timer);
      this.nextRunAt = undefined;
    }
  }

  /** The dataset as it runs: the file's, with a promoted candidate as its policy or a held reload's old one. */
  private effective(file: DatasetConfig): DatasetConfig {
    const c = file.candidate;
    if (c && this.promoted?.subject === candidateSubject(c))
      return { ...file, policy: c.policy, candidate: undefined };
    const a = this.approval?.snapshot;
    if (a?.kind === "reload" && a.from && JSON.stringify(file.policy) === JSON.stringify(a.policy))
      return { ...file, policy: a.from };
    return file;
  }

  /**
   * A reload changed the file's policy: with approvers required, the running policy stays live and the new
   * one waits (a `policy-approval-requested` entry); back to the running policy, what waited is dropped.
   */
  private async holdPolicy(ds: DatasetConfig, running: DatasetConfig, by: string | undefined): Promise<void> {
    const needed = ds.policyApprovals ?? 0;
    const live = this.approval?.snapshot.kind === "reload" ? this.approval.snapshot.from! : running.policy;
    if (this.approval?.snapshot.kind === "reload") await this.dropApproval();
    if (needed === 0 || JSON.stringify(ds.policy) === JSON.stringify(live)) return;
    this.approval = new PolicyApproval({
      kind: "reload",
      subject: policySubject(ds.policy),
      source: this.deps.configFile ?? "config",
      requestedBy: by ?? "serve",
      requestedAt: this.deps.now(),
      approvals: [],
      approvalsNeeded: needed,
      policy: ds.policy,
      from: live,
    });
    await this.saveApproval();
    await this.audit("policy-approval-requested", {
      kind: "reload",
      by: by ?? "serve",
      source: this.approval.snapshot.source,
      needed,
    });
    this.deps.log(`${ds.name}: the reloaded policy waits for ${needed} approver${needed === 1 ? "" : "s"}`);
  }

  /** The policy change waiting for approvers, if any. */
  approvalView(): ApprovalView | undefined {
    return this.approval?.view();
  }

  /**
   * An approver approves promoting the shadow candidate to the live policy; with the candidate's `approvals`
   * distinct approvers it is live from the next pass (`candidate-promoted`; the pass adopts it in the
   * registry, named after its approvers). Throws ApprovalError.
   */
  async promote(by: string): Promise<ApprovalView> {
    const c = this.fileConfig.candidate;
    if (this.promoted && c && this.promoted.subject === candidateSubject(c))
      throw new ApprovalError(`dataset ${this.ds.name}: its candidate was already promoted`);
    if (c?.mode !== "shadow")
      throw new ApprovalError(`dataset ${this.ds.name} has no shadow candidate to promote`);
    const subject = candidateSubject(c);
    if (this.approval?.snapshot.kind !== "promotion" || this.approval.snapshot.subject !== subject)
      this.approval = new PolicyApproval({
        kind: "promotion",
        subject,
        source: c.file,
        requestedBy: by,
        requestedAt: this.deps.now(),
        approvals: [],
        approvalsNeeded: c.approvals,
        policy: c.policy,
      });
    const approval = this.approval;
    const outcome = approval.approve(by);
    await this.saveApproval();
    await this.audit("policy-approval", outcome.data);
    if (outcome.done) {
      const approvers = approval.view().approvals;
      this.promoted = { subject, approvers };
      await this.deps.state.putRollout({
        dataset: this.ds.name,
        kind: "promoted",
        subject,
        state: { approvers },
        updatedAt: this.deps.now(),
      });
      await this.dropApproval();
      this.shadowTracker = undefined;
      this.config = this.effective(this.fileConfig);
      this.policyActor = approvers.join(", ");
      await this.audit("candidate-promoted", { file: c.file, approvers });
      this.deps.log(`${this.ds.name}: candidate ${c.file} promoted to live by ${approvers.join(", ")}`);
    }
    return approval.view();
  }

  /**
   * An approver approves the policy a reload brought; with `policyApprovals` distinct approvers it is live
   * from the next pass (`policy-approved`). Throws ApprovalError when none waits or `by` already approved.
   */
  async approvePolicy(by: string): Promise<ApprovalView> {
    const approval = this.approval;
    if (approval?.snapshot.kind !== "reload")
      throw new ApprovalError(`dataset ${this.ds.name} has no reloaded policy waiting for approval`);
    const outcome = approval.approve(by);
    await this.saveApproval();
    await this.audit("policy-approval", outcome.data);
    if (outcome.done) {
      const approvers = approval.view().approvals;
      await this.dropApproval();
      this.config = this.effective(this.fileConfig);
      this.policyActor = `${approval.snapshot.requestedBy} (approved by ${approvers.join(", ")})`;
      await this.audit("policy-approved", { requestedBy: approval.snapshot.requestedBy, approvers });
      this.deps.log(`${this.ds.name}: the reloaded policy approved by ${approvers.join(", ")}`);
    }
    return approval.view();
  }

  /** Reads what a restart must not forget: a promotion made, and a change waiting for approvers. */
  private async restoreApprovals(): Promise<void> {
    const { state } = this.deps;
    const file = this.fileConfig;
    const [promoted, waiting] = await Promise.all([
      state.getRollout(file.name, "promoted"),
      state.getRollout(file.name, "approval"),
    ]);
    if (promoted && file.candidate && promoted.subject === candidateSubject(file.candidate))
      this.promoted = {
        subject: promoted.subject,
        approvers: (promoted.state as { approvers: string[] }).approvers,
      };
    else if (promoted) await state.deleteRollout(file.name, "promoted");
    const a = waiting?.state as ApprovalSnapshot | undefined;
    const stillAsked =
      a &&
      (a.kind === "promotion"
        ? file.candidate?.mode === "shadow" && waiting!.subject === candidateSubject(file.candidate)
        : waiting!.subject === policySubject(file.policy));
    if (stillAsked) this.approval = new PolicyApproval(a);
    else if (waiting) await state.deleteRollout(file.name, "approval");
    this.config = this.effective(file);
  }

  private async saveApproval(): Promise<void> {
    const a = this.approval;
    if (!a) return;
    const s = a.state();
    await this.deps.state.putRollout({
      dataset: this.ds.name,
      kind: "approval",
      subject: s.subject,
      state: s,
      updatedAt: this.deps.now(),
    });
  }

  private async dropApproval(): Promise<void> {
    this.approval = undefined;
    await this.deps.state.deleteRollout(this.ds.name, "approval");
  }

  private async audit(
    type: "policy-approval-requested" | "policy-approval" | "policy-approved" | "candidate-promoted",
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.deps.state.appendAudit([
      { ts: this.deps.now(), runId: null, type, dataset: this.ds.name, key: null, data },
    ]);
    await this.deps.anchor?.();
    this.deps.onChange?.();
  }

  /** The candidate's figures (shadow) or rollout (canary), or undefined when the dataset has no candidate. */
  async shadow(): Promise<ShadowView | CanaryView | undefined> {
    const c = this.ds.candidate;
    if (!c) return undefined;
    return c.mode === "canary" ? (await this.canary(c)).view() : this.tracker(c.file).view();
  }

  /** True while the dataset's canary rollout stands rolled back (the `canary-rolled-back` alert). */
  canaryRolledBack(): boolean {
    return this.ds.candidate?.mode === "canary" && this.rollout?.view().status === "rolled-back";
  }

  /** An approver approves promoting the rollout to its next step; audited. Throws CanaryError. */
  async approve(by: string): Promise<CanaryView> {
    const c = this.ds.candidate;
    if (c?.mode !== "canary") throw new CanaryError(`dataset ${this.ds.name} has no canary rollout`);
    const rollout = await this.canary(c);
    const events = rollout.approve(by);
    await this.saveCanary(rollout);
    await this.recordCanary(events, undefined);
    return rollout.view();
  }

  /** The rollout of candidate `c`: where the state store says it stands, or at its first step. */
  private canary(c: CandidateConfig): Promise<CanaryRollout> {
    this.rolloutLoad ??= this.rolloutReset
      .then(() => this.deps.state.getRollout(this.ds.name, "canary"))
      .then(
        (saved) => {
          const resumed = saved?.subject === candidateSubject(c);
          const rollout = new CanaryRollout(c, resumed ? (saved.state as CanarySnapshot) : undefined);
          // A reload may have replaced the candidate while the store answered.
          if (this.ds.candidate === c) this.rollout = rollout;
          return rollout;
        },
        (err: unknown) => {
          this.rolloutLoad = undefined;
          throw err;
        },
      );
    return this.rolloutLoad;
  }

  /** Keeps the rollout's progress in the state store (a restart resumes it there). */
  private async saveCanary(rollout: CanaryRollout): Promise<void> {
    if (this.rollout !== rollout) return;
    await this.deps.state.putRollout({
      dataset: this.ds.name,
      kind: "canary",
      subject: candidateSubject(rollout.config),
      state: rollout.snapshot(),
      updatedAt: this.deps.now(),
    });
  }

  private async recordCanary(events: readonly CanaryEvent[], runId: string | undefined): Promise<void> {
    if (!events.length) return;
    const { state, now } = this.deps;
    await state.appendAudit(
      events.map((e) => ({
        ts: now(),
        runId: runId ?? null,
        type: e.type,
        dataset: this.ds.name,
        key: null,
        data: e.data,
      })),
    );
    for (const e of events)
      this.deps.log(
        e.type === "canary-rolled-back"
          ? `ALERT ${this.ds.name}: canary rolled back: ${String(e.data.reason)}`
          : `${this.ds.name}: canary promoted from ${String(e.data.from)} to ${String(e.data.to)} by ${(e.data.approvers as string[]).join(", ")}`,
      );
    this.deps.onChange?.();
  }

  private tracker(file: string): ShadowTracker {
    this.shadowTracker ??= new ShadowTracker(file);
    return this.shadowTracker;
  }

  /** A pass or a replay is running: nothing else starts. */
  get busy(): boolean {
    return this.running !== undefined || this.replaying !== undefined;
  }

  /**
   * Replays the owner's change log onto `replica` in this process (engine/replay-dataset.ts) and answers what
   * it came to. Serialised with the dataset's passes: refused (TriggerError "busy") while a pass or a replay
   * runs here, or while another process holds the dataset's pass lease, which the replay holds (keepLease:
   * renewed every heartbeat and before each batch) for as long as it runs; a pass scheduled meanwhile starts
   * after it. Another process taking the lease stops it: no batch after the loss, its cursor after the last
   * batch finished, a ReplayError naming the holder. `by` is
   * named as the runs' actor and in a `triggered` audit entry (mode `replay`). Throws ReplayError when the dataset or replica does not fit.
   */
  async replay(replica: string, by: string, options: { batch?: number } = {}): Promise<ReplayResult> {
    const { state, now } = this.deps;
    const ds = this.ds;
    if (this.stopping) throw new TriggerError("stopping", "the service is stopping");
    replaySource(ds, replica);
    if (this.replaying !== undefined)
      throw new TriggerError(
        "busy",
        `dataset ${ds.name} is already replaying onto ${this.replayView?.replica ?? "a replica"}`,
      );
    if (this.running !== undefined) throw new TriggerError("busy", `dataset ${ds.name} is running a pass`);
    let release = () => {};
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.replaying = done;
    try {
      try {
        await acquirePass(state, ds.name, this.deps.owner, now());
      } catch (err) {
        if (err instanceof PassOwnedError) throw new TriggerError("busy", err.message);
        throw err;
      }
      const lease = passLease(ds.name);
      // Renewed every heartbeat and before each batch; lost, the replay stops (ReplayError naming the holder).
      const kept = keepLease({
        state,
        now,
        name: lease,
        owner: this.deps.owner,
        ttlMs: LEASE_TTL_MS,
        everyMs: HEARTBEAT_MS,
      });
      try {
        return await this.replayHeld(replica, by, options, kept);
      } finally {
        await kept.stop();
        await state.releaseLease(lease, this.deps.owner).catch(() => {});
      }
    } finally {
      this.replaying = undefined;
      release();
      // A scheduled pass that came due during the replay starts now.
      if (
        !this.stopping &&
        this.nextRunAt !== undefined &&
        this.nextRunAt <= now() &&
        this.running === undefined
      )
        this.schedule(0, this.ds.mode);
      this.deps.onChange?.();
    }
  }

  private async replayHeld(
    replica: string,
    by: string,
    options: { batch?: number },
    lease: KeptLease,
  ): Promise<ReplayResult> {
    const { state, now, metrics } = this.deps;
    const ds = this.ds;
    await state.appendAudit([
      {
        ts: now(),
        runId: null,
        type: "triggered",
        dataset: ds.name,
        key: null,
        data: { by, mode: "replay", replica },
      },
    ]);
    const startedAt = now();
    let view: ReplayView = {
      replica,
      by,
      state: "running",
      startedAt,
      from: 0,
      cursor: 0,
      last: 0,
      batches: 0,
      changes: 0,
    };
    this.replayView = view;
    this.deps.log(`${ds.name}: replaying the owner's change log onto ${replica} (asked by ${by})`);
    try {
      const result = await replayDataset(
        ds,
        await this.open(),
        { state, now },
        {
          replica,
          batch: options.batch,
          newRunId: () => newRunId(new Date(now())),
          signal: this.abort.signal,
          lease,
          run: {
            actor: by,
            policySource: this.deps.configFile,
            guard: {
              onRetry: (r) => metrics.retries.inc({ dataset: ds.name, replica: r }),
              onRate: (r, rate) => metrics.repairWriteRate.set({ dataset: ds.name, replica: r }, rate ?? -1),
            },
            // Metrics, divergent-key marks and times to convergence, as for a pass's groups.
            observer: { onSegmentDone: (report, work) => this.segmentDone(report, work) },
          },
          observer: {
            onStart: ({ cursor, last }) => {
              view = { ...view, from: cursor, cursor, last };
              this.replayView = view;
            },
            onGap: ({ message: line }) => this.deps.log(line),
            onBatch: (b) => {
              view = { ...view, cursor: b.to, batches: view.batches + 1, changes: view.changes + b.changes };
              this.replayView = view;
            },
          },
        },
      );
      const repaired = Object.values(result.totals.repairs).reduce((a, n) => a + n, 0);
      this.replayView = { ...view, state: "finished", cursor: result.to, finishedAt: now() };
      this.deps.log(
        `${ds.name}: replayed onto ${replica}: cursor ${result.from} → ${result.to} (log ends at ${result.last}), ${result.changes} changes in ${result.batches} batches${result.gap ? ", a full pass instead" : ""}; ${repaired} repairs`,
      );
      await this.deps.anchor?.();
      return result;
    } catch (err) {
      this.replayView = { ...view, state: "failed", finishedAt: now(), error: message(err) };
      this.deps.log(`${ds.name}: replay onto ${replica} stopped: ${message(err)}`);
      await this.deps.anchor?.();
      throw err;
    }
  }

  replicasDown(): string[] {
    return [...this.health.values()].filter((h) => !h.up).map((h) => h.name);
  }

  /** Starts the schedule (and the probe), again after a stop; resumes an unfinished pass at once. */
  async start(): Promise<void> {
    if (this.stopping) {
      await this.running?.catch(() => {});
      this.stopping = false;
      this.abort = new AbortController();
    }
    await this.restoreApprovals();
    // A rollout resumes where it stood before the restart (and its rolled-back alert holds).
    const c = this.ds.candidate;
    if (c?.mode === "canary") await this.canary(c);
    const cp = await this.deps.state.getCheckpoint(this.ds.name);
    if (cp) this.schedule(0, cp.mode.replace(/^queue:/, "") as PassMode);
    else if (this.ds.scheduleMs !== undefined) this.schedule(0, this.ds.mode);
    else if (this.cron) this.schedule(this.untilNext()!, this.ds.mode);
    if (this.ds.probe) this.scheduleProbe(0);
  }

  /** Finishes the batch in flight, checkpoints, closes the replicas. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.held?.release();
    clearTimeout(this.timer);
    clearTimeout(this.probeTimer);
    await this.running?.catch(() => {});
    await this.probing?.catch(() => {});
    await this.closeReplicas();
  }

  /** Starts a pass now, in the background; the returned run id is the pass's (a resumed pass keeps its own). */
  async trigger(mode: PassMode): Promise<string> {
    if (this.stopping) throw new TriggerError("stopping", "the service is stopping");
    if (this.replaying !== undefined)
      throw new TriggerError("busy", `dataset ${this.ds.name} is replaying its change log`);
    if (this.busy) throw new TriggerError("busy", `dataset ${this.ds.name} is already running a pass`);
    clearTimeout(this.timer);
    const runId = await this.runIdFor(mode);
    this.launch(mode, runId);
    return runId;
  }

  /** The id a pass of `mode` would run under: the dataset's unfinished pass's of that mode, or a new one. */
  private runIdFor(mode: PassMode): Promise<string> {
    const fresh = () => newRunId(new Date(this.deps.now()));
    if (!this.deps.dispatch) return resumableRunId(this.deps.state, this.ds.name, mode, fresh);
    return this.deps.state
      .getCheckpoint(this.ds.name)
      .then((cp) => (cp && cp.mode === queuedMode(mode) ? cp.runId : fresh()));
  }

  /**
   * Holds the running pass after the segment in flight (`pause`), lets it go on (`resume`), or ends it after
   * the step in flight (`abort`: recorded failed with `aborted`, its checkpoint dropped; the schedule goes
   * on). Throws TriggerError("idle") when no pass is running.
   */
  control(action: PassControl): { runId: string; state: DatasetStatus["state"] } {
    const runId = this.launched;
    if (this.running === undefined || runId === undefined)
      throw new TriggerError("idle", `dataset ${this.ds.name} has no pass running`);
    if (action === "pause" && !this.held) {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      this.held = { released, release };
      this.deps.log(`${this.ds.name}: pass ${runId} paused (after the segment in flight)`);
    } else if (action !== "pause") {
      if (action === "abort") {
        this.passAbort.abort();
        this.deps.log(`${this.ds.name}: pass ${runId} aborted (after the step in flight)`);
      } else if (this.held) this.deps.log(`${this.ds.name}: pass ${runId} resumed`);
      this.held?.release();
      this.held = undefined;
    }
    this.deps.onChange?.();
    return { runId, state: this.held ? "paused" : "running" };
  }

  status(last: RunRecord | undefined, openEscalations: number): DatasetStatus {
    const counts: Record<string, number> = {};
    const repairs: Record<string, number> = {};
    for (const [k, n] of Object.entries(last?.counts ?? {})) counts[k] = n;
    for (const [k, n] of Object.entries(last?.stats ?? {}))
      if (k.startsWith("repairs.")) repairs[k.slice("repairs.".length)] = n;
    return {
      name: this.ds.name,
      mode: this.ds.mode,
      scheduleMs: this.ds.scheduleMs ?? null,
      scheduleCron: this.ds.scheduleCron ?? null,
      intensity: this.ds.intensity,
      state:
        this.running !== undefined
          ? this.held
            ? "paused"
            : "running"
          : this.replaying !== undefined
            ? "replaying"
            : this.backoffMs > 0
              ? "backing-off"
              : "idle",
      progress: this.running !== undefined ? this.progress : undefined,
      nextRunAt: this.busy ? undefined : this.nextRunAt,
      lastRun: last,
      counts,
      repairs,
      openEscalations,
      lag: { ...this.lag },
      replicas: [...this.health.values()].map((h) => h.view()),
      focus: this.ds.focus ? this.focusView : null,
      replay: this.replayView,
    };
  }

  /** Waits for the pass in flight, if any (tests). */
  async idle(): Promise<void> {
    while (this.running !== undefined || this.replaying !== undefined)
      await (this.running ?? this.replaying)?.catch(() => {});
  }

  /** Runs one probe now and records it (tests, and the probe timer). */
  async probeOnce(): Promise<ProbeOutcome | undefined> {
    const probe = this.ds.probe;
    if (!probe) return undefined;
    // Only the replicas the probe writes to and polls: one that is down elsewhere in the dataset does not
    // stop the probe measuring the others.
    const replicas = await this.open([probe.source, ...probe.replicas]);
    if (!this.prober) {
      const resolved = this.resolved ?? (await this.shape(await this.open()));
      this.prober = new Prober(
        probe,
        resolved.shape,
        canaryKey(this.ds, resolved.shape),
        new Map(replicas.map((r) => [r.name, r.connector])),
        { now: this.deps.now, signal: this.abort.signal },
      );
    }
    const out = await this.prober.run();
    const { metrics, state } = this.deps;
    const dataset = this.ds.name;
    if (out.error) {
      this.deps.log(`${dataset}: probe could not write its canary to ${out.source}: ${out.error}`);
      return out;
    }
    const samples = [];
    for (const [replica, lag] of Object.entries(out.lag)) {
      this.lag[replica] = lag;
      samples.push({ dataset, series: "lag", label: replica, at: out.at, value: lag });
      if (lag === null) metrics.probeTimeouts.inc({ dataset, replica });
      else metrics.convergenceLag.observe({ dataset, replica }, lag);
    }
    for (const a of out.anomalies) {
      samples.push({ dataset, series: "anomaly", label: a.replica, at: out.at, value: 1 });
      metrics.readAfterWrite.inc({ dataset, replica: a.replica });
      this.deps.log(`${dataset}: read-after-write anomaly on ${a.replica}: ${a.detail}`);
    }
    await state.appendSamples(samples);
    // Who is least behind: inferred ownership by latency reads it from the evidence aggregates.
    await state.addEvidence(probeEvidence(dataset, out));
    this.deps.onChange?.();
    return out;
  }

  private scheduleProbe(delayMs: number): void {
    const probe = this.ds.probe!;
    this.probeTimer = setTimeout(() => {
      if (this.stopping) return;
      this.probing = this.probeOnce()
        .then(
          () => {},
          (err) => this.deps.log(`${this.ds.name}: probe failed: ${message(err)}`),
        )
        .finally(() => {
          this.probing = undefined;
          if (!this.stopping) this.scheduleProbe(probe.everyMs);
        });
    }, delayMs);
    this.probeTimer.unref?.();
  }

  /** The dataset's cron schedule, if it has one instead of an interval. */
  private get cron() {
    return this.ds.scheduleCron === undefined ? undefined : parseCron(this.ds.scheduleCron);
  }

  /** Milliseconds until the next scheduled pass: the interval, or until the cron schedule next fires. */
  private untilNext(): number | undefined {
    if (this.ds.scheduleMs !== undefined) return this.ds.scheduleMs;
    if (!this.cron) return undefined;
    const now = this.deps.now();
    return nextCronTime(this.cron, now) - now;
  }

  private schedule(delayMs: number, mode: PassMode): void {
    clearTimeout(this.timer);
    this.nextRunAt = this.deps.now() + delayMs;
    // Node fires a timer longer than 2^31 - 1 ms (24.8 days: a yearly cron) at once: a longer wait is taken in steps.
    const step = Math.min(delayMs, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      if (delayMs > step) return this.schedule(delayMs - step, mode);
      if (this.stopping || this.busy) return;
      void this.runIdFor(mode).then(
        (runId) => this.launch(mode, runId),
        (err) => {
          this.deps.log(`${this.ds.name}: cannot read its checkpoint: ${message(err)}`);
          this.backOff(mode);
        },
      );
    }, step);
    this.timer.unref?.();
  }

  private launch(mode: PassMode, runId: string): void {
    this.nextRunAt = undefined;
    this.launched = runId;
    this.passAbort = new AbortController();
    this.running = this.pass(mode, runId)
      .then(
        (finished) => {
          this.backoffMs = 0;
          if (!finished || this.stopping) return;
          const next = this.untilNext();
          // After a focused pass, the interval grows with its extra visits: rows read per unit of time stay.
          const stretch = this.ds.scheduleMs !== undefined ? this.stretch : 1;
          if (next !== undefined) this.schedule(next * stretch, this.ds.mode);
        },
        (err) => {
          if (err instanceof PassOwnedError) {
            // Another serve process runs this dataset now; this one tries again at its next scheduled time
            // (a coordinator sooner: the holder is most likely the leader it took over from, whose lease runs out).
            this.deps.log(`${err.message}; not running it here`);
            const next = this.deps.dispatch ? LEASE_TTL_MS / 3 : this.untilNext();
            if (next !== undefined && !this.stopping) this.schedule(next, this.ds.mode);
            return;
          }
          this.deps.log(`${this.ds.name}: pass ${runId} stopped: ${message(err)}`);
          this.backOff(mode);
        },
      )
      .finally(() => {
        this.running = undefined;
        this.progress = undefined;
        this.held?.release();
        this.held = undefined;
        this.deps.onPassEnd?.();
        this.deps.onChange?.();
      });
  }

  private backOff(mode: PassMode): void {
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs ? this.backoffMs * 2 : FIRST_BACKOFF_MS);
    // A broken connection is opened afresh on the next attempt; the replicas that answered keep theirs (a
    // probe may be using them right now).
    void this.closeReplicas(this.replicasDown());
    if (!this.stopping) this.schedule(this.backoffMs * (0.5 + Math.random() / 2), mode);
  }

  /**
   * The named replicas (all by default, in config order), opened once and shared by passes and probes.
   * Each replica's connection is its own: one that failed is closed and opened afresh without touching the
   * others, and one that cannot be opened does not keep the others from opening (they are kept).
   */
  private open(names: readonly string[] = this.ds.replicas.map((r) => r.name)): Promise<OpenReplica[]> {
    return Promise.all(names.map((n) => this.openOne(n)));
  }

  private openOne(name: string): Promise<OpenReplica> {
    const open = this.replicas.get(name);
    if (open) return Promise.resolve(open);
    let opening = this.opening.get(name);
    if (!opening) {
      const r = this.ds.replicas.find((x) => x.name === name)!;
      const health = this.health.get(name)!;
      opening = openConnector(this.ds.name, r, { readonly: false })
        .then(
          async (connector) => {
            if (this.stopping) {
              await connector.close().catch(() => undefined);
              throw new Error(`${this.ds.name}: the service is stopping`);
            }
            const replica = { name, connector: watch(connector, health) };
            this.replicas.set(name, replica);
            return replica;
          },
          (err: unknown) => {
            health.failed(err);
            throw err;
          },
        )
        .finally(() => this.opening.delete(name));
      this.opening.set(name, opening);
    }
    return opening;
  }

  /**
   * Closes the named replicas (all when none named). The prober is rebuilt on next use when it used one of
   * them; the shape is kept unless all close (a closed connection does not change it, and every pass
   * describes the replicas again).
   */
  private async closeReplicas(names?: readonly string[]): Promise<void> {
    const closing = [...this.replicas.values()].filter((r) => !names || names.includes(r.name));
    for (const r of closing) this.replicas.delete(r.name);
    const probe = this.ds.probe;
    if (closing.some((r) => !probe || r.name === probe.source || probe.replicas.includes(r.name)))
      this.prober = undefined;
    if (!names) this.resolved = undefined;
    await Promise.allSettled(closing.map((r) => r.connector.close()));
  }

  private async shape(replicas: readonly OpenReplica[]): Promise<ResolvedShape> {
    this.resolved ??= await describeDataset(this.ds, replicas);
    return this.resolved;
  }

  /**
   * One pass (new or resumed) through the engine's run: its segments run here, or on workers when this is a
   * coordinator (the same run, observed the same way). True when it covered the whole key space.
   */
  private async pass(mode: PassMode, runId: string): Promise<boolean> {
    const { state, metrics, now } = this.deps;
    const dataset = this.ds.name;
    const dispatch = this.deps.dispatch;
    const passStarted = now();
    const replicas = await this.open();
    const candidate = this.ds.candidate;
    const where = `datasets.${dataset}.candidate.policy: ${candidate?.file}`;
    const rollout =
      candidate?.mode === "canary" && mode === "repair" ? await this.canary(candidate) : undefined;
    const fraction = rollout?.fraction ?? 0;
    const tracker = candidate?.mode === "shadow" ? this.tracker(candidate.file) : undefined;
    let shadowUsed = false;
    let canaryUsed = false;
    // A watched dataset's pass re-reads only the segments its feeds marked dirty, when the marks can be trusted.
    const { run, plan } = await runPlannedPass(
      this.ds,
      replicas,
      { state, now },
      {
        runId,
        command: `serve ${mode}`,
        mode,
        checkpoint: true,
        owner: this.deps.owner,
        actor: this.policyActor ?? "serve",
        ...(dispatch ? { dispatch } : {}),
        ...(rollout && fraction > 0 ? { canary: { policy: candidate!.policy, where, fraction } } : {}),
        ...(tracker ? { shadow: { policy: candidate!.policy, where } } : {}),
        policySource: this.deps.configFile,
        signal: this.abort.signal,
        abort: this.passAbort.signal,
        guard: {
          onRetry: (replica) => metrics.retries.inc({ dataset, replica }),
          onRate: (replica, rate) => metrics.repairWriteRate.set({ dataset, replica }, rate ?? -1),
        },
        // Below full intensity, gentleness over speed: one query at a time against the stores.
        ...(this.ds.intensity < 1 ? { detect: { serial: true } } : {}),
        ...(this.ds.focus
          ? {
              focus: (segments: number) => this.planFocus(segments),
              // A local pass re-plans its rest after every visit; a coordinator's jobs are all submitted at once.
              ...(dispatch
                ? {}
                : { refocus: (made: readonly number[], segments: number) => this.refocus(made, segments) }),
            }
          : {}),
        observer: {
          onAbandoned: (cp) =>
            this.deps.log(`${dataset}: abandoning unfinished ${cp.mode} pass ${cp.runId} for a ${mode} pass`),
          onStart: async ({
            runId: id,
            resolved,
            segments,
            resumedAt,
            done,
            visits,
            candidate: versions,
          }) => {
            // A replica's schema may have changed since the last pass: the probe uses this pass's shape.
            this.resolved = resolved;
            if (dispatch)
              this.deps.log(
                `${dataset}: pass ${id} ${resumedAt !== undefined ? `resumed with ${done} of ${segments} segments done` : `queued as ${segments} segments`}`,
              );
            else if (resumedAt !== undefined)
              this.deps.log(`${dataset}: resuming pass ${id} at segment ${resumedAt + 1} of ${segments}`);
            this.progress = { done, segments: visits ?? segments, runId: id };
            if (!visits) this.stretch = 1;
            if (rollout && versions?.canary) {
              rollout.startPass(versions.canary, id);
              canaryUsed = true;
              await this.saveCanary(rollout);
            }
            // A candidate that does not fit the shape is reported, never a reason to stop the live pass.
            if (tracker && versions?.shadow) {
              tracker.start(versions.live, versions.shadow);
              shadowUsed = true;
            } else if (tracker && versions?.shadowError)
              this.deps.log(`${dataset}: shadow candidate not used: ${versions.shadowError}`);
          },
          onRecovered: (settled) => this.countRepairs(settled),
          onSegmentDone: async (report, work) => {
            if (canaryUsed && report.candidate?.canary) {
              rollout!.add(report.candidate.canary);
              await this.saveCanary(rollout!);
            }
            if (shadowUsed && report.candidate?.shadow) tracker!.add(report.candidate.shadow);
            await this.segmentDone(report, work);
          },
          pause: (ms) => this.pause(ms),
        },
      },
    );
    if (this.ds.watch?.incremental)
      this.deps.log(`${dataset}: ${plan.kind === "dirty" ? "dirty-segment" : "whole"} pass: ${plan.reason}`);
    if (!run.finished) {
      // Aborted: the pass is over (recorded failed); the schedule goes on as after a finished one.
      if (run.status === "failed") {
        await this.deps.anchor?.();
        return !this.stopping;
      }
      return false;
    }
    // A repair pass adopted the policy (and named who changed it).
    if (mode === "repair") this.policyActor = undefined;
    if (canaryUsed) {
      const events = rollout!.finishPass();
      await this.saveCanary(rollout!);
      await this.recordCanary(events, run.runId);
    }
    // The candidate's decisions are recorded, never applied: one audit entry per pass.
    if (shadowUsed)
      await state.appendAudit([
        { ts: now(), runId: run.runId, type: "shadow", dataset, key: null, data: tracker!.finishPass() },
      ]);
    await this.deps.anchor?.();
    await this.finish(run, passStarted);
    return true;
  }

  /**
   * Adaptive focus: the visit order of a pass over `segments` segments, from the drift each range showed
   * inside the window (the state store's evidence aggregates); on a coordinator, the order its jobs are
   * submitted in (hot first, each once). Every pass kind asks it: interval, cron and triggered passes alike, and
   * the whole passes of a watched dataset (a dirty-segment pass reads only what its feeds marked, and is not
   * focused). Logged and shown in status.
   */
  private async planFocus(segments: number): Promise<readonly number[]> {
    const focus = this.ds.focus!;
    const now = this.deps.now();
    const since = now - focus.windowMs;
    const drift = await evidenceReader({ state: this.deps.state, now: this.deps.now }).rangeDrift(
      this.ds.name,
      since,
    );
    const planned = planFocus(segments, drift, {
      extraShare: focus.extraShare,
      live: this.focusTracker.live(segments),
    });
    // A coordinator's pass is one job per segment: its hot ranges go first rather than more often.
    const plan = this.deps.dispatch ? hotFirst(planned) : planned;
    this.stretch = focusStretch(plan);
    this.focusView = {
      plannedAt: now,
      since,
      segments,
      visits: plan.order.length,
      hot: plan.hot,
      reason: plan.reason,
    };
    this.deps.log(`${this.ds.name}: focus: ${this.focusView.reason}`);
    return plan.order;
  }

  /**
   * Adaptive focus after each visit of a local pass: the rest of the pass planned again from the evidence as it
   * stands (the visit just made may have found a range drifting), and status updated to say so; logged when
   * the hot ranges change.
   */
  private async refocus(made: readonly number[], segments: number): Promise<readonly number[]> {
    const focus = this.ds.focus!;
    const now = this.deps.now();
    const since = now - focus.windowMs;
    const drift = await evidenceReader({ state: this.deps.state, now: this.deps.now }).rangeDrift(
      this.ds.name,
      since,
    );
    const rest = planRest(segments, made, drift, {
      extraShare: focus.extraShare,
      live: this.focusTracker.live(segments),
    });
    const visits = made.length + rest.order.length;
    this.stretch = visits / segments;
    if (this.progress) this.progress = { ...this.progress, segments: visits };
    const hotBefore = this.focusView?.hot.map((h) => h.segment).join(",");
    this.focusView = { plannedAt: now, since, segments, visits, hot: rest.hot, reason: rest.reason };
    if (rest.hot.length > 0 && rest.hot.map((h) => h.segment).join(",") !== hotBefore)
      this.deps.log(`${this.ds.name}: focus: ${rest.reason}`);
    return rest.order;
  }

  /**
   * What serve does with a finished group of segments, wherever it ran: metrics (rows, repairs, escalations,
   * durations, the worker's count), and — for a group run here — divergent-key marks and times to
   * convergence (a worker records its own marks and reports the times).
   */
  private async segmentDone(report: SegmentReport, work: SegmentOutcome | undefined): Promise<void> {
    const { metrics } = this.deps;
    const dataset = this.ds.name;
    // Adaptive focus's live evidence: what a visit of one segment run here found (its pieces added up).
    if (this.ds.focus && work && work.to === work.from + 1) {
      this.focusPieces += foundDrift(work);
      if (!report.part || report.part.last) {
        this.focusTracker.observe(work.from, work.of, this.focusPieces);
        this.focusPieces = 0;
      }
    }
    // A group cut into pieces completes its segments with its last piece.
    if (!report.part || report.part.last) metrics.segments.inc({ dataset }, report.to - report.from);
    metrics.segmentDuration.observe({ dataset }, report.durationMs / 1000);
    if (report.worker) metrics.workerSegments.inc({ dataset, worker: report.worker });
    for (const [replica, { rows }] of Object.entries(report.totals.replicas))
      metrics.scanRows.inc({ dataset, replica }, rows);
    for (const [cls, n] of Object.entries(report.opened)) metrics.escalations.inc({ dataset, class: cls }, n);
    for (const [replica, outcomes] of Object.entries(report.repairs))
      for (const [outcome, n] of Object.entries(outcomes))
        metrics.repairs.inc({ dataset, replica, outcome }, n);
    const ttc = work
      ? (await markSegment(this.deps.state, dataset, work, this.deps.now)).ttcSeconds
      : report.ttcSeconds;
    for (const seconds of ttc ?? []) metrics.timeToConvergence.observe({ dataset }, seconds);
    if (this.progress)
      this.progress = { ...this.progress, done: this.progress.done + report.to - report.from };
  }

  private countRepairs(results: readonly RepairResult[]): void {
    countRepairs(this.ds.name, this.deps.metrics, results);
  }

  /** Sleeps between segments: by intensity, longer while a replica is slow. Cut short by `stop`. */
  private async pause(segmentMs: number): Promise<void> {
    let ms = segmentMs * (1 / this.ds.intensity - 1);
    for (const h of this.health.values()) {
      const mean = h.closeWindow();
      const slow = mean !== undefined && mean > this.deps.serve.slowReplicaMs;
      if (slow && !h.slow)
        this.deps.log(
          `${this.ds.name}: replica ${h.name} is slow (${Math.round(mean)} ms a call); backing off`,
        );
      h.slow = slow;
      if (slow) ms = Math.max(ms, Math.min(MAX_BACKOFF_MS, segmentMs * 2));
    }
    if (ms > 0 && !this.stopping) await this.sleep(ms);
    // Held by an operator: wait here, between segments (the checkpoint is written), until resumed.
    while (this.held && !this.stopping && !this.passAbort?.signal.aborted) await this.held.released;
  }

  /** Sleeps `ms`, cut short by `stop` or an abort of the pass. */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
      this.passAbort?.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** A finished pass: keys not seen divergent during it converged alone; gauges and the log line. */
  private async finish(run: DatasetRunResult, passStarted: number): Promise<void> {
    const { state, metrics, now } = this.deps;
    const dataset = this.ds.name;
    const finishedAt = now();
    const { totals } = run;
    await state.purgeDivergent(dataset, run.startedAt);
    // Classes seen in an earlier pass but not this one read 0, not their old value.
    for (const cls of this.gaugedClasses) metrics.divergences.set({ dataset, class: cls }, 0);
    for (const [cls, n] of Object.entries(totals.counts)) {
      metrics.divergences.set({ dataset, class: cls }, n);
      this.gaugedClasses.add(cls);
    }
    metrics.lastRun.set({ dataset }, finishedAt / 1000);
    metrics.scanDuration.observe({ dataset }, (finishedAt - passStarted) / 1000);
    this.lastFailed = (totals.repairs.failed ?? 0) + (totals.recovered.failed ?? 0);
    const divergent = Object.entries(totals.counts)
      .filter(([c]) => !BENIGN_CLASSES.has(c as never))
      .reduce((n, [, v]) => n + v, 0);
    const mode = this.ds.mode;
    this.deps.log(
      `${dataset}: pass ${run.runId} (${mode}) finished in ${((finishedAt - run.startedAt) / 1000).toFixed(1)} s: ${divergent} divergent, ${totals.repairs.applied ?? 0} repaired, ${totals.remaining} remaining`,
    );
  }
}
