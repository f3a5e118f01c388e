/** The EscalationStore port on PostgreSQL. */
import {
  type Escalation,
  type EscalationFilter,
  type EscalationGroup,
  EscalationNotOpenError,
  type EscalationPage,
  type EscalationStore,
} from "../escalation-store.js";
import {
  type EscalationGroupRow,
  type EscalationRow,
  escalationRow,
  jsonText,
  REOPEN_ESCALATION_SET,
  toEscalation,
  toEscalationGroup,
} from "../state-rows.js";
import { ESCALATION_COLUMNS } from "./postgres-columns.js";
import { columnNames, recordset, recordsetJson } from "./postgres-sql.js";
import type { PostgresStateDb } from "./postgres-state-db.js";

/** The WHERE clause of a filter (and of a page's `after`) over `table`, with its parameters in order. */
function where(
  table: string,
  filter: EscalationFilter & Pick<EscalationPage, "after">,
): { sql: string; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  const add = (sql: (p: string) => string, param: string | undefined) => {
    if (param === undefined) return;
    params.push(param);
    parts.push(sql(`$${params.length}`));
  };
  add((p) => `status = ${p}`, filter.status);
  add((p) => `dataset = ${p}`, filter.dataset);
  add((p) => `class = ${p}`, filter.class);
  add((p) => `pattern = ${p}`, filter.pattern);
  // jsonb's ? operator: the array holds this string as an element.
  add((p) => `columns::jsonb ? ${p}`, filter.column);
  add((p) => `involved::jsonb ? ${p}`, filter.replica);
  add((p) => `(created_at, ord) > (SELECT created_at, ord FROM ${table} WHERE id = ${p})`, filter.after);
  return { sql: parts.length ? ` WHERE ${parts.join(" AND ")}` : "", params };
}

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
         ON CONFLICT (id) DO UPDATE SET ${REOPEN_ESCALATION_SET}, ord = DEFAULT
         WHERE ${this.db.t.escalations}.status = 'resolved' RETURNING id`,
        [recordsetJson(ESCALATION_COLUMNS, batch.map(escalationRow))],
      );
      for (const r of rows) inserted.add(r.id);
    });
    // RETURNING promises no order; the port promises the order given.
    return unique.filter((e) => inserted.has(e.id)).map((e) => e.id);
  }

  async listEscalations(filter: EscalationFilter & EscalationPage = {}): Promise<Escalation[]> {
    const table = this.db.t.escalations;
    const w = where(table, filter);
    const limit = filter.limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
    const offset = filter.offset ? ` OFFSET ${Math.max(0, Math.floor(filter.offset))}` : "";
    const rows = await this.db.query<EscalationRow>(
      `SELECT * FROM ${table}${w.sql} ORDER BY created_at, ord${limit}${offset}`,
      w.params,
    );
    return rows.map(toEscalation);
  }

  async countEscalations(filter: EscalationFilter = {}): Promise<number> {
    const table = this.db.t.escalations;
    const w = where(table, filter);
    const [row] = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}${w.sql}`, w.params);
    return Number(row?.n ?? 0);
  }

  async groupEscalations(filter: EscalationFilter = {}): Promise<EscalationGroup[]> {
    const table = this.db.t.escalations;
    const w = where(table, filter);
    const rows = await this.db.query<EscalationGroupRow>(
      `WITH matching AS (
         SELECT id, dataset, class, pattern, created_at,
           row_number() OVER (PARTITION BY dataset, pattern ORDER BY created_at, ord) AS n
         FROM ${table}${w.sql})
       SELECT dataset, class, pattern, count(*) AS count, min(created_at) AS oldest_at,
         max(created_at) AS newest_at, max(CASE WHEN n = 1 THEN id END) AS first
       FROM matching GROUP BY dataset, class, pattern
       ORDER BY count DESC, oldest_at, first`,
      w.params,
    );
    return rows.map(toEscalationGroup);
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
