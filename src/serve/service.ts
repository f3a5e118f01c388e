/** `concord serve`'s core: a runner per dataset, metrics, and the read models the HTTP API serves. */

import { resolve } from "node:path";
import { type AuditVerification as Verdict, verifyAudit as verifyAuditOf } from "../audit/verify-audit.js";
import { writeAuditAnchor } from "../audit/write-audit-anchor.js";
import type { ConcordConfig } from "../config/load-config.js";
import { openConnector } from "../connectors/open-connector.js";
import type { HealthSnapshot } from "../core/alert-condition.js";
import type { AuditEntry } from "../core/audit-chain.js";
import { diffLines } from "../core/line-diff.js";
import { readAuditByKey } from "../engine/audit-by-key.js";
import {
  escalationView,
  groupFilter,
  groupView,
  keyJsonOf,
  observeEscalations,
} from "../engine/escalation-view.js";
import { foldKeyRunRecords } from "../engine/fold-key-run.js";
import { readInsights } from "../engine/read-insights.js";
import { replaySummary } from "../engine/replay-dataset.js";
import {
  previewMatching,
  type Resolution,
  ResolveError,
  type ResolveOutcome,
  resolveEscalation,
  resolveMatching,
} from "../engine/resolve-escalation.js";
import type { OpenReplica } from "../engine/run-context.js";
import { newRunId } from "../engine/run-id.js";
import { processOwner } from "../engine/run-liveness.js";
import type { SegmentDispatch, SegmentFailure } from "../engine/segment-dispatch.js";
import { viewSegmentTrees } from "../engine/segment-trees.js";
import type { DatasetInsights } from "../learning/dataset-insights.js";
import { reliability } from "../learning/evidence.js";
import { EVIDENCE_HOURLY_MS } from "../state/evidence-store.js";
import { openStateStore } from "../state/open-state-store.js";
import type { EscalationFilter, RunRecord, Sample, StateStore } from "../state/state-store.js";
import { Alerter } from "./alerts.js";
import { ConsistencyHints, hintKey } from "./consistency-hints.js";
import { DatasetRunner } from "./dataset-runner.js";
import { DatasetWatcher } from "./dataset-watcher.js";
import { type ReliabilityReading, ServeMetrics } from "./metrics.js";
import { planReload, ReloadError } from "./reload-config.js";
import {
  type AuditVerification,
  type BulkAnswer,
  type DatasetStatus,
  type DivergenceView,
  type EscalationQuery,
  type EscalationView,
  type History,
  type PolicyView,
  type QueueDepth,
  type QueueStatus,
  type QueueView,
  type ReloadOutcome,
  type ServiceApi,
  TriggerError,
} from "./service-api.js";

export interface ServiceOptions {
  readonly now?: () => number;
  /** Where the service's one-line log goes (default: stderr with a timestamp). */
  readonly log?: (line: string) => void;
  /** An already open state store (default: the config's). The service closes only a store it opened. */
  readonly state?: StateStore;
  /** This service as the owner of the passes it runs (default: `host:pid:random`). */
  readonly owner?: string;
  /** Reads the config file again (`reload`); without it the service cannot be reloaded. Throws ConfigError. */
  readonly loadConfig?: () => ConcordConfig;
  /** Told the new config after a reload was applied (the HTTP layer takes the new tokens). */
  readonly onReload?: (config: ConcordConfig) => void;
  /**
   * A coordinator's job queue: passes run their segments on worker processes, and the queue's depth is
   * watched (`/metrics`, `/api/queue`).
   */
  readonly queue?: (SegmentDispatch & QueueView) | undefined;
}

