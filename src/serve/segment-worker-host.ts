/**
 * `concord worker`'s core: runs the segment jobs the queue hands it through the engine (runSegmentJob), over
 * replicas it opens once per dataset and the shared state store. It begins, checkpoints and finishes no run.
 */
import { createHash } from "node:crypto";
import type { ConcordConfig, DatasetConfig } from "../config/load-config.js";
import { openConnector } from "../connectors/open-connector.js";
import { keyId } from "../core/model.js";
import type { ResolvedShape } from "../detect/resolve-shape.js";
import { OpenEscalations } from "../engine/open-escalations.js";
import type { OpenReplica } from "../engine/run-context.js";
import { runSegmentJob } from "../engine/run-segment-job.js";
import type { SegmentJob, SegmentJobResult } from "../engine/segment-dispatch.js";
import { WriteGuard, type WriteLimiter } from "../execute/write-guard.js";
import type { StateStore } from "../state/state-store.js";
import { markSegment } from "./segment-marks.js";
import type { WorkerMetrics } from "./worker-metrics.js";

/** What a worker host needs. */
export interface WorkerHostDeps {
  readonly state: StateStore;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** This worker process (`host:pid:random`). */
  readonly worker: string;
  /** The fleet's shared write bucket of a dataset's replica; without it each worker keeps its own rate. */
  readonly writeLimiter?: (dataset: string, replica: string, perSecond: number) => WriteLimiter;
  /** The worker's own metrics (`concord worker --metrics`). */
  readonly metrics?: WorkerMetrics | undefined;
}

/** What the host keeps per dataset: open replicas, its description, the pass it is working on (write guard). */
interface DatasetSlot {
  /** The replicas, opened once for every job of the dataset this worker runs (at once or in turn). */
  replicas?: Promise<OpenReplica[]> | undefined;
  pass?:
    | {
        runId: string;
        guard: WriteGuard;
        resolved?: ResolvedShape | undefined;
        /** The pass's open escalations, read by its first job here and kept by this worker's jobs of it. */
        escalations?: OpenEscalations | undefined;
      }
    | undefined;
  /** The write guard of key jobs (change-feed batches): kept across them, apart from the pass's. */
  keys?: WriteGuard | undefined;
  /**
   * The dataset's description this worker made, under the dataset's config (its hash) and the coordinator's
   * description fingerprint of the job it made it for: reused by every job that brings the same fingerprint.
   */
  described?: { config: string; fingerprint: string; resolved: ResolvedShape } | undefined;
}

/**
 * Runs segment jobs. One write guard per worker and pass: its circuit breakers and retries span the segments
 * of that pass this worker runs (a replica that kept failing stays open-circuited for this worker's next
 * segment of the pass); the write rate is the fleet's when a shared bucket is given. With `intensity` under 1,
 * a job holds its slot after its segment for as long as intensity asks (segment time × (1/intensity − 1)), so
 * the fleet's load on the replicas is at most the dataset's `concurrency` × `intensity`.
 */
export class SegmentWorkerHost {
  private readonly slots = new Map<string, DatasetSlot>();
  private readonly closing = new AbortController();

  constructor(
    private readonly config: ConcordConfig,
    private readonly deps: WorkerHostDeps,
  ) {}

  /** The datasets this host runs jobs for. */
  get datasets(): string[] {
    return this.config.datasets.map((d) => d.name);
  }

  /** Runs one job; throws (failing the attempt, so the queue retries it) when the segment could not be run. */
  readonly handle = async (job: SegmentJob, attempt: number): Promise<SegmentJobResult> => {
    const ended = this.deps.metrics?.started(job.dataset);
    try {
      const result = await this.run(job, attempt);
      ended?.(result);
      return result;
    } catch (err) {
      ended?.(undefined);
      throw err;
    }
  };

