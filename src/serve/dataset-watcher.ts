/** `serve`'s change-feed side of a dataset with `watch:`: runs the engine's watchDataset and reports it (log, metrics, alerts). */
import type { DatasetConfig } from "../config/load-config.js";
import type { Connector } from "../connectors/connector.js";
import { openChangeFeed } from "../connectors/open-change-feed.js";
import { openConnector } from "../connectors/open-connector.js";
import { keyId } from "../core/model.js";
import { ReplayError, type ReplayResult } from "../engine/replay-dataset.js";
import type { OpenReplica } from "../engine/run-context.js";
import { newRunId } from "../engine/run-id.js";
import type { SegmentDispatch } from "../engine/segment-dispatch.js";
import { feedOptions, type WatchCheck, watchDataset } from "../engine/watch-dataset.js";
import type { WatchRecheck } from "../engine/watch-rechecks.js";
import type { StateStore } from "../state/state-store.js";
import type { ConsistencyHints } from "./consistency-hints.js";
import type { ServeMetrics } from "./metrics.js";
import { recordSegment } from "./segment-marks.js";
import { TriggerError } from "./service-api.js";

export interface DatasetWatcherDeps {
  readonly state: StateStore;
  readonly metrics: ServeMetrics;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** Something an alert may look at changed (a check repaired or escalated). */
  readonly onChange: () => void;
  /** Sign the audit log's head (after checks that appended to it). */
  readonly anchor: () => Promise<void>;
  /** Told what each check verified and how long it took. */
  readonly hints: ConsistencyHints;
  /** A coordinator's queue: batches of keys are checked by workers as key jobs. */
  readonly dispatch?: SegmentDispatch | undefined;
  /**
   * Replays the owner's change log onto `replica`, `batch` logged changes at a time (the runner's replay:
   * serialised with the dataset's passes; TriggerError "busy" while one runs).
   */
  readonly catchUp?: ((replica: string, batch: number) => Promise<ReplayResult>) | undefined;
}

/** The first wait before a replica whose catch-up failed, or stopped short, is caught up again; doubling. */
const CATCH_UP_RETRY_MS = 5000;
const CATCH_UP_MAX_RETRY_MS = 5 * 60_000;

/**
 * Watches one dataset's change feeds for as long as the service runs, on replicas of its own (so a check
 * never waits on a pass's connections). A feed that cannot start (a setting, a grant) is logged once, in one
 * line naming it, and the dataset goes on with its scheduled passes alone.
 */
export class DatasetWatcher {
  private stopping = new AbortController();
  private running: Promise<void> | undefined;
  private readonly opened: Connector[] = [];
  /** Keys (`keyId`) of the check in flight found divergent and not verified converged. */
  private unsettled = new Set<string>();
  /** The catch-up in flight (one at a time), and per replica when one may be tried again after a failure. */
  private catching: Promise<void> | undefined;
  private readonly retryAt = new Map<string, { at: number; ms: number }>();
  /** Per watched replica, when its feed's slot was last released for lagging (the `slot-released` alert). */
  readonly slotReleases: Record<string, number> = {};

  constructor(
    readonly ds: DatasetConfig,
    private readonly deps: DatasetWatcherDeps,
  ) {}

