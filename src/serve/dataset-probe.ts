/**
 * One dataset's convergence probe under `serve` (`probe:`): runs the Prober on its timer over replicas the
 * runner opened, and records what it measured (lag, read-after-write anomalies) as samples, metrics and
 * evidence. Opens no replica itself and never runs a pass.
 */
import type { DatasetConfig } from "../config/load-config.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import { canaryKey } from "../engine/describe-dataset.js";
import type { OpenReplica } from "../engine/run-context.js";
import { probeEvidence } from "../learning/evidence-of-run.js";
import type { StateStore } from "../state/state-store.js";
import type { ServeMetrics } from "./metrics.js";
import { type ProbeOutcome, Prober } from "./probe.js";

export interface DatasetProbeDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** Told when a probe was recorded (alert evaluation). */
  readonly onChange?: (() => void) | undefined;
  /** The dataset as it runs now (a reload may change it). */
  readonly dataset: () => DatasetConfig;
  /** The named replicas, opened once and shared with the dataset's passes. */
  readonly open: (names: readonly string[]) => Promise<OpenReplica[]>;
  /** The dataset's shape: the latest pass's, or described now when none resolved it yet. */
  readonly shape: () => Promise<ResolvedShape>;
  /** The service's stop: a probe in flight gives up its wait. */
  readonly signal: () => AbortSignal;
  /** True while the service stops: no probe is scheduled. */
  readonly stopping: () => boolean;
}

/**
 * The probe of one dataset. Invariant: at most one probe in flight; the Prober is built on first use over the
 * replicas it writes to and polls, and built again after one of them was closed (`replicasClosed`).
 */
export class DatasetProbe {
  /** Last probe's lag per replica, seconds (null: not converged within the timeout). */
  readonly lag: Record<string, number | null> = {};
  private prober: Prober | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly deps: DatasetProbeDeps) {}

  /** Runs one probe now and records it (tests, and the probe timer). Undefined when the dataset has no probe. */
  async once(): Promise<ProbeOutcome | undefined> {
    const ds = this.deps.dataset();
    const probe = ds.probe;
    if (!probe) return undefined;
    // Only the replicas the probe writes to and polls: one that is down elsewhere in the dataset does not
    // stop the probe measuring the others.
    const replicas = await this.deps.open([probe.source, ...probe.replicas]);
    if (!this.prober) {
      const resolved = await this.deps.shape();
      this.prober = new Prober(
        probe,
        resolved.shape,
        canaryKey(this.deps.dataset(), resolved.shape),
        new Map(replicas.map((r) => [r.name, r.connector])),
        { now: this.deps.now, signal: this.deps.signal() },
      );
    }
    const out = await this.prober.run();
    const { metrics, state } = this.deps;
    const dataset = this.deps.dataset().name;
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

  /** Probes after `delayMs`, then every `probe.everyMs` until the service stops (`halt`). */
  schedule(delayMs: number): void {
    const probe = this.deps.dataset().probe!;
    this.timer = setTimeout(() => {
      if (this.deps.stopping()) return;
      this.probing = this.once()
        .then(
          () => {},
          (err) => this.deps.log(`${this.deps.dataset().name}: probe failed: ${message(err)}`),
        )
        .finally(() => {
          this.probing = undefined;
          if (!this.deps.stopping()) this.schedule(probe.everyMs);
        });
    }, delayMs);
    this.timer.unref?.();
  }

  /** No further probe starts (one in flight finishes: see `idle`). */
  halt(): void {
    clearTimeout(this.timer);
  }

  /** Waits for the probe in flight, if any. */
  async idle(): Promise<void> {
    await this.probing?.catch(() => {});
  }

  /** The replicas `names` were closed: a Prober over any of them is built again on next use. */
  replicasClosed(names: readonly string[]): void {
    const probe = this.deps.dataset().probe;
    if (names.some((n) => !probe || n === probe.source || probe.replicas.includes(n)))
      this.prober = undefined;
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}
