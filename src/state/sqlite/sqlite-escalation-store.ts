/** The EscalationStore port on SQLite. */
import {
  type Escalation,
  type EscalationFilter,
  type EscalationGroup,
  EscalationNotOpenError,
  type EscalationPage,
  type EscalationStore,
} from "../escalation-store.js";
import {
  ESCALATION_ROW_COLUMNS,
  type EscalationGroupRow,
  type EscalationRow,
  escalationRow,
  jsonText,
  REOPEN_ESCALATION_SET,
  toEscalation,
  toEscalationGroup,
} from "../state-rows.js";
import { ROWS_PER_INSERT, type SqliteStateDb } from "./sqlite-state-db.js";

/** The WHERE clause of a filter (and of a page's `after`), with its parameters in order. */
function where(filter: EscalationFilter & Pick<EscalationPage, "after">): {
  sql: string;
  params: (string | number)[];
} {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  const add = (sql: string, param: string | undefined) => {
    if (param === undefined) return;
    parts.push(sql);
    params.push(param);
  };
  add("status = ?", filter.status);
  add("dataset = ?", filter.dataset);
  add("class = ?", filter.class);
  add("pattern = ?", filter.pattern);
  add("EXISTS (SELECT 1 FROM json_each(escalations.columns) WHERE value = ?)", filter.column);
  add("EXISTS (SELECT 1 FROM json_each(escalations.involved) WHERE value = ?)", filter.replica);
  add("(created_at, rowid) > (SELECT created_at, rowid FROM escalations WHERE id = ?)", filter.after);
  return { sql: parts.length ? ` WHERE ${parts.join(" AND ")}` : "", params };
}

/** The upsert of `n` escalations: a new id inserted, a resolved one reopened, an open one left as it is. */
function openSql(n: number): string {
  const row = `(${ESCALATION_ROW_COLUMNS.map(() => "?").join(", ")})`;
  return `INSERT INTO escalations (${ESCALATION_ROW_COLUMNS.join(", ")})
     VALUES ${Array.from({ length: n }, () => row).join(", ")}
     ON CONFLICT (id) DO UPDATE SET ${REOPEN_ESCALATION_SET}
     WHERE escalations.status = 'resolved' RETURNING id`;
}

export class SqliteEscalationStore implements EscalationStore {
  constructor(private readonly s: SqliteStateDb) {}

  async openEscalations(list: readonly Escalation[]): Promise<string[]> {
    // A statement per ROWS_PER_INSERT escalations, RETURNING the ids it inserted or reopened (a row the
    // upsert's WHERE leaves alone returns nothing): a run that escalates 100,000 ran as many statements.
    // Rows of one statement are upserted in order, so an id repeated in the list is opened by its first.
    return this.s.transaction(() => {
      const opened = new Set<string>();
      for (let at = 0; at < list.length; at += ROWS_PER_INSERT) {
        const batch = list.slice(at, at + ROWS_PER_INSERT);
        const values: unknown[] = [];
        for (const e of batch) {
          const r = escalationRow(e);
          for (const c of ESCALATION_ROW_COLUMNS) values.push(r[c]);
        }
        const rows = this.s.prepare(openSql(batch.length)).all(values) as { id: string }[];
        for (const r of rows) opened.add(r.id);
      }
      // RETURNING promises no order; the port promises the order given (each id once).
      const out: string[] = [];
      for (const e of list) if (opened.delete(e.id)) out.push(e.id);
      return out;
    });
  }

  async listEscalations(filter: EscalationFilter & EscalationPage = {}): Promise<Escalation[]> {
    const w = where(filter);
    const page =
      filter.limit !== undefined || filter.offset !== undefined
        ? ` LIMIT ${filter.limit === undefined ? -1 : Math.max(0, Math.floor(filter.limit))} OFFSET ${Math.max(0, Math.floor(filter.offset ?? 0))}`
        : "";
    const rows = this.s
      .prepare(`SELECT * FROM escalations${w.sql} ORDER BY created_at, rowid${page}`)
      .all(...w.params) as EscalationRow[];
    return rows.map(toEscalation);
  }

  async countEscalations(filter: EscalationFilter = {}): Promise<number> {
    const w = where(filter);
    return this.s
      .prepare(`SELECT count(*) FROM escalations${w.sql}`)
      .pluck()
      .get(...w.params) as number;
  }

  async groupEscalations(filter: EscalationFilter = {}): Promise<EscalationGroup[]> {
    const w = where(filter);
    const rows = this.s
      .prepare(
        `WITH matching AS (
           SELECT id, dataset, class, pattern, created_at,
             row_number() OVER (PARTITION BY dataset, pattern ORDER BY created_at, rowid) AS n
           FROM escalations${w.sql})
         SELECT dataset, class, pattern, count(*) AS count, min(created_at) AS oldest_at,
           max(created_at) AS newest_at, max(CASE WHEN n = 1 THEN id END) AS first
         FROM matching GROUP BY dataset, class, pattern
         ORDER BY count DESC, oldest_at, first`,
      )
      .all(...w.params) as EscalationGroupRow[];
    return rows.map(toEscalationGroup);
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
