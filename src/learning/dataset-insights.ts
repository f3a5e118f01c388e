/** One dataset's insights from its evidence snapshot: reliability ranking, hotspots, patterns, recommendations. Pure. */
import type { InferredBasis, SourceScore } from "../core/inferred-owner.js";
import type { EvidenceSnapshot } from "./evidence-rows.js";
import { findHotspots, type Hotspot, type HotspotOptions } from "./find-hotspots.js";
import { findPatterns, type Pattern, type PatternOptions } from "./find-patterns.js";
import { type ReplicaReliability, rankReliability } from "./rank-reliability.js";
import { type Recommendation, type RecommendOptions, recommend } from "./recommend.js";

/** What `concord insights` and `GET /api/insights` show for one dataset, each list ranked best (or hottest) first. */
export interface DatasetInsights {
  readonly name: string;
  readonly replicas: readonly ReplicaReliability[];
  readonly hotspots: readonly Hotspot[];
  readonly patterns: readonly Pattern[];
  readonly recommendations: readonly Recommendation[];
  /** Drift over the key space and the columns in the recent window (the dashboard's heat map). */
  readonly heatmap: DriftHeatmap;
  /** With `owner: { inferred }`: the per-replica figures its basis decides by (absent otherwise). */
  readonly owner?: OwnerInsight | undefined;
}

/**
 * The figures an inferred owner decides by, over the whole dataset (recent activity is also judged per key
 * range, which this does not list): each replica's score, interval and counts, best lower bound first.
 */
export interface OwnerInsight {
  readonly basis: InferredBasis;
  readonly minConfidence: number;
  /** The window the counts cover, ms (recent-activity, latency). */
  readonly windowMs?: number | undefined;
  readonly replicas: readonly (SourceScore & { readonly name: string })[];
}

/** Divergences per key range × column in the recent window; cells without any are left out. */
export interface DriftHeatmap {
  /** How many ranges the last pass cut (undefined: not known; the highest range seen + 1 stands in). */
  readonly segments: number;
  readonly columns: readonly string[];
  readonly windowMs: number;
  readonly cells: readonly {
    readonly segment: number;
    readonly column: string;
    readonly divergences: number;
  }[];
}

export interface InsightsOptions extends HotspotOptions, PatternOptions, RecommendOptions {}

/**
 * The dataset's insights. Deterministic: the same snapshot (evidence, audit, policy, `now`) gives the same
 * insights, ids included.
 */
export function datasetInsights(snapshot: EvidenceSnapshot, options: InsightsOptions = {}): DatasetInsights {
  const replicas = rankReliability(snapshot.replicas, snapshot.columns, snapshot.byReplica);
  const hotspots = findHotspots(snapshot, options);
  const patterns = findPatterns(snapshot, options);
  return {
    name: snapshot.dataset,
    replicas,
    hotspots,
    patterns,
    recommendations: recommend(snapshot, replicas, patterns, hotspots, options),
    heatmap: heatmapOf(snapshot),
  };
}

function heatmapOf(snapshot: EvidenceSnapshot): DriftHeatmap {
  const cells = snapshot.recentBySegmentColumn
    .filter((r) => r.segment !== undefined && r.segment >= 0 && r.column && r.divergences > 0)
    .map((r) => ({ segment: r.segment!, column: r.column!, divergences: r.divergences }));
  const seen = Math.max(0, ...cells.map((c) => c.segment + 1));
  const columns = [...snapshot.columns];
  for (const c of cells) if (!columns.includes(c.column)) columns.push(c.column);
  return {
    segments: Math.max(snapshot.segments ?? 0, seen),
    columns,
    windowMs: snapshot.windowMs,
    cells,
  };
}