  /** Starts watching (again, after a stop: a coordinator back from standby). */
  start(): void {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.running ??= this.run().catch((err: unknown) => {
      this.deps.log(
        `${this.ds.name}: change feeds stopped: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
  }

  /** Stops after the check in flight and closes the watcher's replicas. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
    await this.catching;
    this.running = undefined;
    await Promise.allSettled(this.opened.splice(0).map((c) => c.close()));
  }

  private async run(): Promise<void> {
    const { ds, deps } = this;
    const replicas: OpenReplica[] = [];
    for (const r of ds.replicas) {
      const connector = await openConnector(ds.name, r, { readonly: ds.mode === "scan" });
      this.opened.push(connector);
      replicas.push({ name: r.name, connector });
    }
    await watchDataset(
      ds,
      replicas,
      ds.watch!.replicas.map((replica) => ({
        replica,
        open: () => openChangeFeed(ds.replicas.find((x) => x.name === replica)!, feedOptions(ds, replica)),
      })),
      { state: deps.state, now: deps.now },
      {
        signal: this.stopping.signal,
        newRunId: () => newRunId(new Date(deps.now())),
        run: {
          guard: {
            onRetry: (replica) => deps.metrics.retries.inc({ dataset: ds.name, replica }),
            onRate: (replica, rate) =>
              deps.metrics.repairWriteRate.set({ dataset: ds.name, replica }, rate ?? -1),
          },
        },
        ...(deps.dispatch ? { dispatch: deps.dispatch } : {}),
        runObserver: {
          onSegment: async (segment) => {
            for (const d of segment.scan.divergences) if (d.key.length) this.unsettled.add(keyId(d.key));
            for (const k of await recordSegment(ds.name, deps, segment)) this.unsettled.delete(k);
          },
          // A key job run on a worker: the worker marked its keys; here its figures are counted.
          onSegmentDone: (report, work) => {
            if (work) return;
            for (const k of report.unsettled ?? []) this.unsettled.add(k);
            const { metrics } = deps;
            const dataset = ds.name;
            if (report.worker) metrics.workerSegments.inc({ dataset, worker: report.worker });
            for (const [replica, { rows }] of Object.entries(report.totals.replicas))
              metrics.scanRows.inc({ dataset, replica }, rows);
            for (const [cls, n] of Object.entries(report.opened))
              metrics.escalations.inc({ dataset, class: cls }, n);
            for (const [replica, outcomes] of Object.entries(report.repairs))
              for (const [outcome, n] of Object.entries(outcomes))
                metrics.repairs.inc({ dataset, replica, outcome }, n);
            for (const seconds of report.ttcSeconds ?? [])
              metrics.timeToConvergence.observe({ dataset }, seconds);
          },
        },
        observer: {
          onStarted: ({ replica, from }) =>
            deps.log(
              `${ds.name}.${replica}: watching its change feed ${from === undefined ? "from now" : `from ${from}`}`,
            ),
          onChecked: (c) => this.checked(c),
          onGap: ({ replica, released }) => {
            if (!released) return;
            this.slotReleases[replica] = deps.now();
            deps.onChange();
          },
          onRechecked: (r) => this.rechecked(r),
          onRetryOverflow: ({ full, exhausted, bound, attempts }) => {
            const dataset = ds.name;
            if (full) deps.metrics.watchRetryOverflow.inc({ dataset, reason: "full" }, full);
            if (exhausted) deps.metrics.watchRetryOverflow.inc({ dataset, reason: "exhausted" }, exhausted);
            deps.log(
              `${ds.name}: ${full + exhausted} unsettled key${full + exhausted === 1 ? "" : "s"} left to the next scheduled pass (their segments are marked dirty): ${[full ? `${full} over the retry set's bound (watch.retryKeys ${bound})` : "", exhausted ? `${exhausted} still unsettled after ${attempts} checks` : ""].filter(Boolean).join(", ")}`,
            );
          },
          onError: ({ replica, error, retryInMs }) =>
            deps.log(
              `${ds.name}.${replica}: change feed: ${error.message}; starting again in ${Math.round(retryInMs / 1000)} s`,
            ),
        },
      },
    );
  }

  /**
   * Automatic catch-up (`resolve: replay`, repair mode): each replica whose replay cursor is behind the end
   * of the owner's change log is replayed, `batch` changes at a time (the watcher's adapted batch size), one
   * replica after another. Busy (a pass or a replay runs) waits for the next clean check; a failure, or a
   * replay that stopped short of the log's end, waits CATCH_UP_RETRY_MS, doubling.
   */
  private async catchUp(batch: number): Promise<void> {
    const { ds, deps } = this;
    const owner = ds.policy.owner;
    if (!deps.catchUp || ds.mode !== "repair" || ds.policy.resolve !== "replay" || typeof owner !== "string")
      return;
    const head = await deps.state.changeLogHead(ds.name, owner);
    if (head.last === 0) return;
    const cursors = new Map(
      (await deps.state.listReplayCursors(ds.name)).map((c) => [c.replica, c.seq] as const),
    );
    for (const r of ds.replicas) {
      if (r.name === owner || (cursors.get(r.name) ?? 0) >= head.last || this.stopping.signal.aborted)
        continue;
      const retry = this.retryAt.get(r.name);
      if (retry && deps.now() < retry.at) continue;
      deps.log(
        `${ds.name}: ${r.name} is behind the owner's change log (cursor ${cursors.get(r.name) ?? 0}, log ends at ${head.last}); catching it up`,
      );
      let ok = false;
      try {
        const result = await deps.catchUp(r.name, batch);
        ok = result.finished && result.to >= result.last;
      } catch (err) {
        if (err instanceof TriggerError && err.kind === "busy") continue;
        if (!(err instanceof ReplayError) && !(err instanceof TriggerError)) throw err;
      }
      if (ok) this.retryAt.delete(r.name);
      else {
        const ms = retry ? Math.min(retry.ms * 2, CATCH_UP_MAX_RETRY_MS) : CATCH_UP_RETRY_MS;
        this.retryAt.set(r.name, { at: deps.now() + ms, ms });
      }
    }
  }

  /** A re-check of keys earlier checks left unsettled: hints, metrics, a log line. */
  private async rechecked(r: WatchRecheck): Promise<void> {
    const { ds, deps } = this;
    const dataset = ds.name;
    const settled = r.settled.map((k) => keyId(k));
    deps.hints.noteVerified(
      dataset,
      settled.filter((k) => !this.unsettled.has(k)),
      deps.now(),
    );
    deps.hints.poke(dataset);
    deps.metrics.watchRetryKeys.set({ dataset }, r.retrying);
    deps.metrics.watchRechecked.inc({ dataset, outcome: "settled" }, settled.length);
    deps.metrics.watchRechecked.inc({ dataset, outcome: "unsettled" }, r.checked.length - settled.length);
    const t = r.result?.totals;
    const repaired = t?.repairs.applied ?? 0;
    // Its recovery's warnings (settled here, on the coordinator, around a key job's dispatch), as a pass logs them.
    for (const w of r.result?.warnings ?? []) deps.log(`${dataset}: warning: ${w}`);
    deps.log(
      `${dataset}: re-checked ${r.checked.length} unsettled key${r.checked.length === 1 ? "" : "s"}${r.result ? ` (run ${r.result.runId})` : ""}: ${r.error ? `failed: ${r.error.message.split("\n")[0]}` : `${settled.length} settled, ${repaired} repaired`}; ${r.retrying} held for another check`,
    );
    if (t && (repaired > 0 || t.escalated)) {
      await deps.anchor();
      deps.onChange();
    }
  }

  private async checked(c: WatchCheck): Promise<void> {
    const { ds, deps } = this;
    const labels = { dataset: ds.name, replica: c.replica };
    deps.metrics.watchRetryKeys.set({ dataset: ds.name }, c.retrying);
    const at = deps.now();
    deps.hints.noteLag(ds.name, c.durationMs / 1000);
    deps.hints.noteVerified(
      ds.name,
      c.checked.map((k) => keyId(k)).filter((k) => !this.unsettled.has(k)),
      at,
    );
    this.unsettled = new Set();
    deps.hints.poke(ds.name);
    deps.metrics.watchChecks.inc(labels);
    deps.metrics.watchKeys.inc(labels, c.keys);
    deps.metrics.watchBatchLimit.set(labels, c.batchLimit);
    deps.metrics.watchCheckDuration.observe({ dataset: ds.name }, c.durationMs / 1000);
    if (c.gap) {
      // A gap is checked by a whole pass: the hints' last agreeing pass may be this one.
      deps.hints.noteRun(ds.name);
      deps.metrics.watchGaps.inc(labels);

      deps.log(`${ds.name}.${c.replica}: change feed gap (${c.gap}); checked the whole dataset`);
    }
    const t = c.result.totals;
    for (const w of c.result.warnings) deps.log(`${ds.name}: warning: ${w}`);
    // A clean check read every replica: one behind the owner's log is reachable again and is caught up.
    if (c.result.finished && t.remaining === 0 && !this.catching) {
      this.catching = this.catchUp(c.batchLimit)
        .catch((err: unknown) =>
          deps.log(
            `${ds.name}: catch-up: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
          ),
        )
        .finally(() => {
          this.catching = undefined;
        });
    }
    const wrote = Object.values(t.repairs).some((n) => n > 0);
    if (wrote || t.escalated) {
      await deps.anchor();
      deps.onChange();
    }
  }
}
