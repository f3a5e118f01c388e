/** What both evidence adapters share: the SQL they read with (dialect-neutral) and the mapping of rows. No queries run here. */
import type { ActivityEvidence, ReplicaEvidence } from "../learning/evidence.js";
import {
  EVIDENCE_AGGREGATES,
  EVIDENCE_COUNTER_COLUMNS,
  EVIDENCE_COUNTERS,
  EVIDENCE_DIMENSION_COLUMNS,
  EVIDENCE_HOUR_MS,
  type EvidenceDimension,
  type EvidenceQuery,
  type EvidenceTotal,
  zeroEvidenceCounts,
} from "./evidence-store.js";

/** The conditions of an evidence query, with `?` placeholders (an adapter numbers them as it needs). */
export function evidenceConditions(query: Omit<EvidenceQuery, "by">): {
  sql: string;
  params: (string | number)[];
} {
  const parts = ["dataset = ?"];
  const params: (string | number)[] = [query.dataset];
  if (query.since !== undefined) {
    parts.push(`bucket + span * ${EVIDENCE_HOUR_MS} > ?`);
    params.push(query.since);
  }
  if (query.replica !== undefined) {
    parts.push("replica = ?");
    params.push(query.replica);
  }
  if (query.column !== undefined) {
    parts.push("col = ?");
    params.push(query.column);
  }
  return { sql: parts.join(" AND "), params };
}

/** The grouping columns of `by`, in the order given (`bucket` groups by the bucket's start and span). */
export function evidenceGroupColumns(by: readonly EvidenceDimension[]): string[] {
  return [...new Set(by)].flatMap((d) =>
    d === "bucket" ? ["bucket", "span"] : [EVIDENCE_DIMENSION_COLUMNS[d]],
  );
}

/** `SELECT` list of a totals query: the grouping columns, every counter summed, the latest time. */
export function evidenceTotalsSelect(groups: readonly string[]): string {
  const sums = EVIDENCE_COUNTER_COLUMNS.map((c, i) => `${EVIDENCE_AGGREGATES[i]}(${c}) AS ${c}`);
  return [...groups, ...sums, "MAX(last_at) AS last_at"].join(", ");
}

/** A totals row as the driver returns it (numbers, or numeric text from a driver that returns sums so). */
export type EvidenceTotalRow = Record<string, string | number | null>;

/** A totals row as the port returns it. */
export function toEvidenceTotal(row: EvidenceTotalRow, by: readonly EvidenceDimension[]): EvidenceTotal {
  const counts = zeroEvidenceCounts();
  EVIDENCE_COUNTERS.forEach((c, i) => {
    counts[c] = Number(row[EVIDENCE_COUNTER_COLUMNS[i]!] ?? 0);
  });
  const out: Record<string, unknown> = { ...counts, lastAt: Number(row.last_at ?? 0) };
  for (const d of by) {
    if (d === "bucket") {
      out.bucket = Number(row.bucket);
      out.spanHours = Number(row.span);
    } else {
      const v = row[EVIDENCE_DIMENSION_COLUMNS[d]];
      out[d] = d === "segment" ? Number(v) : String(v);
    }
  }
  return out as unknown as EvidenceTotal;
}

/** A replicaEvidence row: the column "" (the whole record) reads as undefined. */
export function toReplicaEvidence(row: {
  replica: string;
  col: string;
  settled: string | number;
  lost: string | number;
}): ReplicaEvidence {
  return {
    replica: row.replica,
    column: row.col === "" ? undefined : row.col,
    settled: Number(row.settled),
    lost: Number(row.lost),
  };
}

/** The SQL of `replicaEvidence` with `?` for the dataset: per replica and replica × column, settled and lost. */
export const REPLICA_EVIDENCE_SQL = (table: string) =>
  `SELECT replica, col, SUM(settled) AS settled, SUM(lost) AS lost FROM ${table}
   WHERE dataset = ? AND replica <> '' GROUP BY replica, col ORDER BY replica, col`;

/** The SQL of `rangeDrift` with `?` for the dataset and `since`: the dataset-wide record cells per segment. */
export const RANGE_DRIFT_SQL = (table: string) =>
  `SELECT segment, SUM(divergences) AS divergences, SUM(repaired) AS repaired, MAX(last_at) AS last_at
   FROM ${table} WHERE dataset = ? AND replica = '' AND col = '' AND segment >= 0
     AND bucket + span * ${EVIDENCE_HOUR_MS} > ?
   GROUP BY segment HAVING SUM(divergences) > 0 ORDER BY segment`;

/**
 * The SQL of `activityEvidence` with `?` for the dataset and `since`: the freshness counters of each replica's
 * record cells per key range and time bucket (classes summed).
 */
export const ACTIVITY_EVIDENCE_SQL = (table: string) =>
  `SELECT replica, segment, bucket, SUM(ahead) AS ahead, SUM(observed) AS observed, SUM(behind) AS behind,
     SUM(probed) AS probed, SUM(lag_ms) AS lag_ms
   FROM ${table} WHERE dataset = ? AND replica <> '' AND col = ''
     AND bucket + span * ${EVIDENCE_HOUR_MS} > ?
   GROUP BY replica, segment, bucket HAVING SUM(ahead) + SUM(observed) > 0
   ORDER BY replica, segment, bucket`;

/** An activityEvidence row (sums as numbers, or numeric text from a driver that returns them so). */
export function toActivityEvidence(row: Record<string, string | number | null>): ActivityEvidence {
  return {
    replica: String(row.replica),
    segment: Number(row.segment),
    bucket: Number(row.bucket),
    ahead: Number(row.ahead ?? 0),
    observed: Number(row.observed ?? 0),
    behind: Number(row.behind ?? 0),
    probed: Number(row.probed ?? 0),
    lagMs: Number(row.lag_ms ?? 0),
  };
}

/** Every evidence column an upsert writes, in order: dimensions, bucket, span, counters, last time. */
export const EVIDENCE_WRITE_COLUMNS: readonly string[] = [
  "dataset",
  "replica",
  "col",
  "segment",
  "class",
  "facet",
  "span",
  "bucket",
  ...EVIDENCE_COUNTER_COLUMNS,
  "last_at",
];

/** The primary key's columns (the upsert's conflict target). */
export const EVIDENCE_KEY = "dataset, replica, col, segment, class, facet, span, bucket";

/** `c = t.c + excluded.c` for every counter (the larger for maxima), and the later time: the upsert's update. */
export function evidenceAddition(table: string, greatest: string): string {
  return [
    ...EVIDENCE_COUNTER_COLUMNS.map((c, i) =>
      EVIDENCE_AGGREGATES[i] === "MAX"
        ? `${c} = ${greatest}(${table}.${c}, excluded.${c})`
        : `${c} = ${table}.${c} + excluded.${c}`,
    ),
    `last_at = ${greatest}(${table}.last_at, excluded.last_at)`,
  ].join(", ");
}

/** The aggregates of a roll-up's SELECT: every counter summed (maxima: their maximum), in column order. */
export function evidenceRollUpAggregates(): string {
  return EVIDENCE_COUNTER_COLUMNS.map((c, i) => `${EVIDENCE_AGGREGATES[i]}(${c})`).join(", ");
}
