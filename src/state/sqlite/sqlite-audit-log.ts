/** The AuditLog port on SQLite: one IMMEDIATE transaction per append, so processes sharing the file extend one chain. */
import {
  type AuditEntry,
  type AuditEntryContent,
  GENESIS_HASH,
  hashAuditFields,
} from "../../core/audit-chain.js";
import type { AuditFilter, AuditLog } from "../audit-log.js";
import { type PreparedAudit, prepareAudit, storedEntry } from "../prepared-audit.js";
import { type AuditRow, toAuditEntry } from "../state-rows.js";
import { conditions, ROWS_PER_INSERT, type SqliteStateDb } from "./sqlite-state-db.js";

const AUDIT_COLUMNS = ["seq", "ts", "run_id", "type", "dataset", "key", "data", "prev_hash", "hash"] as const;

/** Entries per query when streaming the audit log. */
const AUDIT_BATCH = 1000;

export class SqliteAuditLog implements AuditLog {
  constructor(private readonly s: SqliteStateDb) {}

  async appendAudit(events: readonly Omit<AuditEntryContent, "seq">[]): Promise<AuditEntry[]> {
    if (events.length === 0) return [];
    const prepared = prepareAudit(events);
    return this.s.immediate(() => this.insert(prepared));
  }

  /**
   * Appends prepared entries after the last one. The caller holds the write lock (an IMMEDIATE
   * transaction), so no other connection or process appends between the read of the tail and the inserts.
   */
  insert(prepared: readonly PreparedAudit[]): AuditEntry[] {
    if (prepared.length === 0) return [];
    const tail = this.s.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").get() as
      | { seq: number; hash: string }
      | undefined;
    let seq = tail?.seq ?? 0;
    let prevHash = tail?.hash ?? GENESIS_HASH;
    const entries: AuditEntry[] = [];
    // A statement's rows at a time (hashed, bound, inserted), not one array of every row's values sliced
    // afterwards: the same statements in the same order.
    for (let at = 0; at < prepared.length; at += ROWS_PER_INSERT) {
      const end = Math.min(at + ROWS_PER_INSERT, prepared.length);
      const values: unknown[] = [];
      for (let i = at; i < end; i++) {
        const p = prepared[i]!;
        seq++;
        // The data is hashed as its stored text (dataJson), never re-encoded; the fields one by one, with no
        // content object built per entry.
        const c = p.content;
        const hash = hashAuditFields(prevHash, seq, c.ts, c.runId, c.type, c.dataset, c.key, p.dataJson);
        values.push(seq, c.ts, c.runId, c.type, c.dataset, c.key, p.dataJson, prevHash, hash);
        entries.push(storedEntry(p, seq, prevHash, hash));
        prevHash = hash;
      }
      this.s.insertStatement("INSERT", "audit", AUDIT_COLUMNS, end - at, "").run(values);
    }
    return entries;
  }

  async readAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = conditions([
      ["run_id", filter.runId],
      ["key", filter.key],
      ["seq", filter.fromSeq, ">="],
    ]);
    const sql = filter.newest
      ? `SELECT * FROM (SELECT * FROM audit${where.sql} ORDER BY seq DESC LIMIT ?) ORDER BY seq`
      : `SELECT * FROM audit${where.sql} ORDER BY seq LIMIT ?`;
    const rows = this.s.prepare(sql).all(...where.params, filter.limit ?? -1) as AuditRow[];
    return rows.map(toAuditEntry);
  }

  async *iterateAudit(): AsyncIterable<AuditEntry> {
    // Keyset batches: no statement or read transaction stays open across a yield, so the connection stays
    // usable meanwhile and a slow consumer does not keep the WAL from being checkpointed. The first batch
    // has no lower bound so that rows tampered in below seq 1 are seen too.
    const first = this.s.prepare("SELECT * FROM audit ORDER BY seq LIMIT ?");
    const next = this.s.prepare("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?");
    let rows = first.all(AUDIT_BATCH) as AuditRow[];
    while (rows.length > 0) {
      for (const r of rows) yield toAuditEntry(r);
      if (rows.length < AUDIT_BATCH) return;
      rows = next.all(rows[rows.length - 1]!.seq, AUDIT_BATCH) as AuditRow[];
    }
  }
}
