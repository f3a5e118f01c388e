/** One dataset's insights from its evidence snapshot: reliability ranking, hotspots, patterns, recommendations. Pure. */
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
  };
}