export interface Service {
  readonly api: ServiceApi;
  /** The config in force (the reloaded one after a reload). */
  readonly config: ConcordConfig;
  readonly metrics: ServeMetrics;
  readonly state: StateStore;
  /** Starts every dataset's schedule and probe; unfinished passes resume at once. */
  start(): Promise<void>;
  /**
   * A coordinator that lost its lease: stops scheduling (the passes in flight stop after their step and keep
   * their checkpoints; another leader resumes them) and keeps serving the read APIs; `start` again when it
   * leads again. Triggers are refused meanwhile (503, `standby`).
   */
  standby(): Promise<void>;
  /** Finishes the write batches in flight, checkpoints, closes replicas and the state store. */
  stop(): Promise<void>;
  /** Resolves when no pass is running (tests). */
  idle(): Promise<void>;
  /**
   * A coordinator's queue reports a failed attempt of a segment job: counted by dataset and worker
   * (`concord_segment_failures_total`), logged, and kept among the latest shown by `/api/queue`.
   */
  segmentFailed(failure: SegmentFailure): void;
  runner(dataset: string): DatasetRunner;
}

/** Failed segment attempts `/api/queue` shows. */
const MAX_FAILURES_KEPT = 50;

function percentile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function ratio(n: number, d: number): number | null {
  return d > 0 ? n / d : null;
}

const HISTORY_RUNS = 500;
const ALERT_EVERY_MS = 15_000;
const AUDIT_VERIFY_EVERY_MS = 5 * 60_000;
const PRUNE_EVERY_MS = 60 * 60_000;
const HISTORY_SAMPLES = 5000;
const QUEUE_WATCH_MS = 5000;

