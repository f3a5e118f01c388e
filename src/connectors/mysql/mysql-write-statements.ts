/** The statements that write a batch's final rows on MariaDB/MySQL, each under max_allowed_packet. Builds text only: no I/O. */
import type { Key } from "../../core/model.js";
import { stringLiteral } from "./mysql-canonical-sql.js";
import { BINARY_TYPES, TEXT_TYPES } from "./mysql-column-types.js";
import { UnstorableValueError } from "./mysql-errors.js";
import type { MysqlShapeSql } from "./mysql-shape-sql.js";

type Values = readonly (string | null)[];

/** The final state of a batch's changed keys, as the conditional write decided it. */
export interface RowChanges {
  readonly deletes: readonly Key[];
  readonly updates: readonly { key: Key; values: Values }[];
  readonly inserts: readonly { key: Key; values: Values }[];
}

/** Bytes a statement may take: the packet less room for the protocol's own header. */
export function statementBudget(maxPacket: number): number {
  return maxPacket - 1024;
}

const bytes = (sql: string) => Buffer.byteLength(sql, "utf8");

/** A size the message can show: "20.0 MB". */
function mb(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** A row with its literals, each built once (escaping a long value is the costly part), and their sizes. */
interface Literals {
  readonly key: Key;
  readonly values: Values;
  readonly lits: readonly string[];
  readonly sizes: readonly number[];
  /** The row's key condition (`keysCondition` of its key) and its size. */
  readonly test: string;
  readonly testSize: number;
}

function literals(s: MysqlShapeSql, row: { key: Key; values: Values }): Literals {
  const lits = s.rowLiterals([...row.key, ...row.values], row.values);
  const test = s.keysCondition([row.key]);
  return { ...row, lits, sizes: lits.map(bytes), test, testSize: bytes(test) };
}

/**
 * Consecutive runs of at most `most` items whose statement, `fixed` bytes plus each item's `size`, stays
 * within `budget` (an item too long alone is a run of its own: the caller writes it in parts).
 */
function runs<T>(
  items: readonly T[],
  most: number,
  budget: number,
  fixed: number,
  size: (item: T) => number,
) {
  const out: T[][] = [];
  let run: T[] = [];
  let total = fixed;
  for (const item of items) {
    const n = size(item);
    if (run.length > 0 && (run.length >= most || total + n > budget)) {
      out.push(run);
      run = [];
      total = fixed;
    }
    run.push(item);
    total += n;
  }
  if (run.length > 0) out.push(run);
  return out;
}

/**
 * The statements that bring the locked rows to `rows`, in order: deletes, updates, inserts, each statement
 * at most `keysPerStatement` rows and `budget` bytes. A row whose statement alone is longer is written in
 * parts: its long text and binary values start empty and are appended in pieces (`CONCAT`) that fit, inside
 * the same transaction. A value longer than the budget itself (the server cannot build it), or one of
 * another type too long for one statement, is refused with an UnstorableValueError naming the key and column.
 */
export function writeStatements(
  s: MysqlShapeSql,
  rows: RowChanges,
  keysPerStatement: number,
  budget: number,
): string[] {
  const out: string[] = [];
  const names = s.columnNames();
  const deletes = rows.deletes.map((key) => ({ key, size: bytes(s.keysCondition([key])) + 4 }));
  for (const run of runs(deletes, keysPerStatement, budget, bytes(deleteSql(s, [])), (d) => d.size))
    out.push(
      deleteSql(
        s,
        run.map((d) => d.key),
      ),
    );
  // Generated columns are never named: the server computes them (the caller checks what it computed).
  const width = names.filter((_, i) => i >= s.keyWidth && s.writable(i)).length;
  if (width > 0) {
    // Each row costs its key test in every column's CASE and in the WHERE, and its literals.
    const updateSize = (r: Literals) =>
      r.sizes.slice(s.keyWidth).reduce((n, size) => n + size + r.testSize + 12, 0) + r.testSize + 4;
    const updates = rows.updates.map((r) => literals(s, r));
    const fixed = bytes(`UPDATE ${s.table} SET  WHERE `) + names.reduce((n, name) => n + bytes(name) + 16, 0);
    for (const run of runs(updates, keysPerStatement, budget, fixed, updateSize)) {
      if (run.length === 1 && fixed + updateSize(run[0]!) > budget)
        out.push(...inParts(s, run[0]!, "update", budget));
      else out.push(updateSql(s, run));
    }
  }
  const insertSize = (r: Literals) => r.sizes.reduce((n, size) => n + size + 2, 0) + 2;
  const inserts = rows.inserts.map((r) => literals(s, r));
  const fixed = bytes(insertSql(s, []));
  for (const run of runs(inserts, keysPerStatement, budget, fixed, insertSize)) {
    if (run.length === 1 && fixed + insertSize(run[0]!) > budget)
      out.push(...inParts(s, run[0]!, "insert", budget));
    else out.push(insertSql(s, run));
  }
  return out;
}

function deleteSql(s: MysqlShapeSql, keys: readonly Key[]): string {
  return `DELETE t FROM ${s.table} WHERE ${keys.length > 0 ? s.keysCondition(keys) : ""}`;
}

/** One UPDATE for the rows: each column a CASE over their keys (exact, binary-safe key tests). */
function updateSql(s: MysqlShapeSql, part: readonly Literals[]): string {
  const sets = s.columnNames().flatMap((name, i) => {
    if (i < s.keyWidth || !s.writable(i)) return [];
    const arms = part.map((r) => `WHEN ${r.test} THEN ${r.lits[i]}`).join(" ");
    return [`t.${name} = CASE ${arms} END`];
  });
  return `UPDATE ${s.table} SET ${sets.join(", ")} WHERE ${s.keysCondition(part.map((r) => r.key))}`;
}

function insertSql(s: MysqlShapeSql, part: readonly Literals[]): string {
  const values = part.map((r) => `(${r.lits.filter((_, i) => s.writable(i)).join(", ")})`);
  const names = s.columnNames().filter((_, i) => s.writable(i));
  return `INSERT INTO ${s.tableName} (${names.join(", ")}) VALUES ${values.join(", ")}`;
}

/**
 * One row too long for one statement: the row with its longest text and binary values empty, then those
 * values appended piece by piece.
 */
function inParts(s: MysqlShapeSql, row: Literals, kind: "insert" | "update", budget: number): string[] {
  const names = s.columnNames();
  const refuse = (why: string) => new UnstorableValueError(`key ${JSON.stringify(row.key)}: ${why}`);
  const packet = mb(budget + 1024);
  const deferred = new Set<number>();
  const base = () => {
    const lits = row.lits.map((lit, i) => (deferred.has(i) ? emptyLiteral(s, i) : lit));
    const named = names.flatMap((name, i) => (s.writable(i) ? [{ name, lit: lits[i]!, i }] : []));
    return kind === "insert"
      ? `INSERT INTO ${s.tableName} (${named.map((c) => c.name).join(", ")}) VALUES (${named.map((c) => c.lit).join(", ")})`
      : `UPDATE ${s.table} SET ${named
          .filter((c) => c.i >= s.keyWidth)
          .map((c) => `t.${c.name} = ${c.lit}`)
          .join(", ")} WHERE ${row.test}`;
  };
  // Longest values first, until the rest fits in one statement (sizes summed, not statements built).
  let total = row.sizes.reduce((n, size) => n + size, 0) + row.testSize + names.length * 24 + 256;
  const order = row.sizes
    .map((size, i) => ({ i, size }))
    .filter(({ i }) => i >= s.keyWidth && s.writable(i))
    .sort((a, b) => b.size - a.size);
  for (const { i, size } of order) {
    if (total <= budget) break;
    const col = s.nativeColumn(i);
    const value = row.values[i - s.keyWidth]!;
    if (!appendable(s, i))
      throw refuse(
        `column ${col.name} (${col.columnType}) makes the row's statement longer than max_allowed_packet (${packet}) allows, and cannot be written in parts; raise max_allowed_packet`,
      );
    const held = BINARY_TYPES.has(col.dataType) ? value.length / 2 : bytes(value);
    if (held > budget)
      throw refuse(
        `column ${col.name} (${col.columnType}) holds ${mb(held)}, more than max_allowed_packet (${packet}) lets the server build; raise max_allowed_packet`,
      );
    deferred.add(i);
    total -= size;
  }
  const first = base();
  if (bytes(first) > budget)
    throw refuse(`the row's key and short values pass max_allowed_packet (${packet}); raise it`);
  const out = [first];
  for (const i of deferred) {
    const name = names[i]!;
    const head = `UPDATE ${s.table} SET t.${name} = CONCAT(t.${name}, `;
    const tail = `) WHERE ${row.test}`;
    const room = budget - bytes(head) - bytes(tail);
    const value = row.values[i - s.keyWidth]!;
    for (const piece of BINARY_TYPES.has(s.nativeColumn(i).dataType)
      ? hexPieces(value, room)
      : textPieces(value, room))
      out.push(`${head}${piece}${tail}`);
  }
  return out;
}

/** Text and binary string columns can be built up with CONCAT; JSON (a CHECK on each value), ENUM, SET and others cannot. */
function appendable(s: MysqlShapeSql, i: number): boolean {
  const col = s.nativeColumn(i);
  if (col.json || col.dataType === "enum" || col.dataType === "set") return false;
  return TEXT_TYPES.has(col.dataType) || BINARY_TYPES.has(col.dataType);
}

function emptyLiteral(s: MysqlShapeSql, i: number): string {
  return BINARY_TYPES.has(s.nativeColumn(i).dataType) ? "X''" : "''";
}

/** X'…' literals of at most `room` bytes each, cut at whole bytes. */
function hexPieces(hex: string, room: number): string[] {
  const step = Math.max(2, (room - 3) & ~1);
  const out: string[] = [];
  for (let i = 0; i < hex.length; i += step) out.push(`X'${hex.slice(i, i + step)}'`);
  return out;
}

/** Characters a string literal writes with a backslash (as mysql2's escape does). */
const ESCAPED: ReadonlySet<number> = new Set([0, 8, 9, 10, 13, 26, 34, 39, 92]);

/** Bytes one code point takes inside a string literal. */
function literalBytes(ch: string): number {
  const code = ch.charCodeAt(0);
  if (ESCAPED.has(code)) return 2;
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  return ch.length === 2 ? 4 : 3;
}

/** String literals of at most `room` bytes each (escapes counted), cut between code points. */
function textPieces(text: string, room: number): string[] {
  const out: string[] = [];
  let start = 0;
  let size = 2;
  let i = 0;
  for (const ch of text) {
    const cost = literalBytes(ch);
    if (size + cost > room && i > start) {
      out.push(stringLiteral(text.slice(start, i)));
      start = i;
      size = 2;
    }
    size += cost;
    i += ch.length;
  }
  if (i > start || out.length === 0) out.push(stringLiteral(text.slice(start)));
  return out;
}
