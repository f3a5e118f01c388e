/** Why a PostgreSQL table refuses a repair, in one line naming the column and its type: checked before writing, or found after the store refused. Reads only. */

import type { ColumnType } from "../../core/canonical.js";
import { describeRaw } from "../../core/canonical-errors.js";
import { type Key, keyId } from "../../core/model.js";
import type { ConditionalWrite } from "../connector.js";
import { errorCode, errorMessage } from "../connector-errors.js";
import { canonicalFloatArray, numberArrayElement } from "./postgres-array-text.js";
import { nativeSql, postgresCanonicalSql, rawSql } from "./postgres-canonical-sql.js";
import type { PgColumn } from "./postgres-column-types.js";
import type { RunQuery } from "./postgres-session.js";
import { Params, type PostgresShapeSql, T } from "./postgres-shape-sql.js";
import { postgresRefusal, postgresWriteValue } from "./postgres-write-values.js";

/** A write the table cannot take as it is: the store would reject it, or keep something else. */
export class WriteRefusal extends Error {
  override readonly name = "WriteRefusal";
}

/** A canonical value as a message shows it: text and JSON quoted, everything at most 60 characters. */
function shown(type: ColumnType, v: string): string {
  if (type === "text" || type === "json") return describeRaw(v);
  return v.length > 60 ? `${v.slice(0, 57)}...` : v;
}

/** `column c (type) cannot store v: why`. */
function cannotStore(column: PgColumn, type: ColumnType, v: string, why: string): string {
  return `column ${column.name} (${column.nativeType}) cannot store ${shown(type, v)}: ${why}`;
}

/**
 * The first value among `writes` that its column cannot hold exactly (see `postgresRefusal`), as a one-line
 * reason; undefined when every value fits. Costs no query: checked before the batch is sent.
 */
export function refusedWrite(s: PostgresShapeSql, writes: readonly ConditionalWrite[]): string | undefined {
  const all = [...s.shape.key, ...s.shape.columns];
  for (const w of writes) {
    if (!w.next) continue;
    const values = [...w.key, ...w.next];
    for (let i = 0; i < all.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      const why = postgresRefusal(s.native[i]!, all[i]!.type, v);
      if (why) return cannotStore(s.native[i]!, all[i]!.type, v, why);
    }
  }
  return undefined;
}

/** SQLSTATE class 22: data exceptions (a value the type's input function or a cast rejects). */
export function isDataException(err: unknown): boolean {
  return errorCode(err).startsWith("22");
}

/** Text types whose `::text` is the value written (bpchar's trailing spaces and lengths are refused before). */
const TEXT_AS_WRITTEN: ReadonlySet<string> = new Set(["text", "varchar", "bpchar"]);

/**
 * The columns of `s` whose native type may hold a written value as another one, which only PostgreSQL can
 * tell: every column compared as text but text, varchar and character (an interval: `25 hours` is
 * `25:00:00`; a range: `[1,5]` is `[1,6)`; an array, a tsvector, a timetz, a bit string, a name cut at 63
 * bytes, an enum), and money, which rounds to its locale's (lc_monetary) fraction digits.
 */
function readbackColumns(s: PostgresShapeSql): number[] {
  const all = [...s.shape.key, ...s.shape.columns];
  return all.flatMap((c, i) => {
    const base = s.native[i]!.baseType;
    const changes = c.type === "text" ? !TEXT_AS_WRITTEN.has(base) : base === "money" && c.type === "decimal";
    return changes ? [i] : [];
  });
}

/**
 * The value `v` cast as a write casts it into `column`, as a scan reads it (bit(n) cast to itself: assigning
 * a varbit of another length fails).
 */
function readbackSql(v: string, column: PgColumn, type: ColumnType): string {
  const cast = column.baseType === "bit" ? `CAST(${v} AS ${column.nativeType})` : nativeSql(v, column);
  return postgresCanonicalSql(cast, column, type) ?? rawSql(cast, column, type);
}

/** A read-back text as the engine compares it (a float array's elements in their canonical text). */
function comparedText(column: PgColumn, text: string | null): string | null {
  if (text === null || numberArrayElement(column.baseType) !== "float") return text;
  return canonicalFloatArray(text) as string;
}

/**
 * For columns compared by their text whose type may store a written text as another one (`readbackColumns`):
 * casts every value the batch would write to the column's type, reads it back as a scan would, and names the
 * first whose text changes (`column iv (interval) cannot store "25 hours" at key ["1"]: interval would hold
 * it as "25:00:00"`) or that the type refuses (its one-line message). One statement for the whole batch,
 * before anything is written (so a refused write leaves the table as it was); none for tables without such
 * columns. Undefined when every value reads back as itself.
 */
