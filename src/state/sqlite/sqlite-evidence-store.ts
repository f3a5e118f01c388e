/** The EvidenceStore port on SQLite. */
import type { ActivityEvidence, RangeDrift, ReplicaEvidence } from "../../learning/evidence.js";
import {
  ACTIVITY_EVIDENCE_SQL,
  EVIDENCE_KEY,
  EVIDENCE_WRITE_COLUMNS,
  type EvidenceTotalRow,
  evidenceAddition,
  evidenceConditions,
  evidenceGroupColumns,
  evidenceRollUpAggregates,
  evidenceTotalsSelect,
  RANGE_DRIFT_SQL,
  REPLICA_EVIDENCE_SQL,
  toActivityEvidence,
  toEvidenceTotal,
  toReplicaEvidence,
} from "../evidence-rows.js";
import {
  EVIDENCE_COUNTERS,
  EVIDENCE_DAY_MS,
  EVIDENCE_HOUR_MS,
  type EvidenceIncrement,
  type EvidenceQuery,
  type EvidenceStore,
  type EvidenceTotal,
  evidenceCells,
} from "../evidence-store.js";
import type { SqliteStateDb } from "./sqlite-state-db.js";

const UPSERT = `INSERT INTO evidence (${EVIDENCE_WRITE_COLUMNS.join(", ")})
  VALUES (${EVIDENCE_WRITE_COLUMNS.map(() => "?").join(", ")})
  ON CONFLICT (${EVIDENCE_KEY}) DO UPDATE SET ${evidenceAddition("evidence", "MAX")}`;

export class SqliteEvidenceStore implements EvidenceStore {
  constructor(private readonly s: SqliteStateDb) {}

  async addEvidence(increments: readonly EvidenceIncrement[]): Promise<void> {
    this.write(increments);
  }

  /** addEvidence, synchronously (in the caller's transaction when there is one). */
  write(increments: readonly EvidenceIncrement[]): void {
    const cells = evidenceCells(increments);
    if (!cells.length) return;
    const st = this.s.prepare(UPSERT);
    this.s.transaction(() => {
      for (const c of cells)
        st.run(
          c.dataset,
          c.replica,
          c.column,
          c.segment,
          c.class,
          c.facet,
          1,
          c.bucket,
          ...EVIDENCE_COUNTERS.map((k) => c.counts[k]),
          c.lastAt,
        );
    });
  }

  async evidenceTotals(query: EvidenceQuery): Promise<EvidenceTotal[]> {
    const where = evidenceConditions(query);
    const groups = evidenceGroupColumns(query.by);
    const group = groups.length ? ` GROUP BY ${groups.join(", ")} ORDER BY ${groups.join(", ")}` : "";
    const rows = this.s
      .prepare(`SELECT ${evidenceTotalsSelect(groups)} FROM evidence WHERE ${where.sql}${group}`)
      .all(...where.params) as EvidenceTotalRow[];
    // Without grouping SQL returns one row of NULL sums when nothing matches: that is the zero total.
    return rows.map((r) => toEvidenceTotal(r, query.by));
  }

  async replicaEvidence(dataset: string): Promise<readonly ReplicaEvidence[]> {
    const rows = this.s.prepare(REPLICA_EVIDENCE_SQL("evidence")).all(dataset) as Parameters<
      typeof toReplicaEvidence
    >[0][];
    return rows.map(toReplicaEvidence);
  }

  async rangeDrift(dataset: string, since: number): Promise<readonly RangeDrift[]> {
    const rows = this.s.prepare(RANGE_DRIFT_SQL("evidence")).all(dataset, since) as {
      segment: number;
      divergences: number;
      repaired: number;
      last_at: number | null;
    }[];
    return rows.map((r) => ({
      segment: r.segment,
      divergences: r.divergences,
      repaired: r.repaired,
      lastSeenAt: r.last_at ?? undefined,
    }));
  }

  async activityEvidence(dataset: string, since: number): Promise<readonly ActivityEvidence[]> {
    const rows = this.s.prepare(ACTIVITY_EVIDENCE_SQL("evidence")).all(dataset, since) as EvidenceTotalRow[];
    return rows.map(toActivityEvidence);
  }

  async rollUpEvidence(before: number): Promise<number> {
    const dims = "dataset, replica, col, segment, class, facet";
    const sums = evidenceRollUpAggregates();
    return this.s.immediate(() => {
      this.s
        .prepare(
          `INSERT INTO evidence (${EVIDENCE_WRITE_COLUMNS.join(", ")})
           SELECT ${dims}, 24, (bucket / ${EVIDENCE_DAY_MS}) * ${EVIDENCE_DAY_MS}, ${sums}, MAX(last_at)
           FROM evidence WHERE span = 1 AND bucket < ?
           GROUP BY ${dims}, bucket / ${EVIDENCE_DAY_MS}
           ON CONFLICT (${EVIDENCE_KEY}) DO UPDATE SET ${evidenceAddition("evidence", "MAX")}`,
        )
        .run(before);
      return this.s.prepare("DELETE FROM evidence WHERE span = 1 AND bucket < ?").run(before).changes;
    });
  }

  async pruneEvidence(before: number): Promise<number> {
    return this.s.prepare(`DELETE FROM evidence WHERE bucket + span * ${EVIDENCE_HOUR_MS} <= ?`).run(before)
      .changes;
  }
}
