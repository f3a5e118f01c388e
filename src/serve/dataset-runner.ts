/**
 * One dataset under `serve`: passes over its key space segment by segment, with a checkpoint after each
 * segment so a restart resumes where it stopped; pauses between segments by `intensity`; backs off a slow
 * or failing replica; never runs two passes at once. Also runs the dataset's convergence probe.
 */
import type { DatasetConfig, ServeConfig } from "../config/load-config.js";
import type { Connector } from "../connectors/connector.js";
import { openConnector } from "../connectors/open-connector.js";
import { BENIGN_CLASSES } from "../core/classify.js";
import { type KeyRange, keyId } from "../core/model.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import {
  canaryKey,
  describeDataset,
  isRepairable,
  type OpenReplica,
  planDataset,
  type RunContext,
  recordPlan,
  recoverPending,
  repairDataset,
  scanDataset,
  segmentBounds,
  segmentsOf,
} from "../engine.js";
import type { RepairResult } from "../execute/execute-repairs.js";
import { newRunId } from "../run-id.js";
import type { Checkpoint, RunRecord, StateStore } from "../state/state-store.js";
import type { ServeMetrics } from "./metrics.js";
import { type ProbeOutcome, Prober } from "./probe.js";
import { HealthTracker, watch } from "./replica-health.js";
import { type DatasetStatus, TriggerError } from "./service-api.js";

export type PassMode = "scan" | "repair";

/** Running totals of a pass, kept in its checkpoint so a resumed pass reports the whole of it. */
interface PassTotals {
  counts: Record<string, number>;
  repairs: Record<string, number>;
  stats: Record<string, number>;
  escalated: number;
  remaining: number;
}

export interface RunnerDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly serve: ServeConfig;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** Told when a pass or a probe finished (alert evaluation). */
  readonly onChange?: () => void;
}

const MAX_BACKOFF_MS = 5 * 60_000;
const FIRST_BACKOFF_MS = 1000;

function emptyTotals(): PassTotals {
  return { counts: {}, repairs: {}, stats: {}, escalated: 0, remaining: 0 };
}

