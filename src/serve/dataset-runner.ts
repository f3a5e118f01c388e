/**
 * One dataset under `serve`: passes over its key space segment by segment, with a checkpoint after each
 * segment so a restart resumes where it stopped; pauses between segments by `intensity`; backs off a slow
 * or failing replica; never runs two passes at once. Also runs the dataset's convergence probe.
 */
import type { DatasetConfig, ServeConfig } from "../config/load-config.js";
import { redactText } from "../config/redact.js";
import { openConnector } from "../connectors/open-connector.js";
import { BENIGN_CLASSES } from "../core/classify.js";
import { nextCronTime, parseCron } from "../core/cron.js";
import type { ColumnSpec } from "../core/model.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import { AdaptiveFocus } from "../engine/adaptive-focus.js";
import { describeDataset } from "../engine/describe-dataset.js";
import { runPlannedPass } from "../engine/dirty-segment-pass.js";
import { foldKeyRun } from "../engine/fold-key-run.js";
import { type ReplayResult, replaySource } from "../engine/replay-dataset.js";
import type { OpenReplica } from "../engine/run-context.js";
import {
  type DatasetRunResult,
  evidenceReader,
  resumableRunId,
  type SegmentOutcome,
} from "../engine/run-dataset.js";
import { newRunId } from "../engine/run-id.js";
import { LEASE_TTL_MS, PassOwnedError } from "../engine/run-liveness.js";
import { queuedMode, type SegmentDispatch } from "../engine/segment-dispatch.js";
import type { SegmentReport } from "../engine/segment-report.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import type { RunRecord, StateStore } from "../state/state-store.js";
import { DamagedCheckpointError, StateStoreError } from "../state/state-store-error.js";
import type { CanaryView } from "./canary-rollout.js";
import { DatasetApprovals } from "./dataset-approvals.js";
import { DatasetCanary } from "./dataset-canary.js";
import { DatasetProbe } from "./dataset-probe.js";
import { DatasetReplay } from "./dataset-replay.js";
import type { ServeMetrics } from "./metrics.js";
import type { ApprovalView } from "./policy-approval.js";
import type { ProbeOutcome } from "./probe.js";
import { HealthTracker, watch } from "./replica-health.js";
import { countRepairs, markSegment } from "./segment-marks.js";
import { type DatasetStatus, type PassControl, TriggerError } from "./service-api.js";
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
  private keyColumnsSeen: readonly ColumnSpec[] | undefined;
  private running: Promise<void> | undefined;
  private progress: DatasetStatus["progress"];
  private backoffMs = 0;
  /** Why the last pass did not start or stopped (a line naming the dataset); cleared when a pass finishes. */
  private lastError: string | undefined;
  private nextRunAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private abort = new AbortController();
  /** The dataset's convergence probe (`probe:`). */
  private readonly probe: DatasetProbe;
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
  /** The staged rollout (`candidate: { mode: canary }`); reset when the candidate changes. */
  private readonly canary: DatasetCanary;
  /** Adaptive focus (`focus: adaptive`): each pass's plan, re-plans, live evidence and stretch. */
  private readonly focus: AdaptiveFocus;
  /** The change-log replays run in this process. */
  private readonly replays: DatasetReplay;

  /** The dataset as the config file declares it; `config` is what runs (a promotion or a held reload applied). */
  private fileConfig: DatasetConfig;
  /** Policy changes waiting for approvers, and the promoted candidate. */
  private readonly approvals: DatasetApprovals;

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
    const { state, now, log } = deps;
    const dataset = ds.name;
    this.approvals = new DatasetApprovals({
      dataset,
      state,
      now,
      log,
      configFile: deps.configFile,
      anchor: deps.anchor,
      onChange: deps.onChange,
      adopted: ({ actor, promoted }) => {
        if (promoted) this.shadowTracker = undefined;
        this.config = this.approvals.effective(this.fileConfig);
        this.policyActor = actor;
      },
    });
    this.canary = new DatasetCanary({
      dataset,
      state,
      now,
      log,
      onChange: deps.onChange,
      candidate: () => this.ds.candidate,
    });
    this.focus = new AdaptiveFocus({
      rangeDrift: (since) => evidenceReader({ state, now }).rangeDrift(dataset, since),
      now,
      // A coordinator's pass is one job per segment: its hot ranges go first rather than more often.
      hotFirst: deps.dispatch !== undefined,
      log: (reason) => log(`${dataset}: focus: ${reason}`),
    });
    this.probe = new DatasetProbe({
      state,
      metrics: deps.metrics,
      now,
      log,
      onChange: deps.onChange,
      dataset: () => this.ds,
      open: (names) => this.open(names),
      shape: async () => this.resolved ?? (await this.shape(await this.open())),
      signal: () => this.abort.signal,
      stopping: () => this.stopping,
    });
    this.replays = new DatasetReplay({
      state,
      metrics: deps.metrics,
      now,
      log,
      owner: deps.owner,
      configFile: deps.configFile,
      anchor: deps.anchor,
      open: () => this.open(),
      segmentDone: (report, work) => this.segmentDone(report, work),
      signal: () => this.abort.signal,
      ended: () => {
        // A scheduled pass that came due during the replay starts now.
        if (
          !this.stopping &&
          this.nextRunAt !== undefined &&
          this.nextRunAt <= now() &&
          this.running === undefined
        )
          this.schedule(0, this.ds.mode);
        this.deps.onChange?.();
      },
    });
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
      // Another candidate starts afresh: the stored progress was the old one's, dropped before it is read.
      this.canary.reset(ds.candidate);
      await this.approvals.candidateChanged(ds);
    }
    if (JSON.stringify(oldFile.policy) !== JSON.stringify(ds.policy))
      await this.approvals.policyChanged(ds, old, policyBy);
    this.config = this.approvals.effective(ds);
    if (policyBy !== undefined && JSON.stringify(old.policy) !== JSON.stringify(this.config.policy))
      this.policyActor = policyBy;
    const rescheduled =
      old.scheduleMs !== ds.scheduleMs || old.scheduleCron !== ds.scheduleCron || old.mode !== ds.mode;
    if (!rescheduled || this.busy || this.stopping || this.backoffMs > 0) return;
    const now = this.deps.now();
    const next = this.untilNext(now);
    if (next !== undefined) this.schedule(next, ds.mode, now);
    else {
      clearTimeout(this.timer);
      this.nextRunAt = undefined;
    }
  }

  /** The policy change waiting for approvers, if any. */
  approvalView(): ApprovalView | undefined {
    return this.approvals.view();
  }

  /**
   * An approver approves promoting the shadow candidate to the live policy; with the candidate's `approvals`
   * distinct approvers it is live from the next pass (`candidate-promoted`; the pass adopts it in the
   * registry, named after its approvers). Throws ApprovalError.
   */
  promote(by: string): Promise<ApprovalView> {
    return this.approvals.promote(this.fileConfig, by);
  }

  /**
   * An approver approves the policy a reload brought; with `policyApprovals` distinct approvers it is live
   * from the next pass (`policy-approved`). Throws ApprovalError when none waits or `by` already approved.
   */
  approvePolicy(by: string): Promise<ApprovalView> {
    return this.approvals.approvePolicy(by);
  }

  /** The candidate's figures (shadow) or rollout (canary), or undefined when the dataset has no candidate. */
  async shadow(): Promise<ShadowView | CanaryView | undefined> {
    const c = this.ds.candidate;
    if (!c) return undefined;
    return c.mode === "canary" ? (await this.canary.load(c)).view() : this.tracker(c.file).view();
  }

  /** True while the dataset's canary rollout stands rolled back (the `canary-rolled-back` alert). */
  canaryRolledBack(): boolean {
    return this.ds.candidate?.mode === "canary" && this.canary.rolledBack();
  }

  /** An approver approves promoting the rollout to its next step; audited. Throws CanaryError. */
  approve(by: string): Promise<CanaryView> {
    return this.canary.approve(this.ds.candidate, by);
  }

  private tracker(file: string): ShadowTracker {
    this.shadowTracker ??= new ShadowTracker(file);
    return this.shadowTracker;
  }

  /** A pass or a replay is running: nothing else starts. */
  get busy(): boolean {
    return this.running !== undefined || this.replays.running !== undefined;
  }

  /**
   * Replays the owner's change log onto `replica` in this process (DatasetReplay) and answers what it came
   * to. Serialised with the dataset's passes: refused (TriggerError "busy") while a pass or a replay runs
   * here, or while another process holds the dataset's pass lease, which the replay holds for as long as it
   * runs; a pass scheduled meanwhile starts after it. Throws ReplayError when the dataset or replica does not
   * fit, or when another process took the lease (no batch after the loss).
   */
  async replay(replica: string, by: string, options: { batch?: number } = {}): Promise<ReplayResult> {
    const ds = this.ds;
    if (this.stopping) throw new TriggerError("stopping", "the service is stopping");
    replaySource(ds, replica);
    if (this.replays.running !== undefined)
      throw new TriggerError(
        "busy",
        `dataset ${ds.name} is already replaying onto ${this.replays.view?.replica ?? "a replica"}`,
      );
    if (this.running !== undefined) throw new TriggerError("busy", `dataset ${ds.name} is running a pass`);
    return this.replays.run(ds, replica, by, options);
  }

  /** Last probe's lag per replica, seconds (null: not converged within the timeout). */
  get lag(): Readonly<Record<string, number | null>> {
    return this.probe.lag;
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
    await this.approvals.restore(this.fileConfig);
    this.config = this.approvals.effective(this.fileConfig);
    // A rollout resumes where it stood before the restart (and its rolled-back alert holds).
    const c = this.ds.candidate;
    if (c?.mode === "canary") await this.canary.load(c);
    let cp: Awaited<ReturnType<StateStore["getCheckpoint"]>>;
    try {
      cp = await this.deps.state.getCheckpoint(this.ds.name);
    } catch (err) {
      // A damaged checkpoint stops this dataset only: it backs off and reads the checkpoint again each time,
      // so it starts once an operator dropped it (`concord checkpoint drop`); the other datasets run meanwhile.
      this.failed(`${this.ds.name}: cannot read its checkpoint: ${message(err)}`);
      this.backOff(this.ds.mode);
      if (this.ds.probe) this.probe.schedule(0);
      return;
    }
    if (cp) this.schedule(0, cp.mode.replace(/^queue:/, "") as PassMode);
    else if (this.ds.scheduleMs !== undefined) this.schedule(0, this.ds.mode);
    else if (this.cron) {
      const now = this.deps.now();
      this.schedule(this.untilNext(now)!, this.ds.mode, now);
    }
    if (this.ds.probe) this.probe.schedule(0);
  }

  /** Finishes the batch in flight, checkpoints, closes the replicas. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.held?.release();
    clearTimeout(this.timer);
    this.probe.halt();
    await this.running?.catch(() => {});
    await this.probe.idle();
    await this.closeReplicas();
  }

  /** Starts a pass now, in the background; the returned run id is the pass's (a resumed pass keeps its own). */
  async trigger(mode: PassMode): Promise<string> {
    if (this.stopping) throw new TriggerError("stopping", "the service is stopping");
    if (this.replays.running !== undefined)
      throw new TriggerError("busy", `dataset ${this.ds.name} is replaying its change log`);
    if (this.busy) throw new TriggerError("busy", `dataset ${this.ds.name} is already running a pass`);
    clearTimeout(this.timer);
    let runId: string;
    try {
      runId = await this.runIdFor(mode);
    } catch (err) {
      // The schedule goes on (backing off) whatever the trigger's answer.
      this.failed(`${this.ds.name}: cannot read its checkpoint: ${message(err)}`);
      this.backOff(mode);
      // Only a checkpoint that is itself damaged is one: a locked or unreachable state store may hold a sound
      // one, and the same trigger succeeds once it answers again.
      if (err instanceof DamagedCheckpointError)
        throw new TriggerError("damaged-checkpoint", this.lastError!);
      if (err instanceof StateStoreError) throw new TriggerError("state-store", this.lastError!);
      throw err;
    }
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
          : this.replays.running !== undefined
            ? "replaying"
            : this.backoffMs > 0
              ? "backing-off"
              : "idle",
      error: this.lastError ?? null,
      progress: this.running !== undefined ? this.progress : undefined,
      nextRunAt: this.busy ? undefined : this.nextRunAt,
      lastRun: last,
      counts,
      repairs,
      openEscalations,
      lag: { ...this.probe.lag },
      replicas: [...this.health.values()].map((h) => h.view()),
      focus: this.ds.focus ? (this.focus.planned ?? null) : null,
      replay: this.replays.view,
    };
  }

  /** Waits for the pass in flight, if any (tests). */
  async idle(): Promise<void> {
    while (this.running !== undefined || this.replays.running !== undefined)
      await (this.running ?? this.replays.running)?.catch(() => {});
  }

  /** Runs one probe now and records it (tests). */
  probeOnce(): Promise<ProbeOutcome | undefined> {
    return this.probe.once();
  }

  /** The dataset's cron schedule, if it has one instead of an interval. */
  private get cron() {
    return this.ds.scheduleCron === undefined ? undefined : parseCron(this.ds.scheduleCron);
  }

  /** Milliseconds from `now` until the next scheduled pass: the interval, or until the cron schedule next fires. */
  private untilNext(now: number): number | undefined {
    if (this.ds.scheduleMs !== undefined) return this.ds.scheduleMs;
    if (!this.cron) return undefined;
    return nextCronTime(this.cron, now) - now;
  }

  /**
   * Starts a pass `delayMs` after `now` (the same clock reading a cron delay was computed from, so the time
   * reported as `nextRunAt` is the one the expression names, not a millisecond after it).
   */
  private schedule(delayMs: number, mode: PassMode, now = this.deps.now()): void {
    clearTimeout(this.timer);
    this.nextRunAt = now + delayMs;
    // Node fires a timer longer than 2^31 - 1 ms (24.8 days: a yearly cron) at once: a longer wait is taken in steps.
    const step = Math.min(delayMs, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      if (delayMs > step) return this.schedule(delayMs - step, mode);
      if (this.stopping || this.busy) return;
      void this.runIdFor(mode).then(
        (runId) => this.launch(mode, runId),
        (err) => {
          this.failed(`${this.ds.name}: cannot read its checkpoint: ${message(err)}`);
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
          this.lastError = undefined;
          if (!finished || this.stopping) return;
          const now = this.deps.now();
          const next = this.untilNext(now);
          // After a focused pass, the interval grows with its extra visits: rows read per unit of time stay.
          const stretch = this.ds.scheduleMs !== undefined ? this.focus.stretch : 1;
          if (next !== undefined) this.schedule(next * stretch, this.ds.mode, now);
        },
        (err) => {
          if (err instanceof PassOwnedError) {
            // Another serve process runs this dataset now; this one tries again at its next scheduled time
            // (a coordinator sooner: the holder is most likely the leader it took over from, whose lease runs out).
            this.deps.log(`${err.message}; not running it here`);
            const now = this.deps.now();
            const next = this.deps.dispatch ? LEASE_TTL_MS / 3 : this.untilNext(now);
            if (next !== undefined && !this.stopping) this.schedule(next, this.ds.mode, now);
            return;
          }
          this.failed(`${this.ds.name}: pass ${runId} stopped: ${message(err)}`);
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

  /** Why the last pass did not start or stopped, until a pass finishes (the `pass-failing` alert). */
  get passError(): string | undefined {
    return this.lastError;
  }

  /** Logs why the dataset's pass did not run or stopped, and keeps it for the status until a pass finishes. */
  private failed(text: string): void {
    // Shown by /api/status and alerts: a driver's message may quote a configured secret.
    const line = redactText(text);
    this.lastError = line;
    this.deps.log(line);
    this.deps.onChange?.();
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
    this.probe.replicasClosed(closing.map((r) => r.name));
    if (!names) this.resolved = undefined;
    await Promise.allSettled(closing.map((r) => r.connector.close()));
  }

  private async shape(replicas: readonly OpenReplica[]): Promise<ResolvedShape> {
    this.resolved ??= await describeDataset(this.ds, replicas);
    this.keyColumnsSeen = this.resolved.shape.key;
    return this.resolved;
  }

  /**
   * The key columns (names and types) as the last described shape had them, kept after the replicas close,
   * or as described now when no pass has yet (as the probe does); undefined when that fails (a replica down):
   * consistency hints then take a requested key as given rather than fail for it.
   */
  async keyColumnsNow(): Promise<readonly ColumnSpec[] | undefined> {
    if (this.keyColumnsSeen) return this.keyColumnsSeen;
    try {
      return (this.resolved ?? (await this.shape(await this.open()))).shape.key;
    } catch {
      return undefined;
    }
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
      candidate?.mode === "canary" && mode === "repair" ? await this.canary.pass(candidate) : undefined;
    const fraction = rollout?.fraction ?? 0;
    const tracker = candidate?.mode === "shadow" ? this.tracker(candidate.file) : undefined;
    let shadowUsed = false;
    // A watched dataset's pass re-reads only the segments its feeds marked dirty, when the marks can be trusted.
    const { run, plan, keyRun } = await runPlannedPass(
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
              focus: (segments: number) => this.focus.plan(segments, this.ds.focus!),
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
            this.keyColumnsSeen = resolved.shape.key;
            if (dispatch)
              this.deps.log(
                `${dataset}: pass ${id} ${resumedAt !== undefined ? `resumed with ${done} of ${segments} segments done` : `queued as ${segments} segments`}`,
              );
            else if (resumedAt !== undefined)
              this.deps.log(`${dataset}: resuming pass ${id} at segment ${resumedAt + 1} of ${segments}`);
            this.progress = { done, segments: visits ?? segments, runId: id };
            if (!visits) this.focus.unfocused();
            await rollout?.started(versions?.canary, id);
            // A candidate that does not fit the shape is reported, never a reason to stop the live pass.
            if (tracker && versions?.shadow) {
              tracker.start(versions.live, versions.shadow);
              shadowUsed = true;
            } else if (tracker && versions?.shadowError)
              this.deps.log(`${dataset}: shadow candidate not used: ${versions.shadowError}`);
          },
          onRecovered: (settled) => this.countRepairs(settled),
          onSegmentDone: async (report, work) => {
            await rollout?.segmentDone(report.candidate?.canary);
            if (shadowUsed && report.candidate?.shadow) tracker!.add(report.candidate.shadow);
            await this.segmentDone(report, work);
          },
          pause: (ms) => this.pause(ms),
        },
      },
    );
    if (this.ds.watch?.incremental)
      this.deps.log(`${dataset}: ${plan.kind === "dirty" ? "dirty-segment" : "whole"} pass: ${plan.reason}`);
    // The changed keys of key-grain segments, checked by a run of their own after the segments' run: the pass
    // is judged by both (divergences, repairs, status), as the API shows it.
    if (keyRun && plan.kind === "dirty")
      this.deps.log(
        `${dataset}: ${plan.keys.length} changed keys checked by key (run ${keyRun.runId}): ${keyRun.status}, ${keyRun.totals.remaining} left divergent`,
      );
    // Stopped between its runs: the pass failed (the schedule goes on after a back-off), unless serve stops.
    if (run.finished && keyRun && !keyRun.finished) {
      if (this.stopping) return false;
      throw new Error(`its check of the changed keys (run ${keyRun.runId}) did not finish`);
    }
    const whole = foldKeyRun(run, keyRun);
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
    await rollout?.finished(run.runId);
    // The candidate's decisions are recorded, never applied: one audit entry per pass.
    if (shadowUsed)
      await state.appendAudit([
        { ts: now(), runId: run.runId, type: "shadow", dataset, key: null, data: tracker!.finishPass() },
      ]);
    await this.deps.anchor?.();
    await this.finish(whole, passStarted);
    return true;
  }

  /**
   * Adaptive focus after each visit of a local pass (AdaptiveFocus.replan): the rest of the pass planned again
   * from the evidence as it stands, and the pass's progress counts the visits it now makes.
   */
  private async refocus(made: readonly number[], segments: number): Promise<readonly number[]> {
    const order = await this.focus.replan(made, segments, this.ds.focus!);
    if (this.progress) this.progress = { ...this.progress, segments: made.length + order.length };
    return order;
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
    if (this.ds.focus) this.focus.observe(report, work);
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
    for (const w of run.warnings) this.deps.log(`${dataset}: warning: ${w}`);
    this.deps.log(
      `${dataset}: pass ${run.runId} (${mode}) finished in ${((finishedAt - run.startedAt) / 1000).toFixed(1)} s: ${divergent} divergent, ${totals.repairs.applied ?? 0} repaired, ${totals.remaining} remaining`,
    );
  }
}
