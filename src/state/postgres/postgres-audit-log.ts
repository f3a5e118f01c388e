/** The AuditLog port on PostgreSQL: appends serialised by an advisory lock per schema, so every process extends one chain. */
import {
  type AuditEntry,
  type AuditEntryContent,
  GENESIS_HASH,
  hashAuditFields,
} from "../../core/audit-chain.js";
import type { AuditFilter, AuditLog } from "../audit-log.js";
import { type PreparedAudit, prepareAudit, storedEntry } from "../prepared-audit.js";
import { type AuditRow, auditRow, toAuditEntry } from "../state-rows.js";
import { AUDIT_COLUMNS } from "./postgres-columns.js";
import {
  chunks,
  columnNames,
  conditions,
  noLimitIfNegative,
  recordset,
  recordsetJson,
} from "./postgres-sql.js";
import type { StateClient } from "./postgres-state-connection.js";
import { BATCH_ROWS, type PostgresStateDb } from "./postgres-state-db.js";

/** Entries per query when streaming the audit log. */
const AUDIT_BATCH = 1000;

export class PostgresAuditLog implements AuditLog {
  constructor(private readonly db: PostgresStateDb) {}

  async appendAudit(events: readonly Omit<AuditEntryContent, "seq">[]): Promise<AuditEntry[]> {
    if (events.length === 0) return [];
    const prepared = prepareAudit(events);
    return this.db.transaction((c) => this.insert(c, prepared));
  }

  /**
   * Appends prepared entries after the last one, inside the caller's transaction. The primary key on seq
   * turns any writer that bypasses the lock into a failed transaction rather than a forked chain.
   */
  async insert(c: StateClient, prepared: readonly PreparedAudit[]): Promise<AuditEntry[]> {
    if (prepared.length === 0) return [];
    // One appender at a time per schema; the tail read after the lock (in the same message, a statement of its
    // own) is the previous holder's last entry.
    const { rows } = await this.db.lockThen<{ seq: string; hash: string }>(
      c,
      "audit",
      `SELECT seq, hash FROM ${this.db.t.audit} ORDER BY seq DESC LIMIT 1`,
    );
    let seq = rows[0] ? Number(rows[0].seq) : 0;
    let prevHash = rows[0]?.hash ?? GENESIS_HASH;
    const entries = prepared.map((p) => {
      seq++;
      // The data is hashed as its stored text (dataJson), never re-encoded.
      const e = p.content;
      const hash = hashAuditFields(prevHash, seq, e.ts, e.runId, e.type, e.dataset, e.key, p.dataJson);
      const entry = storedEntry(p, seq, prevHash, hash);
      prevHash = hash;
      return { entry, row: auditRow(entry, p.dataJson) };
    });
    const columns = columnNames(AUDIT_COLUMNS);
    for (const batch of chunks(entries, BATCH_ROWS))
      await c.query(
        `INSERT INTO ${this.db.t.audit} (${columns}) SELECT ${columns} FROM ${recordset(AUDIT_COLUMNS)}`,
        [
          recordsetJson(
            AUDIT_COLUMNS,
            batch.map((b) => b.row),
          ),
        ],
      );
    return entries.map((b) => b.entry);
  }

  async readAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = conditions([
      ["run_id", filter.runId],
      ["key", filter.key],
      ["seq", filter.fromSeq, ">="],
    ]);
    const limit = `LIMIT $${where.params.length + 1}`;
    const rows = await this.db.query<AuditRow>(
      filter.newest
        ? `SELECT * FROM (SELECT * FROM ${this.db.t.audit}${where.sql} ORDER BY seq DESC ${limit}) AS last ORDER BY seq`
        : `SELECT * FROM ${this.db.t.audit}${where.sql} ORDER BY seq ${limit}`,
      [...where.params, noLimitIfNegative(filter.limit)],
    );
    return rows.map(toAuditEntry);
  }

  async *iterateAudit(): AsyncIterable<AuditEntry> {
    // Keyset batches: no transaction or cursor stays open across a yield, so a slow consumer holds no
    // connection and does not hold back vacuum. The first batch has no lower bound so that rows tampered in
    // below seq 1 are seen too.
    let rows = await this.db.query<AuditRow>(`SELECT * FROM ${this.db.t.audit} ORDER BY seq LIMIT $1`, [
      AUDIT_BATCH,
    ]);
    while (rows.length > 0) {
      for (const r of rows) yield toAuditEntry(r);
      if (rows.length < AUDIT_BATCH) return;
      rows = await this.db.query<AuditRow>(
        `SELECT * FROM ${this.db.t.audit} WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [rows[rows.length - 1]!.seq, AUDIT_BATCH],
      );
    }
  }
}
