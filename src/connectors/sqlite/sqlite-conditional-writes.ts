/** Conditional writes on SQLite: read, compare fingerprints and write each key inside one IMMEDIATE transaction. */
import type Database from "better-sqlite3";
import type { CanonicalValue } from "../../core/canonical.js";
import { fingerprintRow } from "../../core/fingerprint.js";
import { type ColumnSpec, type Key, keyHasNull } from "../../core/model.js";
import {
  type ConditionalWrite,
  ConnectorError,
  type ConnectorStats,
  type WriteOutcome,
} from "../connector.js";
import { errorCode } from "../connector-errors.js";
import { duplicateNullKeyMessage } from "../unique-key.js";
import { affinityRefusal } from "./sqlite-affinity.js";
import { formatTimestamp, type TimestampStyle, toSqlite, unstorable } from "./sqlite-column-types.js";
import { nullMask, type SqliteShapeSql } from "./sqlite-shape-sql.js";
import { quoteIdent } from "./sqlite-table-meta.js";

/** What the writes need to know of the table beyond the shape's SQL. */
export interface SqliteWriteTarget {
  /** The replica's label, which starts every error message. */
  readonly label: string;
  readonly db: Database.Database;
  /** The quoted table name. */
  readonly table: string;
  /** Declared type of each column, by name (SQLite converts by it: its type affinity). */
  readonly declared: ReadonlyMap<string, string>;
  /** The timestamp style a column already uses, so repairs write it alike. */
  readonly styleOf: (column: string) => TimestampStyle;
  /** A STRICT table, whose ANY columns convert nothing (see `affinityRefusal`). */
  readonly strict: boolean;
}

/**
 * Applies `writes` in order in one `BEGIN IMMEDIATE` transaction (the database's write lock is held from the
 * first read, so nobody changes a record between its check and its write): each write reads its key's row,
 * is `noop` when the row already holds `next`, `superseded` when it holds anything but `expected`, and is
 * otherwise applied as a DELETE, UPDATE or INSERT. Timestamps are written in the style the column already
 * uses. A value the column would store as another value (NaN, a decimal its numeric affinity would round) is
 * refused before the transaction starts. A table whose columns are all key columns is only ever inserted
 * into or deleted from. Throws on any error, after SQLite has rolled the whole batch back.
 */
