/** `concord serve`'s core: a runner per dataset, metrics, and the read models the HTTP API serves. */

import { type AuditVerification as Verdict, verifyAudit as verifyAuditOf } from "../audit/verify-audit.js";
import { writeAuditAnchor } from "../audit/write-audit-anchor.js";
import type { ConcordConfig } from "../config/load-config.js";
import { openConnector } from "../connectors/open-connector.js";
import type { HealthSnapshot } from "../core/alert-condition.js";
import type { AuditEntry } from "../core/audit-chain.js";
import { escalationView, keyJsonOf } from "../engine/escalation-view.js";
import { type Resolution, type ResolveOutcome, resolveEscalation } from "../engine/resolve-escalation.js";
import { newRunId } from "../engine/run-id.js";
import { processOwner } from "../engine/run-liveness.js";
import { openStateStore } from "../state/open-state-store.js";
import type { RunRecord, Sample, StateStore } from "../state/state-store.js";
import { Alerter } from "./alerts.js";
import { DatasetRunner } from "./dataset-runner.js";
import { ServeMetrics } from "./metrics.js";
import {
  type AuditVerification,
  type DatasetStatus,
  type DivergenceView,
  type EscalationView,
  type History,
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
}

export interface Service {
  readonly api: ServiceApi;
  readonly metrics: ServeMetrics;
  readonly state: StateStore;
  /** Starts every dataset's schedule and probe; unfinished passes resume at once. */
  start(): Promise<void>;
  /** Finishes the write batches in flight, checkpoints, closes replicas and the state store. */
  stop(): Promise<void>;
  /** Resolves when no pass is running (tests). */
  idle(): Promise<void>;
  runner(dataset: string): DatasetRunner;
}

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