export async function createService(initial: ConcordConfig, options: ServiceOptions = {}): Promise<Service> {
  // Replaced by a reload (planReload says what may change); everything reads the current one.
  let config = initial;
  const now = options.now ?? Date.now;
  const log =
    options.log ?? ((line: string) => process.stderr.write(`${new Date(now()).toISOString()} ${line}\n`));
  const state = options.state ?? (await openStateStore(config.state, config.timeouts));
  const ownsState = !options.state;
  const metrics = new ServeMetrics(
    async () => {
      return openByDataset();
    },
    async () => {
      const out: ReliabilityReading[] = [];
      for (const ds of config.datasets)
        for (const e of await state.replicaEvidence(ds.name))
          if (e.column === undefined && e.settled > 0)
            out.push({ dataset: ds.name, replica: e.replica, ...reliability(e.settled, e.lost) });
      return out;
    },
  );
  /** Open escalations per configured dataset (0 when none), counted by the store. */
  async function openByDataset(): Promise<Record<string, number>> {
    const open: Record<string, number> = Object.fromEntries(config.datasets.map((d) => [d.name, 0]));
    for (const g of await state.groupEscalations({ status: "open" }))
      open[g.dataset] = (open[g.dataset] ?? 0) + g.count;
    return open;
  }
  metrics.declare(
    config.datasets.map((d) => ({
      name: d.name,
      replicas: d.replicas.map((r) => r.name),
      watched: d.watch?.replicas,
    })),
  );
  const startedAt = now();
  let stopped = false;
  let auditOk: boolean | undefined;
  const alerter = new Alerter(config.alerts, {
    now,
    log,
    record: async (events) => {
      await state.appendAudit(
        events.map((e) => ({
          ts: now(),
          runId: "serve",
          type: e.type,
          dataset: e.dataset,
          key: null,
          data: e.data,
        })),
      );
    },
  });
  // Alerts are evaluated after every pass and probe, and on a timer; one evaluation at a time.
  let evaluating: Promise<void> = Promise.resolve();
  const evaluateAlerts = (): Promise<void> => {
    if (!config.alerts.length || stopped) return evaluating;
    evaluating = evaluating
      .then(async () => alerter.evaluate(await snapshot()))
      .catch((err) => log(`alerts: ${err instanceof Error ? err.message : String(err)}`));
    return evaluating;
  };
  const owner = options.owner ?? processOwner();
  // One anchor at a time: passes of several datasets may finish together.
  let anchoring: Promise<void> = Promise.resolve();
  const anchorAudit = (): Promise<void> => {
    anchoring = anchoring
      .then(() => writeAuditAnchor(state, config.audit, now()))
      .then(
        () => {},
        (err) => log(`audit anchor: ${err instanceof Error ? err.message : String(err)}`),
      );
    return anchoring;
  };
  const hints = new ConsistencyHints(config, state, now);
  const runners = new Map(
    config.datasets.map((ds) => [
      ds.name,
      new DatasetRunner(ds, {
        state,
        metrics,
        serve: config.serve,
        now,
        log,
        onChange: () => {
          void evaluateAlerts();
          hints.poke(ds.name);
        },
        onPassEnd: () => hints.noteRun(ds.name),
        anchor: () => anchorAudit(),
        owner,
        configFile: resolve(config.path),
        dispatch: options.queue,
      }),
    ]),
  );
  // Change feeds of the datasets with `watch:`: targeted checks beside the scheduled passes.
  const watchers = config.datasets
    .filter((ds) => ds.watch)
    .map(
      (ds) =>
        new DatasetWatcher(ds, {
          state,
          metrics,
          now,
          log,
          onChange: () => void evaluateAlerts(),
          anchor: () => anchorAudit(),
          hints,
          dispatch: options.queue,
          // A replica behind the owner's log, reachable again: replayed here, serialised with the passes.
          catchUp: (replica, batch) => runners.get(ds.name)!.replay(replica, "serve", { batch }),
        }),
    );
  const snapshot = async (): Promise<HealthSnapshot> => {
    const open = await openByDataset();
    return {
      at: now(),
      auditOk,
      datasets: [...runners.values()].map((r) => ({
        name: r.ds.name,
        lagSeconds: Object.fromEntries(
          Object.entries(r.lag).map(([replica, lag]) => [
            replica,
            lag === null ? Number.POSITIVE_INFINITY : lag,
          ]),
        ),
        openEscalations: open[r.ds.name] ?? 0,
        replicasDown: r.replicasDown(),
        lastRunFailedRepairs: r.lastFailed,
        canaryRolledBack: r.canaryRolledBack(),
        slotReleases: watchers.find((w) => w.ds.name === r.ds.name)?.slotReleases,
        passError: r.passError,
      })),
    };
  };
  const verifyAudit = async (): Promise<AuditVerification> => {
    const v = await verifyAuditOf(state, config.audit);
    auditOk = v.ok;
    return auditView(v);
  };
  let timers: NodeJS.Timeout[] = [];
  // A coordinator schedules and triggers passes only while it leads (between start and standby).
  let leading = false;
  const failures: (SegmentFailure & { at: number })[] = [];

  const runnerOf = (dataset: string): DatasetRunner => {
    const r = runners.get(dataset);
    if (!r) throw new TriggerError("unknown-dataset", `no dataset named ${dataset}`);
    return r;
  };

  /** The dataset's last finished pass (or command run), its key run folded in. */
  const lastFinished = async (dataset: string): Promise<RunRecord | undefined> =>
    foldKeyRunRecords(await state.listRuns({ dataset, limit: 20 })).find(
      (r) => r.finishedAt !== undefined && r.status !== "failed",
    );

  /**
   * The last finished pass of each dataset a divergence query names (every dataset, in config order, when it
   * names none). A dataset the config does not declare is a 404 (as every dataset route answers), not an
   * empty list.
   */
  const lastPasses = async (q: {
    dataset?: string | undefined;
  }): Promise<{ name: string; runId: string }[]> => {
    if (q.dataset) runnerOf(q.dataset);
    const out: { name: string; runId: string }[] = [];
    for (const name of q.dataset ? [q.dataset] : [...runners.keys()]) {
      const last = await lastFinished(name);
      if (last) out.push({ name, runId: last.id });
    }
    return out;
  };

  /**
   * Throws the 404 of an unknown dataset when `dataset` is neither the config's nor one the state store still
   * holds records of (`held`: a dataset since removed from the config keeps its runs and queue), as the CLI's
   * -d answers: a misspelt name would read as "nothing there".
   */
  const knownDataset = async (dataset: string | undefined, held: () => Promise<boolean>): Promise<void> => {
    if (dataset === undefined || runners.has(dataset) || (await held())) return;
    throw new TriggerError(
      "unknown-dataset",
      `no dataset named ${dataset} in the config, nor records of one`,
    );
  };

  /** knownDataset for the routes listing runs: records held are runs of that dataset. */
  const knownRunsDataset = (dataset: string | undefined): Promise<void> =>
    knownDataset(dataset, async () => (await state.listRuns({ dataset, limit: 1 })).length > 0);

  /** The store filter of a query; null when its group has no escalation (so nothing matches). */
  const storeFilter = async (q: EscalationQuery): Promise<EscalationFilter | null> => {
    await knownDataset(q.dataset, async () => (await state.countEscalations({ dataset: q.dataset })) > 0);
    const { group, ...rest } = q;
    if (group === undefined) return rest;
    const found = await groupFilter(state, group, q.status);
    if (!found || (q.dataset !== undefined && q.dataset !== found.dataset)) return null;
    return { ...rest, ...found };
  };

  /**
   * Runs `work` with replicas opened for it alone (read-write when `write`), closed afterwards: a pass in
   * flight keeps its own connections.
   */
  const withReplicas = async <T>(
    write: boolean,
    work: (
      replicas: (ds: ConcordConfig["datasets"][number]) => Promise<readonly OpenReplica[]>,
    ) => Promise<T>,
  ): Promise<T> => {
    const opened = new Map<string, OpenReplica[]>();
    const all: { close(): Promise<void> }[] = [];
    try {
      return await work(async (ds) => {
        const hit = opened.get(ds.name);
        if (hit) return hit;
        const out: OpenReplica[] = [];
        for (const r of ds.replicas) {
          const connector = await openConnector(ds.name, r, { readonly: !write });
          all.push(connector);
          out.push({ name: r.name, connector });
        }
        opened.set(ds.name, out);
        return out;
      });
    } finally {
      await Promise.allSettled(all.map((c) => c.close()));
    }
  };

  const resolveDeps = (by: string) => ({
    // As the runners run them: a promoted candidate, or a held reload's running policy.
    datasets: [...runners.values()].map((r) => r.ds),
    state,
    runId: newRunId(new Date(now())),
    by,
    now,
    warn: (warning: string) => log(`warning: ${warning}`),
  });

  const api: ServiceApi = {
    hint: (dataset) => hints.hint(dataset),
    keyHint: async (dataset, key) =>
      hints.keyHint(dataset, hintKey(key, await runners.get(dataset)?.keyColumnsNow())),
    subscribeHints: (dataset, listener) => hints.subscribe(dataset, listener),
    health: () => ({ ok: !stopped, startedAt, datasets: runners.size }),

    async datasets(): Promise<DatasetStatus[]> {
      const open = await openByDataset();
      const out: DatasetStatus[] = [];
      for (const [name, runner] of runners)
        out.push({
          ...runner.status(await lastFinished(name), open[name] ?? 0),
          segmentTrees: await viewSegmentTrees(state, name),
        });
      return out;
    },

    async runs(filter) {
      await knownRunsDataset(filter.dataset);
      return state.listRuns(filter);
    },
    run: (id) => state.getRun(id),

    async divergences(filter): Promise<DivergenceView[]> {
      const out: DivergenceView[] = [];
      let skip = filter.offset ?? 0;
      const limit = filter.limit ?? Number.POSITIVE_INFINITY;
      for (const { name, runId } of await lastPasses(filter)) {
        if (out.length >= limit) break;
        const where = { dataset: name, class: filter.class };
        // A page wholly inside an earlier dataset's pass: skip that pass by its count, not by reading it.
        if (skip > 0) {
          const n = await state.countDivergences(runId, where);
          if (skip >= n) {
            skip -= n;
            continue;
          }
        }
        const page = await state.listDivergences(runId, {
          ...where,
          offset: skip,
          ...(Number.isFinite(limit) ? { limit: limit - out.length } : {}),
        });
        skip = 0;
        for (const d of page)
          out.push({
            dataset: name,
            runId,
            key: keyJsonOf(d.key, d.detail),
            class: d.class,
            detail: d.detail,
          });
      }
      return out;
    },

    async countDivergences(filter): Promise<number> {
      let n = 0;
      for (const { name, runId } of await lastPasses(filter))
        n += await state.countDivergences(runId, { dataset: name, class: filter.class });
      return n;
    },

    async escalations(query): Promise<EscalationView[]> {
      const filter = await storeFilter(query);
      if (!filter) return [];
      const list = await state.listEscalations({ ...filter, limit: query.limit, offset: query.offset });
      return list.map(escalationView);
    },

    async countEscalations(query): Promise<number> {
      const filter = await storeFilter(query);
      return filter ? state.countEscalations(filter) : 0;
    },

    async escalationGroups(query) {
      const filter = await storeFilter(query);
      return filter ? (await state.groupEscalations(filter)).map(groupView) : [];
    },

    async escalation(id) {
      const e = await state.getEscalation(id);
      if (!e) throw new ResolveError("not-found", `no escalation with id ${id}`);
      return escalationView(e);
    },

    async escalationValues(id) {
      const e = await state.getEscalation(id);
      if (!e) throw new ResolveError("not-found", `no escalation with id ${id}`);
      if (!e.key.length)
        throw new ResolveError(
          "bad-choice",
          `escalation ${id} concerns the whole dataset: it has no key to read`,
        );
      if (!config.datasets.some((d) => d.name === e.dataset))
        throw new ResolveError(
          "unknown-dataset",
          `escalation ${id} belongs to dataset ${e.dataset}, which the config no longer declares`,
        );
      const values = await withReplicas(false, (replicas) =>
        observeEscalations([e], { datasets: config.datasets, replicas, now }),
      );
      return values.get(id)!;
    },

    async resolve(id: string, choice: Resolution, by = "api"): Promise<ResolveOutcome> {
      try {
        return await withReplicas(true, (replicas) =>
          resolveEscalation(id, choice, { ...resolveDeps(by), replicas }),
        );
      } finally {
        await anchorAudit();
      }
    },

    async resolveMatching(query, choice, confirm, by = "api"): Promise<BulkAnswer> {
      // A pick no dataset has a replica of is a typo: refused (400) before a preview offers to confirm it.
      if ("pick" in choice) {
        const names = [...new Set(config.datasets.flatMap((d) => d.replicas.map((r) => r.name)))];
        if (!names.includes(choice.pick))
          throw new ResolveError(
            "bad-choice",
            `pick ${choice.pick}: no replica named "${choice.pick}" in the config (have: ${names.join(", ")})`,
          );
      }
      // An unknown group matches nothing: no dataset has an empty name.
      const filter = (await storeFilter(query)) ?? { dataset: "" };
      if (!confirm) return { confirmed: false, preview: await previewMatching(state, filter, choice) };
      const open: { id: string; note?: string }[] = [];
      try {
        const summary = await withReplicas(true, (replicas) =>
          resolveMatching(
            filter,
            choice,
            { ...resolveDeps(by), replicas },
            {
              confirm,
              onOutcome: (o) => {
                if (o.status === "open" && open.length < 1000)
                  open.push({ id: o.id, ...(o.note ? { note: o.note } : {}) });
              },
            },
          ),
        );
        return { confirmed: true, summary, open };
      } finally {
        await anchorAudit();
      }
    },

    audit: (filter) => {
      // The latest entries, as an operator watching the trail wants them.
      const read = { ...(filter.run ? { runId: filter.run } : {}), limit: filter.limit ?? 200, newest: true };
      // A key is read by each dataset's key column types, as `audit show --key` reads it (`07` is key 7).
      return (
        filter.key
          ? readAuditByKey(state, config.datasets, JSON.parse(filter.key) as (string | null)[], read, true)
          : state.readAudit(read)
      ) as Promise<AuditEntry[]>;
    },

    async verifyAudit(): Promise<AuditVerification> {
      return auditView(await verifyAuditOf(state, config.audit));
    },

    segments: (id) => state.listSegments(id),

    async control(dataset, action) {
      return runnerOf(dataset).control(action);
    },

    async trigger(dataset, mode, by) {
      if (stopped) throw new TriggerError("stopping", "the service is stopping");
      if (options.queue && !leading)
        throw new TriggerError(
          "standby",
          "this coordinator is on standby: the leading coordinator runs passes",
        );
      const runId = await runnerOf(dataset).trigger(mode);
      // Who started it, before anything the pass records (it awaits the state store after this).
      if (by !== undefined)
        await state.appendAudit([
          { ts: now(), runId, type: "triggered", dataset, key: null, data: { by, mode } },
        ]);
      return { runId };
    },

    async replay(dataset, replica, by) {
      if (stopped) throw new TriggerError("stopping", "the service is stopping");
      if (options.queue && !leading)
        throw new TriggerError(
          "standby",
          "this coordinator is on standby: the leading coordinator runs replays",
        );
      const runner = runnerOf(dataset);
      const { policy, replicas } = runner.ds;
      if (policy.resolve !== "replay")
        throw new TriggerError(
          "not-replay",
          `dataset ${dataset}: policy.resolve is not replay (replay copies the changes policy.owner's feed logged)`,
        );
      if (!replicas.some((r) => r.name === replica))
        throw new TriggerError("bad-replica", `replica: ${replica} is not a replica of ${dataset}`);
      if (replica === policy.owner)
        throw new TriggerError(
          "bad-replica",
          `replica: ${replica} is ${dataset}'s owner, whose changes are replayed`,
        );
      return replaySummary(await runner.replay(replica, by ?? "api"));
    },

    async history(filter): Promise<History> {
      await knownRunsDataset(filter.dataset);
      const since = filter.since ?? 0;
      const names = filter.dataset ? [filter.dataset] : [...runners.keys()];
      const runs: History["runs"][number][] = [];
      let converged = 0;
      let escalated = 0;
      for (const name of names) {
        for (const r of foldKeyRunRecords(await state.listRuns({ dataset: name, limit: HISTORY_RUNS }))) {
          if (r.finishedAt === undefined || r.status === "failed" || r.startedAt < since) continue;
          // Serve's own passes only: a CLI scan or plan of the same data is not a pass of the service.
          if (!r.command.startsWith("serve ")) continue;
          const repairs: Record<string, number> = {};
          for (const [k, n] of Object.entries(r.stats))
            if (k.startsWith("repairs.")) repairs[k.slice("repairs.".length)] = n;
          runs.push({
            runId: r.id,
            command: r.command,
            dataset: name,
            at: r.finishedAt,
            durationMs: r.finishedAt - r.startedAt,
            counts: r.counts,
            repairs,
          });
          if (r.status === "ok") converged++;
          escalated += r.stats.escalated ?? 0;
        }
      }
      runs.sort((a, b) => a.at - b.at);
      const samples = async (series: string): Promise<Sample[]> => {
        if (filter.dataset)
          return state.listSamples({ dataset: filter.dataset, series, since, limit: HISTORY_SAMPLES });
        return state.listSamples({ series, since, limit: HISTORY_SAMPLES });
      };
      const [lag, ttc, anomalies] = await Promise.all([samples("lag"), samples("ttc"), samples("anomaly")]);
      const ttcSorted = ttc.map((s) => s.value ?? 0).sort((a, b) => a - b);
      let ok = 0;
      let attempted = 0;
      let divergent = 0;
      for (const r of runs) {
        ok += (r.repairs.applied ?? 0) + (r.repairs.noop ?? 0);
        attempted += Object.values(r.repairs).reduce((n, v) => n + v, 0);
        for (const [cls, n] of Object.entries(r.counts))
          if (cls !== "tolerated" && cls !== "in-flight") divergent += n;
      }
      return {
        runs,
        lag,
        ttc,
        anomalies,
        summary: {
          passes: runs.length,
          convergenceRate: ratio(converged, runs.length),
          ttc: {
            p50: percentile(ttcSorted, 0.5),
            p90: percentile(ttcSorted, 0.9),
            p99: percentile(ttcSorted, 0.99),
          },
          repairSuccessRate: ratio(ok, attempted),
          escalationRate: ratio(escalated, divergent),
        },
      };
    },

    metrics: () => metrics.text(),

    candidate: async (dataset) => (await runnerOf(dataset).shadow()) ?? null,
    approveCandidate: (dataset, by) => runnerOf(dataset).approve(by),
    approval: async (dataset) => runnerOf(dataset).approvalView() ?? null,
    promoteCandidate: (dataset, by) => runnerOf(dataset).promote(by),
    approvePolicy: (dataset, by) => runnerOf(dataset).approvePolicy(by),

    async insights(dataset?: string): Promise<DatasetInsights[]> {
      const list =
        dataset === undefined ? config.datasets : config.datasets.filter((d) => d.name === dataset);
      if (dataset !== undefined && !list.length)
        throw new TriggerError("unknown-dataset", `no dataset named ${dataset}`);
      const at = now();
      const out: DatasetInsights[] = [];
      for (const ds of list) out.push(await readInsights(state, ds, at));
      return out;
    },
    async policies(): Promise<PolicyView[]> {
      const out: PolicyView[] = [];
      for (const ds of config.datasets) {
        const current = await state.currentPolicy(ds.name);
        const versions = await state.listPolicies(ds.name);
        out.push({
          dataset: ds.name,
          current: current?.policy.version ?? null,
          adoptedAt: current?.adoptedAt ?? null,
          previous: current?.previous?.version ?? null,
          versions: versions.map((v) => ({
            version: v.version,
            firstUsedAt: v.firstUsedAt,
            firstUsedBy: v.firstUsedBy,
            firstRunId: v.firstRunId,
            source: v.source,
          })),
          text: current?.policy.text ?? null,
          diff: current?.previous
            ? diffLines(current.previous.text, current.policy.text).map((l) => `${l.op} ${l.text}`)
            : [],
          candidate: (await runnerOf(ds.name).shadow()) ?? null,
          approval: runnerOf(ds.name).approvalView() ?? null,
        });
      }
      return out;
    },

    reload: (by: string): Promise<ReloadOutcome> => {
      const run = reloading.then(() => reload(by));
      reloading = run.catch(() => {});
      return run;
    },
    ...(options.queue
      ? {
          async queue(): Promise<QueueStatus> {
            const depths = await watchQueue();
            const done = await metrics.workerSegments.get();
            return {
              datasets: depths,
              workers: done.values.map((v) => ({
                worker: String(v.labels.worker),
                dataset: String(v.labels.dataset),
                segments: v.value,
              })),
              failures: [...failures],
            };
          },
        }
      : {}),
  };

  // One reload at a time.
  let reloading: Promise<unknown> = Promise.resolve();
  async function reload(by: string): Promise<ReloadOutcome> {
    if (!options.loadConfig) throw new ReloadError("reload: this service was not started from a config file");
    let next: ConcordConfig;
    try {
      next = options.loadConfig();
    } catch (err) {
      throw new ReloadError(
        `reload refused, the running config is kept: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const plan = planReload(config, next);
    config = next;
    for (const ds of next.datasets)
      await runnerOf(ds.name).reconfigure(ds, plan.datasets[ds.name]?.includes("policy") ? by : undefined);
    await state.appendAudit([
      {
        ts: now(),
        runId: "serve",
        type: "config-reloaded",
        dataset: null,
        key: null,
        data: { by, file: resolve(next.path), datasets: plan.datasets, tokens: plan.tokens },
      },
    ]);
    await anchorAudit();
    options.onReload?.(next);
    const changed = Object.entries(plan.datasets).map(([n, fields]) => `${n} (${fields.join(", ")})`);
    log(
      `config reloaded by ${by}: ${changed.length || plan.tokens ? [...changed, ...(plan.tokens ? ["API tokens"] : [])].join(", ") : "nothing changed"}`,
    );
    return { reloaded: true, datasets: plan.datasets, tokens: plan.tokens };
  }

  /** Reads each dataset's queue depth into the gauges, and returns it. */
  async function watchQueue(): Promise<QueueDepth[]> {
    if (!options.queue) return [];
    const depths = await options.queue.depths(
      config.datasets.map((d) => d.name),
      now(),
    );
    for (const d of depths) {
      for (const st of ["waiting", "active", "delayed", "failed", "completed"] as const)
        metrics.queueJobs.set({ dataset: d.dataset, state: st }, d[st]);
      metrics.queueOldestWaiting.set({ dataset: d.dataset }, d.oldestWaitingMs / 1000);
    }
    return depths;
  }

  return {
    api,
    get config() {
      return config;
    },
    metrics,
    state,
    async start() {
      leading = true;
      if (config.alerts.length) {
        await verifyAudit().catch((err) => log(`audit verification failed to run: ${String(err)}`));
        timers = [
          setInterval(() => void evaluateAlerts(), ALERT_EVERY_MS),
          setInterval(
            () => void verifyAudit().then(evaluateAlerts, (err) => log(`audit verification: ${String(err)}`)),
            AUDIT_VERIFY_EVERY_MS,
          ),
        ];
        for (const t of timers) t.unref();
      }
      const prune = () => {
        const before = now() - config.serve.retentionMs;
        void state.pruneSamples(before).then(
          (n) => n && log(`pruned ${n} samples older than the retention`),
          (err) => log(`pruning samples: ${err instanceof Error ? err.message : String(err)}`),
        );
        void state.pruneSegments(before).then(
          (n) => n && log(`pruned ${n} run segments older than the retention`),
          (err) => log(`pruning run segments: ${err instanceof Error ? err.message : String(err)}`),
        );
        // Evidence: hours past the horizon become days, days past the retention go (bounded size).
        void state
          .rollUpEvidence(now() - EVIDENCE_HOURLY_MS)
          .then(() => state.pruneEvidence(before))
          .then(
            (n) => n && log(`pruned ${n} evidence cells older than the retention`),
            (err) => log(`rolling up evidence: ${err instanceof Error ? err.message : String(err)}`),
          );
      };
      prune();
      const pruning = setInterval(prune, PRUNE_EVERY_MS);
      pruning.unref();
      timers.push(pruning);
      if (options.queue) {
        const watching = setInterval(
          () =>
            void watchQueue().catch((err) =>
              log(`queue: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`),
            ),
          QUEUE_WATCH_MS,
        );
        watching.unref();
        timers.push(watching);
      }
      // Each dataset's last agreeing pass is read once here, so a key's hint never reads the runs.
      await hints.load();
      for (const r of runners.values()) await r.start();
      for (const w of watchers) w.start();
      log(
        `serving ${runners.size} dataset${runners.size === 1 ? "" : "s"}: ${[...runners.keys()].join(", ")}`,
      );
    },
    async standby() {
      leading = false;
      for (const t of timers.splice(0)) clearInterval(t);
      await Promise.all([...runners.values()].map((r) => r.stop()));
      await Promise.all(watchers.map((w) => w.stop()));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      await Promise.all([...runners.values()].map((r) => r.stop()));
      await Promise.all(watchers.map((w) => w.stop()));
      hints.close();
      await evaluating;
      await alerter.flush();
      await alerter.close();
      if (ownsState) await state.close();
    },
    async idle() {
      for (const r of runners.values()) await r.idle();
    },
    segmentFailed(f) {
      metrics.segmentFailures.inc({ dataset: f.dataset, worker: f.worker ?? "unknown" });
      failures.push({ ...f, at: now() });
      if (failures.length > MAX_FAILURES_KEPT) failures.shift();
      log(
        `${f.dataset}: segment ${f.index === undefined ? "?" : f.index + 1} of pass ${f.runId} failed on ${f.worker ?? "a worker"} (attempt ${f.attempt}${f.final ? ", the last" : ""}): ${f.error}`,
      );
    },
    runner: (dataset) => runnerOf(dataset),
  };
}

/** The API's view of a verification: the first bad entry of a broken chain, or the problem found. */
function auditView(v: Verdict): AuditVerification {
  if (v.ok) return { ok: true, count: v.count };
  if ("seq" in v) return { ok: false, count: v.seq - 1, firstBad: { seq: v.seq, reason: v.problem } };
  return { ok: false, count: v.count, problem: v.problem };
}
