/**
 * One dataset's change-log replay under `serve` (engine/replay-dataset.ts in this process): holds the
 * dataset's pass lease while it runs, keeps what it came to for status, counts its groups as a pass's, audits
 * who asked. Whether a replay may start beside the dataset's passes is the runner's call, not this object's.
 */
import type { DatasetConfig } from "../config/load-config.js";
import { type ReplayResult, replayDataset } from "../engine/replay-dataset.js";
import type { OpenReplica } from "../engine/run-context.js";
import type { SegmentOutcome } from "../engine/run-dataset.js";
import { newRunId } from "../engine/run-id.js";
import { holdPassLease, type KeptLease, PassOwnedError } from "../engine/run-liveness.js";
import type { SegmentReport } from "../engine/segment-report.js";
import type { StateStore } from "../state/state-store.js";
import type { ServeMetrics } from "./metrics.js";
import { type ReplayView, TriggerError } from "./service-api.js";

export interface DatasetReplayDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** This process as the pass lease's owner (`host:pid:random`). */
  readonly owner: string;
  /** The config file the dataset's policy comes from (recorded in the policy registry). */
  readonly configFile?: string | undefined;
  /** Signs the audit log's head once the replay has written its entries (when anchoring is configured). */
  readonly anchor?: (() => Promise<void>) | undefined;
  /** The dataset's replicas, opened once and shared with its passes and probe. */
  readonly open: () => Promise<OpenReplica[]>;
  /** A replayed batch's groups, counted as a pass's are (metrics, divergent-key marks, times to convergence). */
  readonly segmentDone: (report: SegmentReport, work: SegmentOutcome | undefined) => Promise<void>;
  /** The service's stop: the replay ends after the batch in flight. */
  readonly signal: () => AbortSignal;
  /** Told (synchronously, before `running` resolves) when a replay that was started ended, whatever its end. */
  readonly ended: () => void;
}

/**
 * Replays of one dataset, one at a time. Invariant: while `running` is set the replay holds, or is taking,
 * the dataset's pass lease; `view` is the running replay, or the last one.
 */
export class DatasetReplay {
  /** The change-log replay running (or the last one): shown in status. */
  view: ReplayView | null = null;
  /** Set while a replay runs; resolves (never rejects) when it ended. */
  running: Promise<void> | undefined;

  constructor(private readonly deps: DatasetReplayDeps) {}

  /**
   * Replays the owner's change log onto `replica` and answers what it came to. Takes the dataset's pass lease
   * first (TriggerError "busy" while another process holds it) and keeps it (keepLease: renewed every
   * heartbeat and before each batch) for as long as it runs; another process taking it stops the replay: no
   * batch after the loss, its cursor after the last batch finished, a ReplayError naming the holder. `by` is
   * named as the runs' actor and in a `triggered` audit entry (mode `replay`). The caller checks that nothing
   * else runs (`running` unset).
   */
  async run(
    ds: DatasetConfig,
    replica: string,
    by: string,
    options: { batch?: number | undefined },
  ): Promise<ReplayResult> {
    const { state, now } = this.deps;
    let release = () => {};
    this.running = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      const held = await holdPassLease({ state, now, dataset: ds.name, owner: this.deps.owner }).catch(
        (err: unknown) => {
          throw err instanceof PassOwnedError ? new TriggerError("busy", err.message) : err;
        },
      );
      try {
        return await this.replayHeld(ds, replica, by, options, held.lease);
      } finally {
        await held.release();
      }
    } finally {
      this.running = undefined;
      release();
      this.deps.ended();
    }
  }

  private async replayHeld(
    ds: DatasetConfig,
    replica: string,
    by: string,
    options: { batch?: number | undefined },
    lease: KeptLease,
  ): Promise<ReplayResult> {
    const { state, now, metrics } = this.deps;
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
    this.view = view;
    this.deps.log(`${ds.name}: replaying the owner's change log onto ${replica} (asked by ${by})`);
    try {
      const result = await replayDataset(
        ds,
        await this.deps.open(),
        { state, now },
        {
          replica,
          batch: options.batch,
          newRunId: () => newRunId(new Date(now())),
          signal: this.deps.signal(),
          lease,
          run: {
            actor: by,
            policySource: this.deps.configFile,
            guard: {
              onRetry: (r) => metrics.retries.inc({ dataset: ds.name, replica: r }),
              onRate: (r, rate) => metrics.repairWriteRate.set({ dataset: ds.name, replica: r }, rate ?? -1),
            },
            // Metrics, divergent-key marks and times to convergence, as for a pass's groups.
            observer: { onSegmentDone: (report, work) => this.deps.segmentDone(report, work) },
          },
          observer: {
            onStart: ({ cursor, last }) => {
              view = { ...view, from: cursor, cursor, last };
              this.view = view;
            },
            onGap: ({ message: line }) => this.deps.log(line),
            onBatch: (b) => {
              view = { ...view, cursor: b.to, batches: view.batches + 1, changes: view.changes + b.changes };
              this.view = view;
            },
          },
        },
      );
      const repaired = Object.values(result.totals.repairs).reduce((a, n) => a + n, 0);
      this.view = { ...view, state: "finished", cursor: result.to, finishedAt: now() };
      this.deps.log(
        `${ds.name}: replayed onto ${replica}: cursor ${result.from} → ${result.to} (log ends at ${result.last}), ${result.changes} changes in ${result.batches} batches${result.gap ? ", a full pass instead" : ""}; ${repaired} repairs`,
      );
      await this.deps.anchor?.();
      return result;
    } catch (err) {
      this.view = { ...view, state: "failed", finishedAt: now(), error: message(err) };
      this.deps.log(`${ds.name}: replay onto ${replica} stopped: ${message(err)}`);
      await this.deps.anchor?.();
      throw err;
    }
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}