function add(into: Record<string, number>, from: Readonly<Record<string, number | undefined>>): void {
  for (const [k, n] of Object.entries(from)) if (n) into[k] = (into[k] ?? 0) + n;
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

export class DatasetRunner {
  private replicas: OpenReplica[] | undefined;
  private opening: Promise<OpenReplica[]> | undefined;
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
  private readonly abort = new AbortController();
  /** Last probe's lag per replica, seconds (null: not converged within the timeout). */
  readonly lag: Record<string, number | null> = {};
  private readonly gaugedClasses = new Set<string>();
  /** Failed repairs in the last finished pass. */
  lastFailed = 0;

  constructor(
    readonly ds: DatasetConfig,
    private readonly deps: RunnerDeps,
  ) {
    this.health = new Map(
      ds.replicas.map((r) => [
        r.name,
        new HealthTracker(r.name, deps.now, (up) =>
          deps.metrics.replicaUp.set({ dataset: ds.name, replica: r.name }, up ? 1 : 0),
        ),
      ]),
    );
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  replicasDown(): string[] {
    return [...this.health.values()].filter((h) => !h.up).map((h) => h.name);
  }

  /** Starts the schedule (and the probe); resumes an unfinished pass at once. */
  async start(): Promise<void> {
    const cp = await this.deps.state.getCheckpoint(this.ds.name);
    if (cp) this.schedule(0, cp.mode as PassMode);
    else if (this.ds.scheduleMs !== undefined) this.schedule(0, this.ds.mode);
    if (this.ds.probe) this.scheduleProbe(0);
  }

  /** Finishes the batch in flight, checkpoints, closes the replicas. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    clearTimeout(this.timer);
    clearTimeout(this.probeTimer);
    await this.running?.catch(() => {});
    await this.probing?.catch(() => {});
    await this.closeReplicas();
  }

  /** Starts a pass now, in the background; the returned run id is the pass's (a resumed pass keeps its own). */
  async trigger(mode: PassMode): Promise<string> {
    if (this.stopping) throw new TriggerError("stopping", "the service is stopping");
    if (this.busy) throw new TriggerError("busy", `dataset ${this.ds.name} is already running a pass`);
    clearTimeout(this.timer);
    const cp = await this.deps.state.getCheckpoint(this.ds.name);
    const runId = cp && cp.mode === mode ? cp.runId : newRunId(new Date(this.deps.now()));
    this.launch(mode, runId);
    return runId;
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
      intensity: this.ds.intensity,
      state: this.busy ? "running" : this.backoffMs > 0 ? "backing-off" : "idle",
      progress: this.busy ? this.progress : undefined,
      nextRunAt: this.busy ? undefined : this.nextRunAt,
      lastRun: last,
      counts,
      repairs,
      openEscalations,
      lag: { ...this.lag },
      replicas: [...this.health.values()].map((h) => h.view()),
    };
  }

  /** Waits for the pass in flight, if any (tests). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running.catch(() => {});
  }

  /** Runs one probe now and records it (tests, and the probe timer). */
  async probeOnce(): Promise<ProbeOutcome | undefined> {
    const probe = this.ds.probe;
    if (!probe) return undefined;
    const replicas = await this.open();
    if (!this.prober) {
      const resolved = await this.shape(replicas);
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

  private schedule(delayMs: number, mode: PassMode): void {
    clearTimeout(this.timer);
    this.nextRunAt = this.deps.now() + delayMs;
    this.timer = setTimeout(() => {
      if (this.stopping || this.busy) return;
      void this.deps.state.getCheckpoint(this.ds.name).then(
        (cp) => this.launch(mode, cp && cp.mode === mode ? cp.runId : newRunId(new Date(this.deps.now()))),
        (err) => {
          this.deps.log(`${this.ds.name}: cannot read its checkpoint: ${message(err)}`);
          this.backOff(mode);
        },
      );
    }, delayMs);
    this.timer.unref?.();
  }

  private launch(mode: PassMode, runId: string): void {
    this.nextRunAt = undefined;
    this.running = this.pass(mode, runId)
      .then(
        (finished) => {
          this.backoffMs = 0;
          if (!finished || this.stopping) return;
          const next = this.ds.scheduleMs;
          if (next !== undefined) this.schedule(next, this.ds.mode);
        },
        (err) => {
          this.deps.log(`${this.ds.name}: pass ${runId} stopped: ${message(err)}`);
          this.backOff(mode);
        },
      )
      .finally(() => {
        this.running = undefined;
        this.progress = undefined;
        this.deps.onChange?.();
      });
  }

  private backOff(mode: PassMode): void {
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs ? this.backoffMs * 2 : FIRST_BACKOFF_MS);
    // A broken connection is opened afresh on the next attempt.
    void this.closeReplicas();
    if (!this.stopping) this.schedule(this.backoffMs * (0.5 + Math.random() / 2), mode);
  }

  /** The replicas, opened once and shared by passes and probes (one opening at a time). */
  private open(): Promise<OpenReplica[]> {
    if (this.replicas) return Promise.resolve(this.replicas);
    this.opening ??= this.openAll().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async openAll(): Promise<OpenReplica[]> {
    const out: OpenReplica[] = [];
    try {
      for (const r of this.ds.replicas) {
        const health = this.health.get(r.name)!;
        let connector: Connector;
        try {
          connector = await openConnector(this.ds.name, r, { readonly: false });
        } catch (err) {
          health.failed(err);
          throw err;
        }
        out.push({ name: r.name, connector: watch(connector, health) });
      }
    } catch (err) {
      await Promise.allSettled(out.map((r) => r.connector.close()));
      throw err;
    }
    this.replicas = out;
    return out;
  }

  private async closeReplicas(): Promise<void> {
    const open = this.replicas;
    this.replicas = undefined;
    this.resolved = undefined;
    this.prober = undefined;
    if (open) await Promise.allSettled(open.map((r) => r.connector.close()));
  }

  private async shape(replicas: readonly OpenReplica[]): Promise<ResolvedShape> {
    this.resolved ??= await describeDataset(this.ds, replicas);
    return this.resolved;
  }

  /** One pass (new or resumed). True when it covered the whole key space; false when stopped on the way. */
  private async pass(mode: PassMode, runId: string): Promise<boolean> {
    const { state, metrics, now } = this.deps;
    const dataset = this.ds.name;
    const passStarted = now();
    const replicas = await this.open();
    // Refreshed each pass: a replica's schema may have changed since.
    this.resolved = undefined;
    const resolved = await this.shape(replicas);
    let cp = await state.getCheckpoint(dataset);
    if (cp && (cp.runId !== runId || cp.mode !== mode)) {
      // A pass of another mode was left unfinished: this one covers the whole key space again.
      this.deps.log(`${dataset}: abandoning unfinished ${cp.mode} pass ${cp.runId} for a ${mode} pass`);
      await state.finishRun(cp.runId, dataset, {
        finishedAt: now(),
        status: "failed",
        counts: {},
        stats: { abandonedAtSegment: cp.done },
      });
      cp = undefined;
    }
    if (cp) {
      this.deps.log(
        `${dataset}: resuming pass ${runId} at segment ${cp.done + 1} of ${cp.bounds.length + 1}`,
      );
    } else {
      const bounds = await segmentBounds(replicas, resolved.shape, this.ds.checkpointRows);
      cp = {
        dataset,
        runId,
        mode,
        bounds,
        done: 0,
        totals: emptyTotals(),
        startedAt: now(),
        updatedAt: now(),
      } satisfies Checkpoint;
      await state.beginRun({ id: runId, dataset, command: `serve ${mode}`, startedAt: cp.startedAt });
      await state.putCheckpoint(cp);
    }
    const totals = { ...emptyTotals(), ...(cp.totals as Partial<PassTotals>) };
    const ctx: RunContext = {
      runId,
      state,
      now,
      command: `serve ${mode}`,
      // Below full intensity, gentleness over speed: one query at a time against the stores.
      ...(this.ds.intensity < 1 ? { detect: { serial: true } } : {}),
    };
    if (mode === "repair") {
      const settled = await recoverPending(dataset, replicas, resolved.shape, ctx);
      this.countRepairs(settled, totals);
    }
    const segments = segmentsOf(cp.bounds);
    for (let i = cp.done; i < segments.length; i++) {
      if (this.stopping) return false;
      this.progress = { done: i, segments: segments.length, runId };
      const started = now();
      // Totals change only once the segment is whole: a segment cut short by `stop` is done again on resume.
      const next = structuredClone(totals);
      const whole = await this.segment(mode, segments[i]!, ctx, next, segments.length > 1);
      if (!whole) return false;
      Object.assign(totals, next);
      cp = { ...cp, done: i + 1, totals, updatedAt: now() };
      await state.putCheckpoint(cp);
      metrics.segments.inc({ dataset });
      if (this.stopping) return i + 1 === segments.length && (await this.finish(cp, totals, passStarted));
      await this.pause(now() - started);
    }
    return this.finish(cp, totals, passStarted);
  }

  /**
   * Scans (and repairs) one segment into `totals`; false when `stop` cut its repairs short. One of several
   * segments holds about `checkpointRows` rows.
   */
  private async segment(
    mode: PassMode,
    range: KeyRange,
    ctx: RunContext,
    totals: PassTotals,
    oneOfSeveral: boolean,
  ): Promise<boolean> {
    const { state, metrics, now } = this.deps;
    const dataset = this.ds.name;
    const replicas = await this.open();
    const scan = await scanDataset(this.ds, replicas, ctx, {
      range,
      resolved: await this.shape(replicas),
      ...(oneOfSeveral ? { expectedRows: this.ds.checkpointRows } : {}),
    });
    // Every segment reports the same schema issues: they count once per pass, not once per segment.
    const { schema, ...classes } = scan.counts;
    add(totals.counts, classes);
    if (schema) totals.counts.schema = schema;
    add(totals.stats, {
      rowsRead: scan.stats.rowsRead,
      rowsScanned: scan.stats.rowsScanned,
      bytesRead: scan.stats.bytesRead,
      queries: scan.stats.queries,
    });
    for (const [replica, { rows }] of Object.entries(scan.replicas))
      metrics.scanRows.inc({ dataset, replica }, rows);
    const divergent = scan.divergences.filter(isRepairable).map((d) => keyId(d.key));
    if (divergent.length) await state.markDivergent(dataset, divergent, now());
    const plan = planDataset(this.ds, scan);
    const escalated = plan.decisions.filter((d) => d.action === "escalate");
    if (mode === "scan") {
      totals.remaining += divergent.length + scan.schema.length;
      return true;
    }
    await recordPlan(plan, ctx);
    for (const d of escalated) metrics.escalations.inc({ dataset, class: d.class });
    if (plan.guard) metrics.escalations.inc({ dataset, class: "guard" });
    totals.escalated += escalated.length + (plan.guard ? 1 : 0);
    const results = await repairDataset(plan, replicas, ctx, {
      signal: this.abort.signal,
      onRetry: (replica) => metrics.retries.inc({ dataset, replica }),
    });
    this.countRepairs(results, totals);
    totals.remaining +=
      escalated.length +
      scan.schema.length +
      (plan.guard ? divergent.length : 0) +
      results.filter((r) => r.outcome === "superseded" || r.outcome === "failed").length;
    await this.timeToConvergence(results);
    return !this.abort.signal.aborted;
  }

  private countRepairs(results: readonly RepairResult[], totals: PassTotals): void {
    for (const r of results) {
      totals.repairs[r.outcome] = (totals.repairs[r.outcome] ?? 0) + 1;
      this.deps.metrics.repairs.inc({ dataset: this.ds.name, replica: r.target, outcome: r.outcome });
    }
  }

  /** Keys whose every repair verified: the time from their first detection is their time to convergence. */
  private async timeToConvergence(results: readonly RepairResult[]): Promise<void> {
    const byKey = new Map<string, boolean>();
    for (const r of results) {
      const id = keyId(r.key);
      const ok = r.outcome === "applied" || r.outcome === "noop";
      byKey.set(id, (byKey.get(id) ?? true) && ok);
    }
    const converged = [...byKey].filter(([, ok]) => ok).map(([id]) => id);
    if (!converged.length) return;
    const { state, metrics, now } = this.deps;
    const dataset = this.ds.name;
    const first = await state.takeDivergent(dataset, converged);
    const at = now();
    const samples = [...first.values()].map((seen) => {
      const seconds = Math.max(0, (at - seen) / 1000);
      metrics.timeToConvergence.observe({ dataset }, seconds);
      return { dataset, series: "ttc", label: "", at, value: seconds };
    });
    await state.appendSamples(samples);
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
    if (ms <= 0 || this.stopping) return;
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
    });
  }

  private async finish(cp: Checkpoint, totals: PassTotals, passStarted: number): Promise<boolean> {
    const { state, metrics, now } = this.deps;
    const dataset = this.ds.name;
    const finishedAt = now();
    const stats: Record<string, number> = { ...totals.stats, durationMs: finishedAt - cp.startedAt };
    for (const [k, n] of Object.entries(totals.repairs)) stats[`repairs.${k}`] = n;
    stats.escalated = totals.escalated + (totals.counts.schema ?? 0);
    await state.finishRun(cp.runId, dataset, {
      finishedAt,
      status: totals.remaining > 0 ? "diverged" : "ok",
      counts: totals.counts,
      stats,
    });
    await state.deleteCheckpoint(dataset);
    // Keys not seen divergent during the whole pass converged without a repair.
    await state.purgeDivergent(dataset, cp.startedAt);
    // Classes seen in an earlier pass but not this one read 0, not their old value.
    for (const cls of this.gaugedClasses) metrics.divergences.set({ dataset, class: cls }, 0);
    for (const [cls, n] of Object.entries(totals.counts)) {
      metrics.divergences.set({ dataset, class: cls }, n);
      this.gaugedClasses.add(cls);
    }
    metrics.lastRun.set({ dataset }, finishedAt / 1000);
    metrics.scanDuration.observe({ dataset }, (finishedAt - passStarted) / 1000);
    this.lastFailed = totals.repairs.failed ?? 0;
    const benign = Object.entries(totals.counts)
      .filter(([c]) => !BENIGN_CLASSES.has(c as never))
      .reduce((n, [, v]) => n + v, 0);
    this.deps.log(
      `${dataset}: pass ${cp.runId} (${cp.mode}) finished in ${((finishedAt - cp.startedAt) / 1000).toFixed(1)} s: ${benign} divergent, ${totals.repairs.applied ?? 0} repaired, ${totals.remaining} remaining`,
    );
    return true;
  }
}
