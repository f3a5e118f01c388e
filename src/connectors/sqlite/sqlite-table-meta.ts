/** Reads a SQLite table's (or view's) columns, unique keys, indexes and key collations through PRAGMAs. Reads only. */
import type Database from "better-sqlite3";
import type { UniqueIndex } from "../unique-key.js";

type Db = Database.Database;

/** A column as `PRAGMA table_info` declares it. */
export interface SqliteColumn {
  readonly name: string;
  /** The declared type, free text ("" for none). */
  readonly type: string;
  readonly notNull: boolean;
  /** Position in the primary key (1-based), 0 when not in it. */
  readonly pk: number;
}

/** What the schema says of one table or view. */
export interface SqliteTableMeta {
  readonly columns: readonly SqliteColumn[];
  /**
   * Its unique keys (an INTEGER PRIMARY KEY, which is the rowid, and unique indexes without a WHERE clause
   * or expression), or null for a view, whose rows alone can tell whether a key is unique.
   */
  readonly unique: readonly UniqueIndex[] | null;
  /** A STRICT table: its ANY columns keep every value as given (no affinity converts a text into a number). */
  readonly strict: boolean;
}

/** `PRAGMA <schema>.<name>(<arg>)` for a quoted table (`"t"` or `"s"."t"`), or for `arg` of its schema. */
export function sqlitePragma(table: string, name: string, arg?: string): string {
  const [schema, bare] = table.includes(".") ? table.split(".") : ['"main"', table];
  return `PRAGMA ${schema}.${name}(${arg ?? bare})`;
}

/** Quotes an SQL identifier, allowing `schema.table`. */
export function quoteIdent(name: string): string {
  return name
    .split(".")
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join(".");
}

interface IndexColumn {
  readonly name: string | null;
  readonly key: number;
  readonly coll: string | null;
}

function indexColumns(db: Db, table: string, index: string): IndexColumn[] {
  return (db.prepare(sqlitePragma(table, "index_xinfo", quoteIdent(index))).all() as IndexColumn[]).filter(
    (c) => c.key === 1,
  );
}

/** Reads the table (quoted); no columns when it does not exist. */
export function readSqliteTableMeta(db: Db, table: string): SqliteTableMeta {
  const rows = db.prepare(sqlitePragma(table, "table_info")).all() as {
    name: string;
    type: string;
    notnull: number;
    pk: number;
  }[];
  const columns = rows.map((r) => ({ name: r.name, type: r.type, notNull: r.notnull === 1, pk: r.pk }));
  const listed = db.prepare(sqlitePragma(table, "table_list")).all() as { type: string; strict?: number }[];
  if (listed[0]?.type === "view") return { columns, unique: null, strict: false };
  const unique: UniqueIndex[] = [];
  const pk = columns.filter((c) => c.pk > 0);
  // INTEGER PRIMARY KEY is the rowid itself: unique and never NULL, and listed among no indexes.
  if (pk.length === 1 && /^integer$/i.test(pk[0]!.type))
    unique.push({ name: "rowid", columns: [pk[0]!.name], nullsDistinct: false });
  const indexes = db.prepare(sqlitePragma(table, "index_list")).all() as {
    name: string;
    unique: number;
    partial: number;
  }[];
  for (const ix of indexes) {
    if (ix.unique !== 1 || ix.partial === 1) continue;
    const cols = indexColumns(db, table, ix.name);
    if (cols.some((c) => c.name === null)) continue;
    unique.push({ name: ix.name, columns: cols.map((c) => c.name!), nullsDistinct: true });
  }
  return { columns, unique, strict: listed[0]?.strict === 1 };
}

/**
 * True when the key is the rowid or the leading columns, in collation BINARY, of an index of the table: an
 * index that serves the binary key order (another collation would not give the first and last key).
 */
export function sqliteKeyIndexed(
  db: Db,
  table: string,
  meta: SqliteTableMeta,
  keys: readonly string[],
): boolean {
  if (keys.length === 1 && meta.unique?.some((u) => u.name === "rowid" && u.columns[0] === keys[0]))
    return true;
  const indexes = db.prepare(sqlitePragma(table, "index_list")).all() as { name: string }[];
  return indexes.some((ix) => {
    const cols = indexColumns(db, table, ix.name);
    return keys.every(
      (k, i) => cols[i]?.name === k && (cols[i]?.coll ?? "BINARY").toUpperCase() === "BINARY",
    );
  });
}

/**
 * The built-in collation a column compares text in, found by what it does rather than by parsing the
 * schema (so views and tables alike): a UNION led by the column keeps 'a' and 'A' apart unless the
 * collation is NOCASE, 'a' and 'a ' apart unless it is RTRIM. "BINARY" otherwise.
 */
export function sqliteCollation(db: Db, table: string, column: string): "BINARY" | "NOCASE" | "RTRIM" {
  const distinct = (x: string, y: string) =>
    Number(
      db
        .prepare(
          `SELECT count(*) FROM (SELECT ${quoteIdent(column)} FROM ${table} WHERE 0 UNION SELECT ? UNION SELECT ?)`,
        )
        .pluck()
        .get(x, y),
    );
  if (distinct("a", "A") === 1) return "NOCASE";
  if (distinct("a", "a ") === 1) return "RTRIM";
  return "BINARY";
}
