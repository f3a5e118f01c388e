/** The Prometheus metrics `serve` exposes at /metrics (prom-client, one registry per service). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { DIVERGENCE_CLASSES } from "../core/classify.js";
import { packageVersion } from "../package-version.js";

/**
 * prom-client's gauges named like counters (`promtool check metrics`: non-counter metrics should not have a
 * `_total` suffix). Their sums are `sum(nodejs_active_handles)` and so on, which stay.
 */
const MISNAMED_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** One replica's reliability as `/metrics` shows it (the Wilson score and its 95% interval). */
export interface ReliabilityReading {
  readonly dataset: string;
  readonly replica: string;
  readonly score: number;
  readonly low: number;
  readonly high: number;
}

/** The repair outcomes `concord_repairs_total` counts. */
const OUTCOMES = ["applied", "noop", "superseded", "failed"] as const;

/** What `ServeMetrics.declare` needs of a dataset: its name and replicas. */
export interface DeclaredDataset {
  readonly name: string;
  readonly replicas: readonly string[];
  /** The replicas whose change feeds are watched (`watch.replicas`). */
  readonly watched?: readonly string[] | undefined;
}

/** Seconds: from a fraction of a second (probe lag on one machine) to hours (a slow schedule). */
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const TTC_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600];
/** Seconds from taking a batch of changed keys to the end of its check. */
const WATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const SCAN_BUCKETS = [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly divergences = new Gauge({
    name: "concord_divergences",
    help: "Divergent keys by class in the dataset's last finished pass.",
    labelNames: ["dataset", "class"] as const,
    registers: [this.registry],
  });
  readonly convergenceLag = new Histogram({
    name: "concord_convergence_lag_seconds",
    help: "Time for a probe's canary write on the source to appear on a replica.",
    labelNames: ["dataset", "replica"] as const,
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });
  readonly probeTimeouts = new Counter({
    name: "concord_probe_timeouts_total",
    help: "Probes whose canary did not reach the replica within the probe timeout.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly readAfterWrite = new Counter({
    name: "concord_read_after_write_anomalies_total",
    help: "Reads of an older canary after a newer one was acknowledged or seen.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly timeToConvergence = new Histogram({
    name: "concord_time_to_convergence_seconds",
    help: "From a key's first detection as divergent to its verified repair.",
    labelNames: ["dataset"] as const,
    buckets: TTC_BUCKETS,
    registers: [this.registry],
  });
  readonly repairs = new Counter({
    name: "concord_repairs_total",
    help: "Repairs carried out, by verified outcome (applied, noop, superseded, failed).",
    labelNames: ["dataset", "replica", "outcome"] as const,
    registers: [this.registry],
  });
  readonly escalations = new Counter({
    name: "concord_escalations_total",
    help: "Escalations opened for a person, by class (each counted once, when it opens).",
    labelNames: ["dataset", "class"] as const,
    registers: [this.registry],
  });
  readonly escalationsOpen: Gauge<"dataset">;
  readonly replicaReliability: Gauge<"dataset" | "replica">;
  readonly replicaReliabilityLow: Gauge<"dataset" | "replica">;
  readonly replicaReliabilityHigh: Gauge<"dataset" | "replica">;
  readonly retries = new Counter({
    name: "concord_retries_total",
    help: "Write batches retried after a transient failure.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly repairWriteRate = new Gauge({
    name: "concord_repair_write_rate",
    help: "The repair write rate backpressure allows a replica now, writes per second (backpressure: only; -1 while unlimited).",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly scanDuration = new Histogram({
    name: "concord_scan_duration_seconds",
    help: "Wall time of a whole pass over a dataset (pauses for intensity included).",
    labelNames: ["dataset"] as const,
    buckets: SCAN_BUCKETS,
    registers: [this.registry],
  });
  readonly scanRows = new Counter({
    name: "concord_scan_rows_total",
    help: "Rows compared, per replica (the rows in each scanned segment).",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly replicaUp = new Gauge({
    name: "concord_replica_up",
    help: "1 when the last call to the replica succeeded, 0 when it failed.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly lastRun = new Gauge({
    name: "concord_last_run_timestamp_seconds",
    help: "When the dataset's last pass finished (Unix time).",
    labelNames: ["dataset"] as const,
    registers: [this.registry],
  });
  readonly workerSegments = new Counter({
    name: "concord_worker_segments_total",
    help: "Segments of distributed passes finished, by the worker process that ran them.",
    labelNames: ["dataset", "worker"] as const,
    registers: [this.registry],
  });
  readonly segmentDuration = new Histogram({
    name: "concord_segment_duration_seconds",
    help: "How long a distributed pass's segment took on its worker.",
    labelNames: ["dataset"] as const,
    buckets: SCAN_BUCKETS,
    registers: [this.registry],
  });
  readonly segmentFailures = new Counter({
    name: "concord_segment_failures_total",
    help: "Failed attempts of distributed segment jobs (retried until their attempts run out), by the worker that made them.",
    labelNames: ["dataset", "worker"] as const,
    registers: [this.registry],
  });
  readonly queueJobs = new Gauge({
    name: "concord_queue_jobs",
    help: "Segment jobs in the dataset's queue by state (waiting, active, delayed, failed, completed).",
    labelNames: ["dataset", "state"] as const,
    registers: [this.registry],
  });
  readonly queueOldestWaiting = new Gauge({
    name: "concord_queue_oldest_waiting_seconds",
    help: "Age of the oldest segment job waiting for a worker (0 when none waits).",
    labelNames: ["dataset"] as const,
    registers: [this.registry],
  });
  readonly segments = new Counter({
    name: "concord_segments_total",
    help: "Checkpointed segments finished.",
    labelNames: ["dataset"] as const,
    registers: [this.registry],
  });
  readonly watchChecks = new Counter({
    name: "concord_watch_checks_total",
    help: "Batches of changed keys (or whole passes after a gap) checked from a replica's change feed.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly watchKeys = new Counter({
    name: "concord_watch_keys_total",
    help: "Changed keys checked from a replica's change feed.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly watchGaps = new Counter({
    name: "concord_watch_gaps_total",
    help: "Times a change feed may have missed changes (restart without history, slot released, overflow) and a whole pass ran.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly watchBatchLimit = new Gauge({
    name: "concord_watch_batch_limit",
    help: "Keys the next change-feed batch may hold: the batch size as backpressure (AIMD) has set it.",
    labelNames: ["dataset", "replica"] as const,
    registers: [this.registry],
  });
  readonly watchRetryKeys = new Gauge({
    name: "concord_watch_retry_keys",
    help: "Keys change-feed checks left unsettled (a claim of a run not yet dead, a rejected or failed write, a divergence in the window), held to be checked again with back-off.",
    labelNames: ["dataset"] as const,
    registers: [this.registry],
  });
  readonly watchRechecked = new Counter({
    name: "concord_watch_rechecked_keys_total",
    help: "Keys of the retry set checked again, by outcome: settled, or held again (unsettled).",
    labelNames: ["dataset", "outcome"] as const,
    registers: [this.registry],
  });
  readonly watchRetryOverflow = new Counter({
    name: "concord_watch_retry_overflow_total",
    help: "Unsettled keys the retry set did not hold (full: over watch.retryKeys; exhausted: past its attempts), left to the next pass with their segments marked dirty.",
    labelNames: ["dataset", "reason"] as const,
    registers: [this.registry],
  });
  readonly watchCheckDuration = new Histogram({
    name: "concord_watch_check_seconds",
    help: "From taking a batch of changed keys from a feed to the end of its check (reconciliation window included).",
    labelNames: ["dataset"] as const,
    buckets: WATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly buildInfo = new Gauge({
    name: "concord_build_info",
    help: "Always 1: the running Concord's version and Node.js version as labels.",
    labelNames: ["version", "nodejs"] as const,
    registers: [this.registry],
  });

  /**
   * `openEscalations` counts the open escalations per dataset when /metrics is read; `reliability` reads each
   * replica's reliability from the evidence then (replicas without settled decisions have no sample).
   */
  constructor(
    openEscalations?: () => Promise<Record<string, number>>,
    reliability?: () => Promise<readonly ReliabilityReading[]>,
  ) {
    // The process's own CPU, memory, event-loop lag and handles, under their standard names.
    collectDefaultMetrics({ register: this.registry });
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    this.buildInfo.set({ version: packageVersion(), nodejs: process.version }, 1);
    this.escalationsOpen = new Gauge({
      name: "concord_escalations_open",
      help: "Escalations waiting for a person now, per dataset.",
      labelNames: ["dataset"] as const,
      registers: [this.registry],
      async collect() {
        if (!openEscalations) return;
        this.reset();
        for (const [dataset, n] of Object.entries(await openEscalations())) this.set({ dataset }, n);
      },
    });
    // One read of the evidence per scrape serves the three gauges: the registry collects them at once, and
    // each awaits the read the first one started.
    let pending: Promise<readonly ReliabilityReading[]> | undefined;
    const read = () => {
      pending ??= (reliability ? reliability() : Promise.resolve([])).finally(() => {
        pending = undefined;
      });
      return pending;
    };
    const gauge = (name: string, help: string, value: (r: ReliabilityReading) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["dataset", "replica"] as const,
        registers: [this.registry],
        async collect() {
          if (!reliability) return;
          const readings = await read();
          this.reset();
          for (const r of readings) this.set({ dataset: r.dataset, replica: r.replica }, value(r));
        },
      });
    this.replicaReliability = gauge(
      "concord_replica_reliability",
      "Share of settled decisions in which the replica held the winning value (learned from evidence).",
      (r) => r.score,
    );
    this.replicaReliabilityLow = gauge(
      "concord_replica_reliability_low",
      "Lower bound of the 95% Wilson interval of concord_replica_reliability.",
      (r) => r.low,
    );
    this.replicaReliabilityHigh = gauge(
      "concord_replica_reliability_high",
      "Upper bound of the 95% Wilson interval of concord_replica_reliability.",
      (r) => r.high,
    );
  }

  /**
   * Gives every counter and histogram its series for these datasets at zero, so an alert rule
   * (`increase(concord_repairs_total{outcome="failed"}[15m]) > 0`, a rate of probe timeouts) has samples from
   * the start instead of a series that appears with its first event. Gauges stay absent until measured:
   * a zero there would claim what nobody has looked at yet.
   */
  declare(datasets: readonly DeclaredDataset[]): void {
    for (const { name: dataset, replicas, watched } of datasets) {
      for (const replica of watched ?? []) {
        this.watchChecks.inc({ dataset, replica }, 0);
        this.watchKeys.inc({ dataset, replica }, 0);
        this.watchGaps.inc({ dataset, replica }, 0);
      }
      if (watched?.length) {
        this.watchCheckDuration.zero({ dataset });
        for (const outcome of ["settled", "unsettled"]) this.watchRechecked.inc({ dataset, outcome }, 0);
        for (const reason of ["full", "exhausted"]) this.watchRetryOverflow.inc({ dataset, reason }, 0);
      }
      for (const replica of replicas) {
        for (const outcome of OUTCOMES) this.repairs.inc({ dataset, replica, outcome }, 0);
        this.probeTimeouts.inc({ dataset, replica }, 0);
        this.readAfterWrite.inc({ dataset, replica }, 0);
        this.retries.inc({ dataset, replica }, 0);
        this.scanRows.inc({ dataset, replica }, 0);
        this.convergenceLag.zero({ dataset, replica });
      }
      for (const cls of [...DIVERGENCE_CLASSES, "guard"]) this.escalations.inc({ dataset, class: cls }, 0);
      this.segments.inc({ dataset }, 0);
      this.timeToConvergence.zero({ dataset });
      this.scanDuration.zero({ dataset });
    }
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
