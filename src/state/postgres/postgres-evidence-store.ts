/** The EvidenceStore port on PostgreSQL. */
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
  EVIDENCE_COUNTER_COLUMNS,
  EVIDENCE_COUNTERS,
  EVIDENCE_DAY_MS,
  EVIDENCE_HOUR_MS,
  type EvidenceIncrement,
  type EvidenceQuery,
  type EvidenceStore,
  type EvidenceTotal,
  evidenceCells,
} from "../evidence-store.js";
import { chunks, columnNames, type RecordsetColumn, recordset, recordsetJson } from "./postgres-sql.js";
import type { StateClient } from "./postgres-state-connection.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

/** The lock of the evidence table's writers (multi-row upserts adding to the same cells). */
export const EVIDENCE_LOCK = "evidence";

const CELL_COLUMNS: readonly RecordsetColumn[] = EVIDENCE_WRITE_COLUMNS.map((c) => [
  c,
  c === "dataset" || c === "replica" || c === "col" || c === "class" || c === "facet"
    ? "text"
    : c === "segment" || c === "span"
      ? "integer"
      : c === "bucket"
        ? "bigint"
        : "double precision",
]);

/** `?` placeholders numbered `$1`, `$2`, … in order (the shared SQL is written with `?`). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export class PostgresEvidenceStore implements EvidenceStore {
  constructor(private readonly db: PostgresStateDb) {}

  async addEvidence(increments: readonly EvidenceIncrement[]): Promise<void> {
    const cells = this.cells(increments);
    if (cells.length === 0) return;
    // One writer at a time: two upserts adding to the same cells in different orders would deadlock.
    await this.db.transaction(async (c) => {
      await this.db.lock(c, EVIDENCE_LOCK);
      await this.write(c, cells);
    });
  }

  /** The rows `increments` add to (none when they count nothing). */
  cells(increments: readonly EvidenceIncrement[]): Record<string, string | number>[] {
    return evidenceCells(increments).map((c) => {
      const row: Record<string, string | number> = {
        dataset: c.dataset,
        replica: c.replica,
        col: c.column,
        segment: c.segment,
        class: c.class,
        facet: c.facet,
        span: 1,
        bucket: c.bucket,
        last_at: c.lastAt,
      };
      EVIDENCE_COUNTERS.forEach((k, i) => {
        row[EVIDENCE_COUNTER_COLUMNS[i]!] = c.counts[k];
      });
      return row;
    });
  }

  /** Adds `cells` (from `cells`) inside the caller's transaction, which holds EVIDENCE_LOCK. */
  async write(c: StateClient, cells: readonly Record<string, string | number>[]): Promise<void> {
    const columns = columnNames(CELL_COLUMNS);
    for (const batch of chunks(cells, BATCH_ROWS))
      await c.query(
        `INSERT INTO ${this.db.t.evidence} AS e (${columns}) SELECT ${columns} FROM ${recordset(CELL_COLUMNS)}
         ON CONFLICT (${EVIDENCE_KEY}) DO UPDATE SET ${evidenceAddition("e", "GREATEST")}`,
        [recordsetJson(CELL_COLUMNS, batch)],
      );
  }

  async evidenceTotals(query: EvidenceQuery): Promise<EvidenceTotal[]> {
    // Bucket bounds are whole milliseconds: a fractional `since` selects what its floor does (bigint column).
    const where = evidenceConditions({ ...query, since: floorOrUndefined(query.since) });
    const groups = evidenceGroupColumns(query.by);
    const group = groups.length ? ` GROUP BY ${groups.join(", ")} ORDER BY ${groups.join(", ")}` : "";
    const rows = await this.db.query<EvidenceTotalRow>(
      numbered(
        `SELECT ${evidenceTotalsSelect(groups)} FROM ${this.db.t.evidence} WHERE ${where.sql}${group}`,
      ),
      where.params,
    );
    return rows.map((r) => toEvidenceTotal(r, query.by));
  }

  async replicaEvidence(dataset: string): Promise<readonly ReplicaEvidence[]> {
    const rows = await this.db.query<Parameters<typeof toReplicaEvidence>[0]>(
      numbered(REPLICA_EVIDENCE_SQL(this.db.t.evidence)),
      [dataset],
    );
    return rows.map(toReplicaEvidence);
  }

  async rangeDrift(dataset: string, since: number): Promise<readonly RangeDrift[]> {
    const rows = await this.db.query<{
      segment: number;
      divergences: number;
      repaired: number;
      last_at: number | null;
    }>(numbered(RANGE_DRIFT_SQL(this.db.t.evidence)), [dataset, Math.floor(since)]);
    return rows.map((r) => ({
      segment: r.segment,
      divergences: r.divergences,
      repaired: r.repaired,
      lastSeenAt: r.last_at ?? undefined,
    }));
  }

  async activityEvidence(dataset: string, since: number): Promise<readonly ActivityEvidence[]> {
    const rows = await this.db.query<EvidenceTotalRow>(numbered(ACTIVITY_EVIDENCE_SQL(this.db.t.evidence)), [
      dataset,
      Math.floor(since),
    ]);
    return rows.map(toActivityEvidence);
  }

  async rollUpEvidence(before: number): Promise<number> {
    const dims = "dataset, replica, col, segment, class, facet";
    const sums = evidenceRollUpAggregates();
    const t = this.db.t.evidence;
    return this.db.transaction(async (c) => {
      await this.db.lock(c, EVIDENCE_LOCK);
      await c.query(
        `INSERT INTO ${t} AS e (${EVIDENCE_WRITE_COLUMNS.join(", ")})
         SELECT ${dims}, 24, (bucket / ${EVIDENCE_DAY_MS}) * ${EVIDENCE_DAY_MS}, ${sums}, MAX(last_at)
         FROM ${t} WHERE span = 1 AND bucket < $1
         GROUP BY ${dims}, bucket / ${EVIDENCE_DAY_MS}
         ON CONFLICT (${EVIDENCE_KEY}) DO UPDATE SET ${evidenceAddition("e", "GREATEST")}`,
        [Math.ceil(before)],
      );
      const deleted = await c.query(`DELETE FROM ${t} WHERE span = 1 AND bucket < $1`, [Math.ceil(before)]);
      return deleted.rowCount ?? 0;
    });
  }

  async pruneEvidence(before: number): Promise<number> {
    return this.db.execute(
      `DELETE FROM ${this.db.t.evidence} WHERE bucket + span * ${EVIDENCE_HOUR_MS}::bigint <= $1`,
      [Math.floor(before)],
    );
  }
}

function floorOrUndefined(at: number | undefined): number | undefined {
  return at === undefined ? undefined : Math.floor(at);
}