export function applySqliteWrites(
  target: SqliteWriteTarget,
  s: SqliteShapeSql,
  writes: readonly ConditionalWrite[],
  stats: ConnectorStats,
): WriteOutcome[] {
  const { db, table } = target;
  const { shape } = s;
  const refuse = (message: string) =>
    new ConnectorError(`${target.label ? `${target.label}: ` : ""}${message}`);
  for (const w of writes) {
    if (!w.next) continue;
    shape.key.forEach((c, i) => {
      const v = w.key[i] ?? null;
      const declared = target.declared.get(c.name) ?? "";
      const beyond = unstorable(c.name, declared, c.type, v);
      if (beyond) throw refuse(`key ${beyond}`);
      const why = affinityRefusal(
        db,
        `key column ${c.name}`,
        target.declared.get(c.name) ?? "",
        c.type,
        v,
        toSqlite(c.type, v),
        target.strict,
      );
      if (why) throw refuse(why);
    });
    shape.columns.forEach((c, i) => {
      const declared = target.declared.get(c.name) ?? "";
      const v = w.next?.[i] ?? null;
      const why =
        unstorable(c.name, declared, c.type, v) ??
        affinityRefusal(
          db,
          `column ${c.name}`,
          declared,
          c.type,
          v,
          nativeValue(target, c, v),
          target.strict,
        );
      if (why) throw refuse(why);
    });
  }
  // Statements by which key parts are NULL (`IS NULL` for those), prepared when first needed: a key-only
  // table has no UPDATE to prepare (SET with nothing is a syntax error).
  const read = (key: Key) =>
    s.statement(
      `wread${nullMask(key)}`,
      () => `SELECT ${s.readList} FROM ${table} WHERE ${s.keyEquals(key)}`,
    );
  const insert = () =>
    s.statement(
      "winsert",
      () =>
        `INSERT INTO ${table} (${s.allList}) VALUES (${[...shape.key, ...shape.columns].map(() => "?").join(", ")})`,
    );
  const update = (key: Key) =>
    s.statement(
      `wupdate${nullMask(key)}`,
      () =>
        `UPDATE ${table} SET ${shape.columns.map((c) => `${quoteIdent(c.name)} = ?`).join(", ")} WHERE ${s.keyEquals(key)}`,
    );
  const del = (key: Key) =>
    s.statement(`wdelete${nullMask(key)}`, () => `DELETE FROM ${table} WHERE ${s.keyEquals(key)}`);
  const run = db.transaction((batch: readonly ConditionalWrite[]): WriteOutcome[] =>
    batch.map((w) => {
      const keyParams = s.bindKeyValues(w.key);
      const [rows, current] = s.exactly(() => {
        const rows = read(w.key)
          .raw(true)
          .safeIntegers(true)
          .all(...keyParams) as unknown[][];
        return [rows, rows[0] ? s.codec.record(rows[0]).fingerprint : null] as const;
      });
      // Only a key with NULL parts can name several rows (a unique index lets those repeat): never guess one.
      if (rows.length > 1) throw refuse(duplicateNullKeyMessage("", table, w.key));
      const row = rows[0];
      // `next` is canonical already: its fingerprint needs no decoding.
      const next = w.next ? fingerprintRow(w.key, w.next) : null;
      if (current === next) return "noop";
      if (current !== w.expected) return "superseded";
      const values = w.next
        ? shape.columns.map((c, i) => s.exactValue(w.next!, i) ?? nativeValue(target, c, w.next![i] ?? null))
        : [];
      if (!w.next) del(w.key).run(...keyParams);
      else if (row) {
        if (shape.columns.length > 0) update(w.key).run(...values, ...keyParams);
      } else {
        try {
          insert().run(...shape.key.map((c, i) => toSqlite(c.type, w.key[i] ?? null)), ...values);
        } catch (err) {
          const why = collatedDuplicate(target, s, w.key, err);
          throw why ? refuse(why) : err;
        }
      }
      stats.rowsWritten++;
      return "applied";
    }),
  );
  stats.queries++;
  return run.immediate(writes);
}

/** The value a column is written as: timestamps in the style the column already uses. */
function nativeValue(target: SqliteWriteTarget, c: ColumnSpec, v: CanonicalValue): unknown {
  return c.type === "timestamp" && v !== null
    ? formatTimestamp(v, target.styleOf(c.name))
    : toSqlite(c.type, v);
}

/**
 * When inserting `key` failed on a unique constraint because a key column compares in another collation
 * (NOCASE, RTRIM) under which the key equals one the table holds: an error naming both keys and the collation.
 */
function collatedDuplicate(
  target: SqliteWriteTarget,
  s: SqliteShapeSql,
  key: Key,
  err: unknown,
): string | undefined {
  const code = errorCode(err);
  if (keyHasNull(key) || s.collated.size === 0 || !/^SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)$/.test(code))
    return undefined;
  const names = s.shape.key.map((c) => quoteIdent(c.name));
  const held = target.db
    .prepare(
      `SELECT ${names.join(", ")} FROM ${target.table} WHERE ${names.map((n) => `${n} = ?`).join(" AND ")}`,
    )
    .raw(true)
    .safeIntegers(true)
    .get(...s.bindKey(key)) as unknown[] | undefined;
  if (!held) return undefined;
  const collations = [...s.collated].map(([column, collation]) => `${column} ${collation}`).join(", ");
  return (
    `key ${JSON.stringify(key)} cannot be inserted: the table holds ${JSON.stringify(s.codec.key(held))}, ` +
    `which equals it under the key's collation (${collations}); the replicas' keys differ only in what it ignores`
  );
}
