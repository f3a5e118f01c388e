/** Conditional writes on SQLite: read, compare fingerprints and write each key inside one IMMEDIATE transaction. */
import type Database from "better-sqlite3";
import { fingerprintRow } from "../../core/fingerprint.js";
import type { ConditionalWrite, ConnectorStats, WriteOutcome } from "../connector.js";
import { formatTimestamp, type TimestampStyle, toSqlite } from "./sqlite-column-types.js";
import type { SqliteShapeSql } from "./sqlite-shape-sql.js";
import { quoteIdent } from "./sqlite-table-meta.js";

/**
 * Applies `writes` in order in one `BEGIN IMMEDIATE` transaction (the database's write lock is held from the
 * first read, so nobody changes a record between its check and its write): each write reads its key's row,
 * is `noop` when the row already holds `next`, `superseded` when it holds anything but `expected`, and is
 * otherwise applied as a DELETE, UPDATE or INSERT. Timestamps are written in the style the column already
 * uses (`styleOf`). Throws on any error, after SQLite has rolled the whole batch back.
 */
export function applySqliteWrites(
  db: Database.Database,
  table: string,
  s: SqliteShapeSql,
  writes: readonly ConditionalWrite[],
  styleOf: (column: string) => TimestampStyle,
  stats: ConnectorStats,
): WriteOutcome[] {
  const { shape } = s;
  const whereKey = s.keyEquals();
  const read = s.statement("wread", () => `SELECT ${s.allList} FROM ${table} WHERE ${whereKey}`);
  const insert = s.statement(
    "winsert",
    () =>
      `INSERT INTO ${table} (${s.allList}) VALUES (${[...shape.key, ...shape.columns].map(() => "?").join(", ")})`,
  );
  const update = s.statement(
    "wupdate",
    () =>
      `UPDATE ${table} SET ${shape.columns.map((c) => `${quoteIdent(c.name)} = ?`).join(", ")} WHERE ${whereKey}`,
  );
  const del = s.statement("wdelete", () => `DELETE FROM ${table} WHERE ${whereKey}`);
  const run = db.transaction((batch: readonly ConditionalWrite[]): WriteOutcome[] =>
    batch.map((w) => {
      const keyParams = s.bindKey(w.key);
      const row = read
        .raw(true)
        .safeIntegers(true)
        .get(...keyParams) as unknown[] | undefined;
      const current = row ? s.codec.record(row).fingerprint : null;
      // `next` is canonical already: its fingerprint needs no decoding.
      const next = w.next ? fingerprintRow(w.key, w.next) : null;
      if (current === next) return "noop";
      if (current !== w.expected) return "superseded";
      const values = w.next
        ? shape.columns.map((c, i) => {
            const v = w.next![i] ?? null;
            return c.type === "timestamp" && v !== null
              ? formatTimestamp(v, styleOf(c.name))
              : toSqlite(c.type, v);
          })
        : [];
      if (!w.next) del.run(...keyParams);
      else if (row) update.run(...values, ...keyParams);
      else insert.run(...keyParams, ...values);
      stats.rowsWritten++;
      return "applied";
    }),
  );
  stats.queries++;
  return run.immediate(writes);
}
