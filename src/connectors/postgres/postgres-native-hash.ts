/** PostgreSQL's native row hash (`hash_record_extended`): which shapes may use it, its SQL and its signature. Builds text only: no I/O. */
import type { RecordShape } from "../../core/model.js";
import { type PgColumn, postgresLogicalType, TEXT_BASE_TYPES } from "./postgres-column-types.js";

/**
 * Base types whose extended hash function separates exactly the values whose canonical texts differ: not
 * interval ('1 day' and '24:00:00' hash equal), citext, bpchar, float or json. jsonb is hashed by its text
 * (`postgresNativeHashSql`): jsonb's own hash ignores structure (`[1,[2]]` and `[[1],2]` hash equal).
 */
export const NATIVE_HASHABLE: ReadonlySet<string> = new Set([
  "int2",
  "int4",
  "int8",
  "numeric",
  "bool",
  "text",
  "varchar",
  "timestamptz",
  "timestamp",
  "date",
  "time",
  "bytea",
  "uuid",
  "jsonb",
]);

/**
 * True when an equal native row hash means equal canonical texts, and (but for jsonb numbers kept at another
 * scale, see `postgresNativeHashSql`) conversely: every column (key first, in
 * shape order, `native` alongside) has a base type in NATIVE_HASHABLE and is read as its own logical type
 * (so no conversion such as numeric read as text, where 1.5 and 1.50 hash equal but differ as text). The
 * caller also requires the shape to be pushed down.
 */
export function postgresNativeHashable(shape: RecordShape, native: readonly PgColumn[]): boolean {
  return [...shape.key, ...shape.columns].every((c, i) => {
    const base = native[i]!.baseType;
    return NATIVE_HASHABLE.has(base) && postgresLogicalType(base) === c.type;
  });
}

/**
 * A store-native 64-bit row hash over the key and compared columns (`refs` and `native` in shape order,
 * key first): `hash_record_extended` of the row, text under COLLATE "C" (bytes, whatever the column's
 * collation). jsonb by its text (`::text`, which the engine canonicalises: equal text is equal canonical
 * JSON); numbers jsonb keeps at another scale (`1.0`, `1`) hash apart although their canonical texts are
 * equal, so such rows are listed, fetched and found equal: more work, never a missed difference.
 */
export function postgresNativeHashSql(refs: readonly string[], native: readonly PgColumn[]): string {
  const cols = refs.map((r, i) => {
    const base = native[i]!.baseType;
    if (base === "jsonb") return `(${r})::text COLLATE "C"`;
    return TEXT_BASE_TYPES.has(base) ? `${r} COLLATE "C"` : r;
  });
  return `hash_record_extended(ROW(${cols.join(", ")}), 0)`;
}

/**
 * The signature of a native hash: the server facts it depends on besides the columns ("<major version>/<server
 * encoding>": hash functions are stable across versions, but the signature does not rely on it; equal bytes
 * must mean equal text), then each column's name, native and base type.
 */
export function postgresNativeSignature(serverFacts: string, native: readonly PgColumn[]): string {
  const columns = native.map((c) => [c.name, c.nativeType, c.baseType]);
  return JSON.stringify(["postgres", "hash_record_extended/C/1", serverFacts, columns]);
}

/** The query whose one row is [major version, server encoding], for `postgresNativeSignature`. */
export const SERVER_FACTS_SQL =
  "SELECT current_setting('server_version_num')::int / 10000, current_setting('server_encoding')";