  private async run(job: SegmentJob, attempt: number): Promise<SegmentJobResult> {
    const ds = this.config.datasets.find((d) => d.name === job.dataset);
    if (!ds) throw new Error(`worker: no dataset named ${job.dataset} in this worker's config`);
    const slot = this.slots.get(ds.name) ?? {};
    this.slots.set(ds.name, slot);
    const { state, now, log } = this.deps;
    const label = job.keys
      ? `${ds.name} ${job.keys.length} key${job.keys.length === 1 ? "" : "s"} of run ${job.runId}`
      : `${ds.name} segment ${job.index + 1}/${job.of} of pass ${job.runId}`;
    if (attempt > 1) log(`${label}: attempt ${attempt}`);
    try {
      slot.replicas ??= this.open(ds);
      const replicas = await slot.replicas;
      // A key job (its own short run) leaves the pass this worker is working on as it is.
      if (job.keys) slot.keys ??= this.guard(ds);
      else if (slot.pass?.runId !== job.runId)
        slot.pass = {
          runId: job.runId,
          guard: this.guard(ds),
          escalations: new OpenEscalations(state, ds.name),
        };
      const pass: NonNullable<DatasetSlot["pass"]> =
        job.keys || !slot.pass ? { runId: job.runId, guard: slot.keys ?? this.guard(ds) } : slot.pass;
      // The description made for an earlier job (of any pass or key batch) holds while the coordinator's
      // fingerprint and the dataset's config are the same; a schema change the coordinator saw changes the
      // fingerprint, and this job describes afresh.
      const config = configHash(ds);
      const kept =
        job.described !== undefined &&
        slot.described?.fingerprint === job.described &&
        slot.described.config === config
          ? slot.described.resolved
          : undefined;
      const given = kept ?? (job.described === undefined ? pass.resolved : undefined);
      const out = await runSegmentJob(ds, replicas, { state, now }, job, {
        worker: this.deps.worker,
        guard: pass.guard,
        resolved: given,
        // Its marks go with the repairs' last writes: markSegment below sends only the samples.
        mark: true,
        escalations: pass.escalations,
      });
      if (out.resolved && !out.result.skipped)
        this.deps.metrics?.describes.inc({ dataset: ds.name, outcome: given ? "reused" : "described" });
      if (out.resolved && job.described !== undefined && !kept)
        slot.described = { config, fingerprint: job.described, resolved: out.resolved };
      if (out.result.skipped) {
        log(
          `${label}: skipped (${job.keys ? "its run is finished" : "the pass is finished or has it already"})`,
        );
        return out.result;
      }
      pass.resolved = out.resolved;
      const marks = out.outcome ? await markSegment(state, ds.name, out.outcome, now) : undefined;
      const t = out.result.totals;
      log(
        `${label}: ${t.stats.rowsRead} rows read, ${Object.values(t.counts).reduce((a, b) => a + b, 0)} divergent, ${t.repairs.applied ?? 0} repaired in ${out.result.durationMs} ms`,
      );
      await this.pause(ds, out.result.durationMs);
      const result = marks?.ttcSeconds.length ? { ...out.result, ttcSeconds: marks.ttcSeconds } : out.result;
      if (!job.keys || !out.outcome) return result;
      // A key job tells the coordinator which of its keys are still divergent (its consistency hints).
      const converged = new Set(marks?.converged);
      const unsettled = new Set(
        out.outcome.scan.divergences.filter((d) => d.key.length).map((d) => keyId(d.key)),
      );
      return { ...result, unsettled: [...unsettled].filter((k) => !converged.has(k)) };
    } catch (err) {
      // The replicas are opened afresh for the next job: a broken connection is not handed on.
      await this.closeReplicas(slot);
      slot.pass = undefined;
      slot.keys = undefined;
      // A job that failed may have failed on a changed table: the next describes again.
      slot.described = undefined;
      throw err;
    }
  }

  /** Closes every replica (after the queue stopped handing out jobs). */
  async close(): Promise<void> {
    this.closing.abort();
    for (const slot of this.slots.values()) await this.closeReplicas(slot);
  }

  private guard(ds: DatasetConfig): WriteGuard {
    const rate = ds.policy.limits.writesPerSecond;
    const shared = this.deps.writeLimiter;
    return new WriteGuard({
      writesPerSecond: rate,
      dataset: ds.name,
      backpressure: ds.backpressure,
      ...(rate && shared ? { limiter: (replica: string) => shared(ds.name, replica, rate) } : {}),
    });
  }

  private async open(ds: DatasetConfig): Promise<OpenReplica[]> {
    const opened: OpenReplica[] = [];
    try {
      for (const r of ds.replicas)
        opened.push({ name: r.name, connector: await openConnector(ds.name, r, { readonly: false }) });
      return opened;
    } catch (err) {
      await Promise.allSettled(opened.map((r) => r.connector.close()));
      throw err;
    }
  }

  private async closeReplicas(slot: DatasetSlot): Promise<void> {
    const opening = slot.replicas;
    slot.replicas = undefined;
    const replicas = (await opening?.catch(() => [])) ?? [];
    await Promise.allSettled(replicas.map((r) => r.connector.close()));
  }

  private async pause(ds: DatasetConfig, segmentMs: number): Promise<void> {
    const ms = segmentMs * (1 / ds.intensity - 1);
    if (ms <= 0 || this.closing.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.closing.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}

const configHashes = new WeakMap<DatasetConfig, string>();

/** A hash of a dataset's config as this worker loaded it: a description is kept only under the same config. */
function configHash(ds: DatasetConfig): string {
  let hash = configHashes.get(ds);
  if (hash === undefined) {
    const text = JSON.stringify(ds, (_, v: unknown) =>
      v instanceof Map ? [...v.entries()] : typeof v === "bigint" ? `${v}n` : v,
    );
    hash = createHash("sha256").update(text, "utf8").digest("hex").slice(0, 32);
    configHashes.set(ds, hash);
  }
  return hash;
}
