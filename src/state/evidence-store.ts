/** The EvidenceStore port: the learning loop's evidence, counted as it happens into bounded time buckets. */
import type { EvidenceReader } from "../learning/evidence.js";
import type { EvidenceCounts, EvidenceIncrement } from "../learning/evidence-increment.js";

export type { EvidenceCounts, EvidenceIncrement } from "../learning/evidence-increment.js";

/** Every counter of EvidenceCounts, in a fixed order (the stores' columns follow it). */
export const EVIDENCE_COUNTERS: readonly (keyof EvidenceCounts)[] = [
  "divergences",
  "settled",
  "lost",
  "personSettled",
  "personLost",
  "regressions",
  "failed",
  "rejected",
  "repaired",
  "selfConverged",
  "converged",
  "convergedMs",
  "noise",
  "noiseMax",
  "ahead",
  "observed",
  "behind",
  "probed",
  "lagMs",
];

/** Counters kept as a maximum (added with MAX, rolled up with MAX) rather than a sum. */
export const EVIDENCE_MAXIMA: ReadonlySet<keyof EvidenceCounts> = new Set(["noiseMax"]);

/** The SQL aggregate of each counter, in EVIDENCE_COUNTERS order: SUM, or MAX for the maxima. */
export const EVIDENCE_AGGREGATES: readonly ("SUM" | "MAX")[] = EVIDENCE_COUNTERS.map((c) =>
  EVIDENCE_MAXIMA.has(c) ? "MAX" : "SUM",
);

/** A dimension evidence totals can be grouped by. `bucket`: the time bucket's start (and its span). */
export type EvidenceDimension = "replica" | "column" | "segment" | "class" | "facet" | "bucket";

/** The question of `evidenceTotals`. */
export interface EvidenceQuery {
  readonly dataset: string;
  /** Group by these (none: one row, the dataset's totals). */
  readonly by: readonly EvidenceDimension[];
  /** Only buckets that end after this (ms since the epoch); undefined: everything retained. */
  readonly since?: number | undefined;
  /** Only cells of this replica ("" the dataset as a whole); undefined: every replica. */
  readonly replica?: string | undefined;
  /** Only cells of this column ("" the whole record); undefined: every column. */
  readonly column?: string | undefined;
}

/** One row of `evidenceTotals`: the dimensions asked for, and the counters summed over the rest. */
export interface EvidenceTotal extends EvidenceCounts {
  readonly replica?: string;
  readonly column?: string;
  readonly segment?: number;
  readonly class?: string;
  readonly facet?: string;
  /** Start of the bucket, ms since the epoch (with `by: ["bucket"]`). */
  readonly bucket?: number;
  /** The bucket's span in hours: 1 (an hour bucket) or 24 (a day, rolled up). */
  readonly spanHours?: number;
  /** The latest increment's time among the cells summed, ms since the epoch. */
  readonly lastAt: number;
}

/** An hour, in ms. Increments land in the hour bucket holding them; rolled-up buckets span a UTC day. */
export const EVIDENCE_HOUR_MS = 3_600_000;
export const EVIDENCE_DAY_MS = 86_400_000;
/** How long hour buckets are kept before `serve` rolls them up into days (hour-of-day hotspots see this far). */
export const EVIDENCE_HOURLY_MS = 7 * EVIDENCE_DAY_MS;

/**
 * Evidence aggregates for the learning loop, kept incrementally: a recorded event adds to the counters of
 * its cell (dataset × replica × column × key range × class × facet × time bucket) and nothing is ever
 * recomputed by reading history back. Cells are sparse (only counted ones exist) and bounded: hour buckets
 * older than a horizon are rolled up into day buckets (`rollUpEvidence`), and buckets past retention are
 * dropped (`pruneEvidence`), so the size is cells × (hours in the horizon + days retained).
 *
 * ## Consistency
 * `addEvidence` is all or nothing, and concurrent calls from any number of processes never lose an
 * increment (each is an upsert adding to what is stored). Adding is commutative: the same increments in
 * any order, split into any calls, give the same totals. It is not idempotent — callers add each event once
 * (the engine adds where an event is recorded in audit or ledger, in the same step).
 *
 * ## Reading
 * `replicaEvidence` and `rangeDrift` (EvidenceReader) and `evidenceTotals` sum cells; buckets are the
 * granularity of `since` (a bucket is included when it ends after `since`). Rolling up changes no total
 * except per-hour ones.
 */