export async function createService(config: ConcordConfig, options: ServiceOptions = {}): Promise<Service> {
  const now = options.now ?? Date.now;
  const log =
    options.log ?? ((line: string) => process.stderr.write(`${new Date(now()).toISOString()} ${line}\n`));
  const state = options.state ?? (await openStateStore(config.state));
  const ownsState = !options.state;
  const metrics = new ServeMetrics(async () => {
    const open: Record<string, number> = Object.fromEntries(config.datasets.map((d) => [d.name, 0]));
    for (const e of await state.listEscalations({ status: "open" }))
      open[e.dataset] = (open[e.dataset] ?? 0) + 1;
    return open;
  });
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
  const runners = new Map(
    config.datasets.map((ds) => [
      ds.name,
      new DatasetRunner(ds, {
        state,
        metrics,
        serve: config.serve,
        now,
        log,
        onChange: () => void evaluateAlerts(),
        anchor: () => anchorAudit(),
        owner,
      }),
    ]),
  );
  const snapshot = async (): Promise<HealthSnapshot> => {
    const open = await state.listEscalations({ status: "open" });
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
        openEscalations: open.filter((e) => e.dataset === r.ds.name).length,
        replicasDown: r.replicasDown(),
        lastRunFailedRepairs: r.lastFailed,
      })),
    };
  };
  const verifyAudit = async (): Promise<AuditVerification> => {
    const v = await verifyAuditOf(state, config.audit);
    auditOk = v.ok;
    return auditView(v);
  };
  let timers: NodeJS.Timeout[] = [];

  const runnerOf = (dataset: string): DatasetRunner => {
    const r = runners.get(dataset);
    if (!r) throw new TriggerError("unknown-dataset", `no dataset named ${dataset}`);
    return r;
  };

  /** The dataset's last finished pass (or command run). */
  const lastFinished = async (dataset: string): Promise<RunRecord | undefined> =>
    (await state.listRuns({ dataset, limit: 20 })).find(
      (r) => r.finishedAt !== undefined && r.status !== "failed",
    );

  const api: ServiceApi = {
    health: () => ({ ok: !stopped, startedAt, datasets: runners.size }),

    async datasets(): Promise<DatasetStatus[]> {
      const open = await state.listEscalations({ status: "open" });
      const out: DatasetStatus[] = [];
      for (const [name, runner] of runners) {
        out.push(runner.status(await lastFinished(name), open.filter((e) => e.dataset === name).length));
      }
      return out;
    },

    runs: (filter) => state.listRuns(filter),
    run: (id) => state.getRun(id),

    async divergences(filter): Promise<DivergenceView[]> {
      const names = filter.dataset ? [filter.dataset] : [...runners.keys()];
      const out: DivergenceView[] = [];
      for (const name of names) {
        const last = await lastFinished(name);
        if (!last) continue;
        for (const d of await state.listDivergences(last.id)) {
          if (d.dataset !== name || (filter.class && d.class !== filter.class)) continue;
          out.push({
            dataset: name,
            runId: last.id,
            key: keyJsonOf(d.key, d.detail),
            class: d.class,
            detail: d.detail,
          });
          if (filter.limit !== undefined && out.length >= filter.limit) return out;
        }
      }
      return out;
    },

    async escalations(filter): Promise<EscalationView[]> {
      return (await state.listEscalations(filter.status ? { status: filter.status } : {})).map(
        escalationView,
      );
    },

    async resolve(id: string, choice: Resolution): Promise<ResolveOutcome> {
      // Its own connections, closed afterwards: a pass in flight keeps its own.
      const opened: { close(): Promise<void> }[] = [];
      try {
        return await resolveEscalation(id, choice, {
          datasets: config.datasets,
          state,
          runId: newRunId(new Date(now())),
          by: "api",
          now,
          replicas: async (ds) => {
            const out = [];
            for (const r of ds.replicas) {
              const connector = await openConnector(ds.name, r, { readonly: false });
              opened.push(connector);
              out.push({ name: r.name, connector });
            }
            return out;
          },
        });
      } finally {
        await Promise.allSettled(opened.map((c) => c.close()));
        await anchorAudit();
      }
    },

    audit: (filter) =>
      state.readAudit({
        ...(filter.run ? { runId: filter.run } : {}),
        ...(filter.key ? { key: filter.key } : {}),
        limit: filter.limit ?? 200,
        // The latest entries, as an operator watching the trail wants them.
        newest: true,
      }) as Promise<AuditEntry[]>,

    async verifyAudit(): Promise<AuditVerification> {
      return auditView(await verifyAuditOf(state, config.audit));
    },

    async trigger(dataset, mode) {
      if (stopped) throw new TriggerError("stopping", "the service is stopping");
      return { runId: await runnerOf(dataset).trigger(mode) };
    },

    async history(filter): Promise<History> {
      const since = filter.since ?? 0;
      const names = filter.dataset ? [filter.dataset] : [...runners.keys()];
      const runs: History["runs"][number][] = [];
      let converged = 0;
      let escalated = 0;
      for (const name of names) {
        for (const r of await state.listRuns({ dataset: name, limit: HISTORY_RUNS })) {
          if (r.finishedAt === undefined || r.status === "failed" || r.startedAt < since) continue;
          const repairs: Record<string, number> = {};
          for (const [k, n] of Object.entries(r.stats))
            if (k.startsWith("repairs.")) repairs[k.slice("repairs.".length)] = n;
          runs.push({
            runId: r.id,
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
  };

  return {
    api,
    metrics,
    state,
    async start() {
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
      const prune = () =>
        void state.pruneSamples(now() - config.serve.retentionMs).then(
          (n) => n && log(`pruned ${n} samples older than the retention`),
          (err) => log(`pruning samples: ${err instanceof Error ? err.message : String(err)}`),
        );
      prune();
      const pruning = setInterval(prune, PRUNE_EVERY_MS);
      pruning.unref();
      timers.push(pruning);
      for (const r of runners.values()) await r.start();
      log(
        `serving ${runners.size} dataset${runners.size === 1 ? "" : "s"}: ${[...runners.keys()].join(", ")}`,
      );
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      await Promise.all([...runners.values()].map((r) => r.stop()));
      await evaluating;
      await alerter.flush();
      await alerter.close();
      if (ownsState) await state.close();
    },
    async idle() {
      for (const r of runners.values()) await r.idle();
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