export async function refusedReadback(
  s: PostgresShapeSql,
  writes: readonly ConditionalWrite[],
  run: RunQuery,
): Promise<string | undefined> {
  const columns = readbackColumns(s);
  if (columns.length === 0) return undefined;
  const checked = writes.filter((w) => w.next !== null && columns.some((i) => valueAt(w, s, i) !== null));
  if (checked.length === 0) return undefined;
  const all = [...s.shape.key, ...s.shape.columns];
  const params = new Params();
  const arrays = columns.map((i) =>
    params.add(
      checked.map((w) => valueAt(w, s, i)),
      "text[]",
    ),
  );
  const names = columns.map((_, j) => `c${j}`);
  const reads = columns.map((i, j) => readbackSql(`u.c${j}`, s.native[i]!, all[i]!.type));
  const statement = (from: string) => `SELECT ${reads.join(", ")} FROM ${from}`;
  let rows: (string | null)[][];
  try {
    rows = await run(
      `${statement(`unnest(${arrays.join(", ")}) WITH ORDINALITY AS u(${names.join(", ")}, n)`)} ORDER BY u.n`,
      params.values,
    );
  } catch (err) {
    if (!isRefusedValue(err)) throw err;
    // Which value? Cast them one by one to name it.
    const one = await firstRefusedValue(s, checked, columns, run, isRefusedValue, (i, v) => [
      `SELECT ${readbackSql("$1::text", s.native[i]!, all[i]!.type)}`,
      [v],
    ]);
    if (!one) throw err;
    return cannotStoreAt(s.native[one.i]!, all[one.i]!.type, one.v, one.w.key, one.why);
  }
  for (const [r, w] of checked.entries()) {
    for (const [j, i] of columns.entries()) {
      const v = valueAt(w, s, i);
      const back = comparedText(s.native[i]!, rows[r]?.[j] ?? null);
      if (v !== null && back !== v) {
        const column = s.native[i]!;
        return cannotStoreAt(
          column,
          all[i]!.type,
          v,
          w.key,
          `${column.nativeType} would hold it as ${back === null ? "NULL" : describeRaw(back)}`,
        );
      }
    }
  }
  return undefined;
}

/** The value a write sends for shape column `i` (key columns first), or null. */
function valueAt(w: ConditionalWrite, s: PostgresShapeSql, i: number): string | null {
  const width = s.shape.key.length;
  return (i < width ? w.key[i] : w.next?.[i - width]) ?? null;
}

/** `column c (type) cannot store v at key [..]: why`. */
function cannotStoreAt(column: PgColumn, type: ColumnType, v: string, key: Key, why: string): string {
  return `column ${column.name} (${column.nativeType}) cannot store ${shown(type, v)} at key ${JSON.stringify(key)}: ${why}`;
}

/** A value the type refuses: a data exception (class 22) or a domain's check (class 23). */
function isRefusedValue(err: unknown): boolean {
  return isDataException(err) || errorCode(err).startsWith("23");
}

/** At most this many values are cast one by one to find the one a failed batch could not take. */
const PROBES = 200;

/**
 * After a batch failed with a data exception: casts the batch's values one by one, outside any transaction,
 * and names the first that its column refuses (`column c (type) cannot store v: <PostgreSQL's message>`);
 * undefined when none fails alone (or the batch is too large to probe).
 */
export async function diagnoseDataException(
  s: PostgresShapeSql,
  writes: readonly ConditionalWrite[],
  run: RunQuery,
): Promise<string | undefined> {
  const all = [...s.shape.key, ...s.shape.columns];
  const one = await firstRefusedValue(
    s,
    writes.filter((w) => w.next !== null),
    all.map((_, i) => i),
    run,
    isDataException,
    (i, v) => [
      `SELECT (${nativeSql("$1::text", s.native[i]!)})::text`,
      [postgresWriteValue(s.native[i]!, all[i]!.type, v)],
    ],
  );
  return one && cannotStore(s.native[one.i]!, all[one.i]!.type, one.v, one.why);
}

/** SQLSTATE 23514: a CHECK constraint refused a row (the table's) or a value (a column's domain's). */
export function isCheckViolation(err: unknown): boolean {
  return errorCode(err) === "23514";
}

/**
 * After a batch failed with a CHECK violation, the one-line reason naming the column (or columns), the value
 * and the key where they can be told, followed by PostgreSQL's message: a domain's check by casting the
 * batch's values one by one to find the refused one; a table's check by reading the columns its constraint
 * covers from the catalog (`pg_constraint.conkey`), the value and key being the write's when the batch has
 * one write (the executor sends a refused batch's writes alone). Undefined when neither can be told.
 */
