/** The SQLite connection every SQLite state port shares: cached statements and transactions. Only state/sqlite imports the driver. */
import type Database from "better-sqlite3";

/**
 * One better-sqlite3 connection with its prepared statements, compiled once per SQL text. Synchronous
 * underneath: each port method runs its statements back to back, so a call is atomic within the process;
 * across processes, transactions that read before they write are IMMEDIATE (they take the write lock first).
 */
export class SqliteStateDb {
  private readonly statements = new Map<string, Database.Statement>();
  /** insertStatement's statements: by verb and table, then suffix, then rows. Columns are fixed per table. */
  private readonly inserts = new Map<string, Map<string, Database.Statement[]>>();

  constructor(readonly db: Database.Database) {}

  /** A prepared statement, compiled once per SQL text (statements are reused across calls). */
  prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * The statement that inserts `n` rows of `columns` into `table` (insertSql), prepared once per shape and found
   * without building its text: a 64-row statement's text is about 2 KB, and building and hashing it for every
   * statement cost more than finding it (docs/benchmarks.md, "One lookup per claim and settlement").
   */
  insertStatement(
    verb: string,
    table: string,
    columns: readonly string[],
    n: number,
    suffix: string,
  ): Database.Statement {
    const head = `${verb} ${table}`;
    let bySuffix = this.inserts.get(head);
    if (!bySuffix) {
      bySuffix = new Map();
      this.inserts.set(head, bySuffix);
    }
    let byRows = bySuffix.get(suffix);
    if (!byRows) {
      byRows = [];
      bySuffix.set(suffix, byRows);
    }
    let st = byRows[n];
    if (!st) {
      st = this.prepare(insertSql(verb, table, columns, n, suffix));
      byRows[n] = st;
    }
    return st;
  }

  /** Runs `work` in one transaction that takes the write lock on its first write (only writes, or reads that need no lock). */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  /**
   * Runs `work` in one IMMEDIATE transaction: the write lock is taken before anything is read, so no other
   * connection or process writes between this transaction's reads and its writes.
   */
  immediate<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }
}

/** A WHERE clause of the conditions whose parameter is given (`column op ?`, `=` by default), joined by AND. */
export function conditions(
  parts: readonly [column: string, param: string | number | undefined, op?: string][],
): {
  sql: string;
  params: (string | number)[];
} {
  const given = parts.filter((p): p is [string, string | number, string?] => p[1] !== undefined);
  return {
    sql: given.length ? ` WHERE ${given.map((p) => `${p[0]} ${p[2] ?? "="} ?`).join(" AND ")}` : "",
    params: given.map((p) => p[1]),
  };
}

/** Rows per multi-row INSERT: one statement per 64 rows instead of one per row. */
export const ROWS_PER_INSERT = 64;

/**
 * Inserts rows into `table`, `values` holding each row's values in `columns` order, back to back: 64 rows
 * per statement (prepared once per shape), the rest in one shorter statement. `suffix` follows each VALUES
 * list (an ON CONFLICT clause); `verb` may name a conflict resolution (`INSERT OR REPLACE`), which SQLite
 * applies row by row in the order given. Runs inside the caller's transaction.
 */
export function insertRows(
  s: SqliteStateDb,
  table: string,
  columns: readonly string[],
  values: readonly unknown[],
  suffix = "",
  verb = "INSERT",
): void {
  const width = columns.length;
  const rows = values.length / width;
  // One statement's rows: bound as given, not copied.
  if (rows > 0 && rows <= ROWS_PER_INSERT) {
    s.prepare(insertSql(verb, table, columns, rows, suffix)).run(values);
    return;
  }
  let row = 0;
  for (; row + ROWS_PER_INSERT <= rows; row += ROWS_PER_INSERT)
    s.insertStatement(verb, table, columns, ROWS_PER_INSERT, suffix).run(
      values.slice(row * width, (row + ROWS_PER_INSERT) * width),
    );
  if (row < rows) s.insertStatement(verb, table, columns, rows - row, suffix).run(values.slice(row * width));
}

/**
 * `verb INTO table (columns) VALUES (?, …), … suffix` for `n` rows. Built with loops, not callbacks made per
 * call: V8 recompiles such a callback after every full GC (docs/benchmarks.md, "Callbacks recompiled per batch").
 */
function insertSql(
  verb: string,
  table: string,
  columns: readonly string[],
  n: number,
  suffix: string,
): string {
  let row = "(?";
  for (let c = 1; c < columns.length; c++) row += ", ?";
  row += ")";
  let list = row;
  for (let r = 1; r < n; r++) list += `, ${row}`;
  return `${verb} INTO ${table} (${columns.join(", ")}) VALUES ${list}${suffix}`;
}
