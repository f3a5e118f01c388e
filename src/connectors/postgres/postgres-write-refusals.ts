/** Why a PostgreSQL table refuses a repair, in one line naming the column and its type: checked before writing, or found after the store refused. Reads only. */

import type { ColumnType } from "../../core/canonical.js";
import { describeRaw } from "../../core/canonical-errors.js";
import { type Key, keyId } from "../../core/model.js";
import type { ConditionalWrite } from "../connector.js";
import { errorCode, errorMessage } from "../connector-errors.js";
import { nativeSql } from "./postgres-canonical-sql.js";
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
  let probes = 0;
  for (const w of writes) {
    if (!w.next) continue;
    const values = [...w.key, ...w.next];
    for (let i = 0; i < all.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      if (++probes > PROBES) return undefined;
      const column = s.native[i]!;
      const type = all[i]!.type;
      try {
        await run(`SELECT (${nativeSql("$1::text", column)})::text`, [postgresWriteValue(column, type, v)]);
      } catch (err) {
        if (!isDataException(err)) throw err;
        return cannotStore(column, type, v, errorMessage(err).split("\n")[0]!);
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