export async function diagnoseCheckViolation(
  s: PostgresShapeSql,
  writes: readonly ConditionalWrite[],
  err: unknown,
  run: RunQuery,
): Promise<string | undefined> {
  const why = errorMessage(err).split("\n")[0]!;
  const { constraint, dataType } = err as { constraint?: unknown; dataType?: unknown };
  const all = [...s.shape.key, ...s.shape.columns];
  const written = writes.filter((w) => w.next !== null);
  if (typeof dataType === "string" && dataType !== "") {
    const one = await firstRefusedValue(
      s,
      written,
      all.map((_, i) => i),
      run,
      isRefusedValue,
      (i, v) => [
        `SELECT (${nativeSql("$1::text", s.native[i]!)})::text`,
        [postgresWriteValue(s.native[i]!, all[i]!.type, v)],
      ],
    );
    return one && cannotStoreAt(s.native[one.i]!, all[one.i]!.type, one.v, one.w.key, one.why);
  }
  if (typeof constraint !== "string" || constraint === "") return undefined;
  const rows = await run(
    `SELECT a.attname FROM pg_constraint c
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
     WHERE c.conrelid = $1::regclass AND c.conname = $2 AND c.contype = 'c' ORDER BY a.attnum`,
    [s.table, constraint],
  );
  const names = rows.map((r) => String(r[0]));
  const w = written.length === 1 ? written[0]! : undefined;
  const at = w ? ` at key ${JSON.stringify(w.key)}` : "";
  const i = names.length === 1 ? all.findIndex((_, j) => s.native[j]!.name === names[0]) : -1;
  const v = w && i >= 0 ? valueAt(w, s, i) : null;
  if (w && i >= 0 && v !== null) return cannotStoreAt(s.native[i]!, all[i]!.type, v, w.key, why);
  if (names.length === 0) return `check constraint "${constraint}" refused the row${at}: ${why}`;
  const columns = `column${names.length === 1 ? "" : "s"} ${names.join(", ")}`;
  return `check constraint "${constraint}" on ${columns} refused the row${at}: ${why}`;
}

/**
 * The first value of `writes` in shape columns `columns` (key columns first) whose cast `probe` (a statement
 * and its parameters) fails with an error `refused` says is the value's, with the error's first line; values
 * are cast one by one, at most PROBES of them, and undefined comes back when none failed within them.
 */
async function firstRefusedValue(
  s: PostgresShapeSql,
  writes: readonly ConditionalWrite[],
  columns: readonly number[],
  run: RunQuery,
  refused: (err: unknown) => boolean,
  probe: (i: number, v: string) => [string, unknown[]],
): Promise<{ w: ConditionalWrite; i: number; v: string; why: string } | undefined> {
  let probes = 0;
  for (const w of writes) {
    for (const i of columns) {
      const v = valueAt(w, s, i);
      if (v === null) continue;
      if (++probes > PROBES) return undefined;
      try {
        await run(...probe(i, v));
      } catch (err) {
        if (!refused(err)) throw err;
        return { w, i, v, why: errorMessage(err).split("\n")[0]! };
      }
    }
  }
  return undefined;
}

/**
 * Explains inserts that `INSERT … ON CONFLICT DO NOTHING` skipped although the key was absent when the batch
 * locked its rows. A key that exists now was inserted by someone else meanwhile: its writes are `superseded`
 * (returned). A key that still does not exist conflicted with something else, and the batch is refused
 * (WriteRefusal): with a row whose key equals it under a nondeterministic collation (the table cannot hold
 * both keys Concord compares as different), or with another unique index.
 */
export async function explainSkippedInserts(
  s: PostgresShapeSql,
  keys: readonly Key[],
  run: RunQuery,
): Promise<Set<string>> {
  const params = new Params();
  const rows = await run(
    `SELECT ${s.keyOut} FROM ${s.table} AS ${T} WHERE ${s.keyIn(keys, params)}`,
    params.values,
  );
  const present = new Set(rows.map((r) => keyId(s.codec.key(r))));
  const absent = keys.filter((k) => !present.has(keyId(k)));
  if (absent.length === 0) return present;
  const key = absent[0]!;
  const loose = s.keys.findIndex((k) => k.exact !== undefined);
  if (loose >= 0) {
    const part = s.keys[loose]!;
    const column = s.native[loose]!;
    const found = new Params();
    const same = await run(
      `SELECT ${part.out} FROM ${s.table} AS ${T} WHERE ${part.eq} = ${found.add(key[loose], part.param)} LIMIT 1`,
      found.values,
    );
    const held = same[0]?.[0];
    if (held !== undefined && held !== null)
      throw new WriteRefusal(
        `key ${describeRaw(key[loose])} cannot be inserted: column ${column.name} (${column.nativeType}) has the nondeterministic collation "${column.collation}", under which it equals the key ${describeRaw(held)} already there; the table cannot hold both keys, which Concord compares byte by byte`,
      );
  }
  throw new WriteRefusal(
    `key ${JSON.stringify(key)} cannot be inserted: the row conflicts with a unique index other than the key's`,
  );
}
