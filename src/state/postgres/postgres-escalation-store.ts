/** The EscalationStore port on PostgreSQL. */
import { type Escalation, EscalationNotOpenError, type EscalationStore } from "../escalation-store.js";
import { type EscalationRow, escalationRow, jsonText, toEscalation } from "../state-rows.js";
import { ESCALATION_COLUMNS } from "./postgres-columns.js";
import { columnNames, conditions, recordset, recordsetJson } from "./postgres-sql.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

export class PostgresEscalationStore implements EscalationStore {
  constructor(private readonly db: PostgresStateDb) {}

  async openEscalations(list: readonly Escalation[]): Promise<string[]> {
    const first = new Map<string, Escalation>();
    for (const e of list) if (!first.has(e.id)) first.set(e.id, e);
    const unique = [...first.values()];
    const inserted = new Set<string>();
    const columns = columnNames(ESCALATION_COLUMNS);
    await this.db.writeBatches("escalations", unique, async (c, batch) => {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO ${this.db.t.escalations} (${columns})
         SELECT ${columns} FROM ${recordset(ESCALATION_COLUMNS)}
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [recordsetJson(ESCALATION_COLUMNS, batch.map(escalationRow))],
      );
      for (const r of rows) inserted.add(r.id);
    });
    // RETURNING promises no order; the port promises the order given.
    return unique.filter((e) => inserted.has(e.id)).map((e) => e.id);
  }

  async listEscalations(
    filter: { status?: Escalation["status"]; dataset?: string } = {},
  ): Promise<Escalation[]> {
    const where = conditions([
      ["status", filter.status],
      ["dataset", filter.dataset],
    ]);
    const rows = await this.db.query<EscalationRow>(
      `SELECT * FROM ${this.db.t.escalations}${where.sql} ORDER BY created_at, ord`,
      where.params,
    );
    return rows.map(toEscalation);
  }

  async getEscalation(id: string): Promise<Escalation | undefined> {
    const [row] = await this.db.query<EscalationRow>(`SELECT * FROM ${this.db.t.escalations} WHERE id = $1`, [
      id,
    ]);
    return row && toEscalation(row);
  }

  async closeEscalation(
    id: string,
    status: "resolved" | "rejected",
    resolution: unknown,
    at: number,
  ): Promise<void> {
    await this.db.transaction(async (c) => {
      // FOR UPDATE waits for a concurrent closer to commit and then reads the status it wrote, so of two
      // closers exactly one finds the escalation open.
      const { rows } = await c.query<{ status: Escalation["status"] }>(
        `SELECT status FROM ${this.db.t.escalations} WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const found = rows[0]?.status;
      if (found !== "open") throw new EscalationNotOpenError(id, found ?? "missing");
      await c.query(
        `UPDATE ${this.db.t.escalations} SET status = $1, resolution = $2, resolved_at = $3 WHERE id = $4`,
        [status, jsonText(resolution), at, id],
      );
    });
  }
}
