/** Reads one dataset's evidence snapshot from the state store and computes its insights: the one path the CLI and serve share. */
import type { DatasetConfig } from "../config/load-config.js";
import { policyBlock } from "../config/policy-block.js";
import {
  type DatasetInsights,
  datasetInsights,
  type InsightsOptions,
  type OwnerInsight,
} from "../learning/dataset-insights.js";
import type { EvidenceSnapshot, PolicyBlock } from "../learning/evidence-rows.js";
import { EVIDENCE_HOURLY_MS } from "../state/evidence-store.js";
import type { StateStore } from "../state/state-store.js";
import { readOwnerEvidence } from "./owner-evidence.js";

/** The recent window rates and trends are measured over (the window before it is the comparison). */
export const INSIGHTS_WINDOW_MS = 7 * 86_400_000;
/** How many of the newest audit entries are searched for example keys. */
const AUDIT_EXAMPLES = 2000;

export interface ReadInsightsOptions extends InsightsOptions {
  /** Default INSIGHTS_WINDOW_MS. */
  readonly windowMs?: number;
}

/**
 * Reads the dataset's evidence (grouped totals: bounded by replicas × columns × ranges × classes, never by
 * history), its last pass's range count, and the newest audit entries, then computes its insights. Reads
 * no replica: the compared columns are the declared ones, or those the evidence names.
 */
export async function readInsights(
  state: Pick<
    StateStore,
    "evidenceTotals" | "listRuns" | "readAudit" | "replicaEvidence" | "activityEvidence"
  >,
  ds: DatasetConfig,
  now: number,
  options: ReadInsightsOptions = {},
): Promise<DatasetInsights> {
  const insights = datasetInsights(await readEvidenceSnapshot(state, ds, now, options.windowMs), options);
  const owner = await readOwnerInsight(state, ds, now);
  return owner ? { ...insights, owner } : insights;
}

/**
 * With `owner: { inferred }`: the figures its basis decides by, read as a run would read them at `now`
 * (engine/owner-evidence.ts), every dataset replica listed, best lower bound first (ties: config order).
 */
export async function readOwnerInsight(
  state: Pick<StateStore, "replicaEvidence" | "activityEvidence">,
  ds: DatasetConfig,
  now: number,
): Promise<OwnerInsight | undefined> {
  const o = ds.policy.owner;
  if (o === undefined || typeof o === "string" || !("inferred" in o)) return undefined;
  const evidence = await readOwnerEvidence(state, ds.name, o.inferred, now);
  const none = { score: 1, low: 0, high: 1, settled: 0, lost: 0 };
  const replicas = ds.replicas
    .map((r) => ({ name: r.name, ...(evidence.replicas[r.name] ?? none) }))
    .sort((a, b) => b.low - a.low);
  return {
    basis: o.inferred,
    minConfidence: o.minConfidence,
    ...(evidence.windowMs !== undefined ? { windowMs: evidence.windowMs } : {}),
    replicas,
  };
}

/** The snapshot `datasetInsights` computes from (exported for callers that compute more from it). */
export async function readEvidenceSnapshot(
  state: Pick<StateStore, "evidenceTotals" | "listRuns" | "readAudit">,
  ds: DatasetConfig,
  now: number,
  windowMs: number = INSIGHTS_WINDOW_MS,
): Promise<EvidenceSnapshot> {
  const dataset = ds.name;
  const recent = now - windowMs;
  const both = now - 2 * windowMs;
  const totals = (q: Omit<Parameters<StateStore["evidenceTotals"]>[0], "dataset">) =>
    state.evidenceTotals({ dataset, ...q });
  const [
    byReplica,
    recentBySegment,
    twoWindowsBySegment,
    recentByColumn,
    twoWindowsByColumn,
    recentByFacet,
    twoWindowsByFacet,
    byBucket,
    lostBySegment,
    recentBySegmentColumn,
    runs,
    audit,
  ] = await Promise.all([
    totals({ by: ["replica", "column", "class"] }),
    totals({ by: ["segment", "class"], replica: "", column: "", since: recent }),
    totals({ by: ["segment", "class"], replica: "", column: "", since: both }),
    totals({ by: ["column", "class"], replica: "", since: recent }),
    totals({ by: ["column", "class"], replica: "", since: both }),
    totals({ by: ["facet", "class"], replica: "", column: "", since: recent }),
    totals({ by: ["facet", "class"], replica: "", column: "", since: both }),
    totals({ by: ["bucket", "class"], replica: "", column: "", since: now - EVIDENCE_HOURLY_MS }),
    totals({ by: ["replica", "segment", "class"], column: "" }),
    totals({ by: ["segment", "column"], replica: "", since: recent }),
    state.listRuns({ dataset, limit: 20 }),
    state.readAudit({ newest: true, limit: AUDIT_EXAMPLES }),
  ]);
  const lastPass = runs.find((r) => typeof r.stats?.segments === "number");
  const declared = ds.columns ?? [];
  const seen = [...new Set(byReplica.map((r) => r.column ?? "").filter((c) => c !== ""))].sort();
  return {
    dataset,
    replicas: ds.replicas.map((r) => r.name),
    columns: declared.length ? declared : seen,
    segments: lastPass?.stats.segments,
    now,
    windowMs,
    byReplica,
    recentBySegment,
    twoWindowsBySegment,
    recentByColumn: recentByColumn.filter((r) => r.column !== ""),
    twoWindowsByColumn: twoWindowsByColumn.filter((r) => r.column !== ""),
    recentByFacet,
    twoWindowsByFacet,
    byBucket,
    lostBySegment: lostBySegment.filter((r) => r.replica !== ""),
    recentBySegmentColumn: recentBySegmentColumn.filter((r) => r.column !== ""),
    audit: audit.filter((e) => e.dataset === dataset),
    policy: policyBlock(ds.policy) as PolicyBlock,
  };
}
