/** The evidence the insights are computed from, as plain rows read from the EvidenceStore. Types only. */
import type { EvidenceCounts } from "./evidence-increment.js";

/** Counters summed over some cells, with the dimensions they were grouped by (EvidenceStore's `EvidenceTotal`). */
export interface EvidenceRow extends EvidenceCounts {
  readonly replica?: string | undefined;
  readonly column?: string | undefined;
  readonly segment?: number | undefined;
  readonly class?: string | undefined;
  readonly facet?: string | undefined;
  readonly bucket?: number | undefined;
  readonly spanHours?: number | undefined;
  readonly lastAt: number;
}

/** An audit entry as the insights read it for example keys (core's AuditEntry fits). */
export interface AuditExample {
  readonly seq: number;
  readonly ts: number;
  readonly type: string;
  readonly dataset?: string | null | undefined;
  readonly key?: string | null | undefined;
  readonly runId?: string | null | undefined;
  readonly data: unknown;
}

/**
 * Everything one dataset's insights are computed from: read once from the EvidenceStore (grouped totals,
 * bounded by the number of replicas, columns, ranges and classes, never by history) and the newest audit
 * entries (for example keys). `now` and the windows come in as arguments: the learning code reads no clock.
 */
export interface EvidenceSnapshot {
  readonly dataset: string;
  /** The dataset's replicas and compared columns, in config order. */
  readonly replicas: readonly string[];
  readonly columns: readonly string[];
  /** How many key ranges the last full pass cut (undefined: not known; the ranges seen stand in). */
  readonly segments?: number | undefined;
  readonly now: number;
  /** The recent window (rates and trends compare it with the window before it), ms. */
  readonly windowMs: number;
  /** Per replica × column (column "" the record) × class, everything retained, every counter. */
  readonly byReplica: readonly EvidenceRow[];
  /** The dataset as a whole (replica ""), by segment × class, column "", in the recent window. */
  readonly recentBySegment: readonly EvidenceRow[];
  /** The same, in the two windows together (the previous window is this minus the recent one). */
  readonly twoWindowsBySegment: readonly EvidenceRow[];
  /** The dataset as a whole by column × class (column "" excluded by the reader), recent window. */
  readonly recentByColumn: readonly EvidenceRow[];
  readonly twoWindowsByColumn: readonly EvidenceRow[];
  /** The dataset as a whole by facet × class, column "", recent window and both windows. */
  readonly recentByFacet: readonly EvidenceRow[];
  readonly twoWindowsByFacet: readonly EvidenceRow[];
  /** The dataset as a whole by bucket, column "": hour buckets give the hour-of-day profile. */
  readonly byBucket: readonly EvidenceRow[];
  /** The dataset as a whole by segment × column (columns only, classes summed), recent window: the heat map. */
  readonly recentBySegmentColumn: readonly EvidenceRow[];
  /** Per replica × segment × class, column "" (where each replica loses). */
  readonly lostBySegment: readonly EvidenceRow[];
  /** The newest audit entries of the dataset, oldest first (examples for recommendations). */
  readonly audit: readonly AuditExample[];
  /** The dataset's policy as declared (the block a candidate policy file holds). */
  readonly policy: PolicyBlock;
}

/** A policy as written under `datasets.<name>.policy` (and in a `plan --candidate` file). */
export interface PolicyBlock {
  readonly owner?: string | { readonly field: string; readonly map: Readonly<Record<string, string>> };
  readonly resolve?: string;
  readonly merge?: Readonly<Record<string, string>>;
  readonly tolerance?: Readonly<Record<string, number | string>>;
  readonly window?: string;
  readonly escalate?: { readonly ambiguity: number };
  readonly limits?: Readonly<Record<string, number>>;
  readonly [other: string]: unknown;
}

/** Classes that need no write: they never count as drift that needed a repair. */
export const BENIGN_CLASSES: ReadonlySet<string> = new Set(["in-flight", "tolerated", "read-after-write"]);
