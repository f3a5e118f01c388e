/** The EscalationStore port on SQLite. */
import { type Escalation, EscalationNotOpenError, type EscalationStore } from "../escalation-store.js";
import { type EscalationRow, escalationRow, jsonText, toEscalation } from "../state-rows.js";
import { conditions, type SqliteStateDb } from "./sqlite-state-db.js";

export class SqliteEscalationStore implements EscalationStore {
  constructor(private readonly s: SqliteStateDb) {}

  async openEscalations(list: readonly Escalation[]): Promise<string[]> {
    const st = this.s.prepare(
      `INSERT INTO escalations (id, dataset, key, class, reason, options, detail, status, run_id, created_at,
         resolved_at, resolution)
       VALUES (@id, @dataset, @key, @class, @reason, @options, @detail, @status, @run_id, @created_at,
         @resolved_at, @resolution)
       ON CONFLICT (id) DO NOTHING`,
    );
    return this.s.transaction(() => {
      const inserted: string[] = [];
      for (const e of list) if (st.run(escalationRow(e)).changes > 0) inserted.push(e.id);
      return inserted;
    });
  }

  async listEscalations(
    filter: { status?: Escalation["status"]; dataset?: string } = {},
  ): Promise<Escalation[]> {
    const where = conditions([
      ["status", filter.status],
      ["dataset", filter.dataset],
    ]);
    const rows = this.s
      .prepare(`SELECT * FROM escalations${where.sql} ORDER BY created_at, rowid`)
      .all(...where.params) as EscalationRow[];
    return rows.map(toEscalation);
  }

  async getEscalation(id: string): Promise<Escalation | undefined> {
    const row = this.s.prepare("SELECT * FROM escalations WHERE id = ?").get(id) as EscalationRow | undefined;
    return row && toEscalation(row);
  }

  async closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void> {
    const find = this.s.prepare("SELECT status FROM escalations WHERE id = ?").pluck();
    const update = this.s.prepare(
      "UPDATE escalations SET status = ?, resolution = ?, resolved_at = ? WHERE id = ?",
    );
    this.s.immediate(() => {
      const found = find.get(id) as Escalation["status"] | undefined;
      if (found !== "open") throw new EscalationNotOpenError(id, found ?? "missing");
      update.run(status, jsonText(resolution), at, id);
    });
  }
}
