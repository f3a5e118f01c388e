/** The statements a conditional write runs on SQLite, as text with its values inlined (`repair --print`). Builds text only: no I/O. */
import { hasUnsafe, unsafeRuns } from "../../core/printable.js";
import type { ConditionalWrite } from "../connector.js";
import { formatTimestamp, type TimestampStyle, toSqlite } from "./sqlite-column-types.js";
import type { SqliteShapeSql } from "./sqlite-shape-sql.js";
import { quoteIdent } from "./sqlite-table-meta.js";

/** A value bound to a statement, as an SQL literal of the same storage class. */
function literal(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "bigint") return String(v);
  // A REAL stays a REAL: 1.0, not the INTEGER 1.
  if (typeof v === "number")
    return Number.isFinite(v)
      ? /[.e]/.test(String(v))
        ? String(v)
        : `${Object.is(v, -0) ? "-" : ""}${v}.0`
      : v > 0
        ? "9e999"
        : "-9e999";
  if (Buffer.isBuffer(v)) return `X'${v.toString("hex").toUpperCase()}'`;
  // A control, line-breaking or bidi character as char(N) between the literal's runs: SQLite's literals have
  // no escapes, and the printed statement must be exact when run and one inert line when shown.
  const text = String(v);
  if (!hasUnsafe(text)) return `'${text.replaceAll("'", "''")}'`;
  return `(${unsafeRuns(text)
    .map((r) => ("text" in r ? `'${r.text.replaceAll("'", "''")}'` : `char(${r.code})`))
    .join(" || ")})`;
}

/**
 * For each write, the statement `applySqliteWrites` runs for it, its `?` marks replaced by the values it
 * binds (timestamps in the style the column already uses), after a comment naming the condition it is run
 * under: the row read in the same BEGIN IMMEDIATE transaction still holds the fingerprint observed (or is
 * still absent).
 */
export function printSqliteWrites(
  s: SqliteShapeSql,
  table: string,
  writes: readonly ConditionalWrite[],
  styleOf: (column: string) => TimestampStyle,
): string[] {
  const { shape } = s;
  const fill = (sql: string, params: readonly unknown[]) => {
    let i = 0;
    return sql.replace(/\?/g, () => literal(params[i++]));
  };
  return writes.map((w) => {
    const keyParams = s.bindKeyValues(w.key);
    const condition =
      w.expected === null
        ? "-- only if the row is still absent (checked in the same BEGIN IMMEDIATE transaction)"
        : `-- only if the row's fingerprint is still ${w.expected} (checked in the same BEGIN IMMEDIATE transaction)`;
    const whereKey = s.keyEquals(w.key);
    let sql: string;
    if (!w.next) sql = fill(`DELETE FROM ${table} WHERE ${whereKey}`, keyParams);
    else {
      const values = shape.columns.map((c, i) => {
        const v = w.next![i] ?? null;
        // The source's own value where the write sends it (see `applySqliteWrites`).
        const exact = s.exactValue(w.next!, i);
        if (exact !== undefined) return exact;
        return c.type === "timestamp" && v !== null
          ? formatTimestamp(v, styleOf(c.name))
          : toSqlite(c.type, v);
      });
      if (w.expected === null)
        sql = fill(
          `INSERT INTO ${table} (${s.allList}) VALUES (${[...shape.key, ...shape.columns].map(() => "?").join(", ")})`,
          [...s.bindKey(w.key), ...values],
        );
      else if (shape.columns.length === 0)
        return "-- nothing to write: the record has no columns besides its key";
      else
        sql = fill(
          `UPDATE ${table} SET ${shape.columns.map((c) => `${quoteIdent(c.name)} = ?`).join(", ")} WHERE ${whereKey}`,
          [...values, ...keyParams],
        );
    }
    return `${condition}\n${sql};`;
  });
}