export interface EvidenceStore extends EvidenceReader {
  /** Adds every increment to its cell (created at zero when absent). Increments with no non-zero count are skipped. */
  addEvidence(increments: readonly EvidenceIncrement[]): Promise<void>;
  /** Counters summed by the dimensions asked for, ordered by those dimensions (buckets oldest first). */
  evidenceTotals(query: EvidenceQuery): Promise<EvidenceTotal[]>;
  /**
   * Merges every hour bucket that starts before `before` into the day bucket (UTC) holding it, adding their
   * counters and keeping the latest time; returns how many hour buckets were merged. Idempotent.
   */
  rollUpEvidence(before: number): Promise<number>;
  /** Removes the buckets of every dataset that end at or before `before` (retention); returns how many cells. */
  pruneEvidence(before: number): Promise<number>;
}

/** A counters object with every counter 0. */
export function zeroEvidenceCounts(): { -readonly [K in keyof EvidenceCounts]: number } {
  return {
    divergences: 0,
    settled: 0,
    lost: 0,
    personSettled: 0,
    personLost: 0,
    regressions: 0,
    failed: 0,
    rejected: 0,
    repaired: 0,
    selfConverged: 0,
    converged: 0,
    convergedMs: 0,
    noise: 0,
    noiseMax: 0,
    ahead: 0,
    observed: 0,
    behind: 0,
    probed: 0,
    lagMs: 0,
  };
}

/** The start of the UTC hour holding `at`. */
export function evidenceHour(at: number): number {
  return Math.floor(at / EVIDENCE_HOUR_MS) * EVIDENCE_HOUR_MS;
}

/** One cell's share of a batch: the increments of one cell (same dimensions and hour) added together. */
export interface EvidenceCell {
  readonly dataset: string;
  readonly replica: string;
  readonly column: string;
  readonly segment: number;
  readonly class: string;
  readonly facet: string;
  /** The hour bucket's start, ms since the epoch. */
  readonly bucket: number;
  readonly counts: EvidenceCounts;
  readonly lastAt: number;
}

/**
 * The increments added together per cell, in the order each cell first appears; increments that count
 * nothing are dropped. Both adapters write cells, so a batch touches each row once.
 */
export function evidenceCells(increments: readonly EvidenceIncrement[]): EvidenceCell[] {
  type Entry = { cell: Omit<EvidenceCell, "counts" | "lastAt">; counts: EvidenceCountsDraft; lastAt: number };
  const cells = new Map<string, Entry>();
  for (const inc of increments) {
    // Only the counters an increment names are read: most name one or two of the nineteen.
    const named = Object.keys(inc.counts) as (keyof EvidenceCounts)[];
    if (!named.some((c) => (inc.counts[c] ?? 0) !== 0)) continue;
    if (!Number.isFinite(inc.at)) throw new RangeError(`evidence: time must be finite, got ${inc.at}`);
    if (!Number.isInteger(inc.segment))
      throw new RangeError(`evidence: segment must be an integer, got ${inc.segment}`);
    const bucket = evidenceHour(inc.at);
    // NUL occurs in no name (datasets, replicas, columns, classes), so it separates them safely.
    const id = `${inc.dataset}\0${inc.replica}\0${inc.column}\0${inc.segment}\0${inc.class}\0${inc.facet}\0${bucket}`;
    let entry = cells.get(id);
    if (!entry) {
      entry = {
        cell: {
          dataset: inc.dataset,
          replica: inc.replica,
          column: inc.column,
          segment: inc.segment,
          class: inc.class,
          facet: inc.facet,
          bucket,
        },
        counts: zeroEvidenceCounts(),
        lastAt: inc.at,
      };
      cells.set(id, entry);
    } else if (inc.at > entry.lastAt) entry.lastAt = inc.at;
    for (const c of named) {
      if (!(c in entry.counts)) continue;
      const v = inc.counts[c] ?? 0;
      if (!Number.isFinite(v)) throw new RangeError(`evidence: ${c} must be finite, got ${v}`);
      entry.counts[c] = EVIDENCE_MAXIMA.has(c) ? Math.max(entry.counts[c], v) : entry.counts[c] + v;
    }
  }
  return [...cells.values()].map((e) => ({ ...e.cell, counts: e.counts, lastAt: e.lastAt }));
}

type EvidenceCountsDraft = { -readonly [K in keyof EvidenceCounts]: number };

/** The SQL column of each counter (snake case), in EVIDENCE_COUNTERS order. */
export const EVIDENCE_COUNTER_COLUMNS: readonly string[] = EVIDENCE_COUNTERS.map((c) =>
  c.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`),
);

/** The SQL column of each dimension (`column` is a reserved word in SQL: `col`). */
export const EVIDENCE_DIMENSION_COLUMNS: Readonly<Record<Exclude<EvidenceDimension, "bucket">, string>> = {
  replica: "replica",
  column: "col",
  segment: "segment",
  class: "class",
  facet: "facet",
};
